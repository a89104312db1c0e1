"""Score the compared models' answers and decide the gate: everything `eval_report` computes.

The asset gathers the answers (the trainer generates for the candidate, base and champion; the
teacher answers when one is reachable) and hands them here; what comes back is the report written
to the artifact store, the tables and the metrics for MLflow (what the UI shows: `report_metadata.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from review_slm.core.metrics import GROUP_METRICS, EvalMetrics, markdown_table, metrics_by_group, metrics_by_set
from review_slm.evaluate.promotion_gate import GateDecision, promotion_decision


@dataclass
class Evaluation:
    items: list[dict]
    by_set: dict[str, dict[str, EvalMetrics]]  # model -> evaluation set ("all", "test", bug suite...) -> metrics
    reference: str  # the gate's reference: "champion" when there is one, else "base"
    decision: GateDecision
    by_group: dict[str, dict[str, EvalMetrics]]  # model -> `lang_<language>` / `cat_<category>` -> metrics

    @property
    def results(self) -> dict[str, dict]:
        """Each model's metrics over all items."""
        return {name: sets["all"].as_dict() for name, sets in self.by_set.items()}

    def table(self) -> str:
        return markdown_table(self.results)

    def table_by_set(self) -> str:
        return markdown_table(
            {f"{name} {s}": m.as_dict() for name, sets in self.by_set.items() for s, m in sets.items() if s != "all"}
        )

    def mlflow_metrics(self) -> dict[str, float]:
        """`<model>/<metric>` over all items, `<model>/<set>/<metric>` per evaluation set and
        `<model>/lang_<language>/<metric>`, `<model>/cat_<category>/<metric>` per group (its `GROUP_METRICS`):
        the figures the UI's metadata leaves to the tables (`evaluate/report_metadata.py`)."""
        out: dict[str, float] = {}
        for name, sets in self.by_set.items():
            out.update({f"{name}/{k}": v for k, v in sets["all"].as_dict().items()})
            out.update({f"{name}/{s}/{k}": v for s, m in sets.items() if s != "all" for k, v in m.as_dict().items()})
        for name, groups in self.by_group.items():
            out.update(
                {f"{name}/{g}/{k}": getattr(m, k) for g, m in groups.items() for k in GROUP_METRICS[g.split("_", 1)[0]]}
            )
            out.update({f"{name}/{g}/items": m.items for g, m in groups.items()})
        return out

    def report(
        self,
        iteration: str,
        models: dict[str, str],
        tolerance: float,
        champion_iteration: str | None,
        run_id: str,
        answers_by_model: dict[str, dict[str, str]],
        samples: int = 10,
    ) -> dict:
        """The JSON report for people and MLflow (the check and deployment read the asset's manifest)."""
        d = self.decision
        return {
            "iteration": iteration,
            "models": models,
            "metrics": self.results,
            "metrics_by_set": {name: {s: m.as_dict() for s, m in sets.items()} for name, sets in self.by_set.items()},
            "metrics_by_group": {
                name: {g: m.as_dict() for g, m in groups.items()} for name, groups in self.by_group.items()
            },
            "gate": {**asdict(d), "tolerance": tolerance},
            "champion_iteration": champion_iteration,
            "mlflow_run_id": run_id,
            "samples": [
                {
                    "id": i["id"],
                    "gold": i["review"],
                    **{m: a[i["id"]] for m, a in answers_by_model.items() if i["id"] in a},
                }
                for i in self.items[:samples]
            ],
        }


def evaluate(
    items: list[dict], answers_by_model: dict[str, dict[str, str]], tolerance: float, partial: tuple[str, ...] = ()
) -> Evaluation:
    """Score every model's answers per evaluation set; gate the candidate against the champion (or the base).

    Models in `partial` (the teacher, whose requests can fail) are scored on the items they answered; the
    others on every item, a missing answer counting as a wrong one."""

    def scored(name: str, answers: dict[str, str]) -> list[dict]:
        return [i for i in items if i["id"] in answers] if name in partial else items

    by_set = {name: metrics_by_set(scored(name, answers), answers) for name, answers in answers_by_model.items()}
    reference = "champion" if "champion" in by_set else "base"
    decision = promotion_decision(
        by_set["candidate"]["all"].as_dict(), by_set[reference]["all"].as_dict(), reference, tolerance
    )
    by_group = {name: metrics_by_group(scored(name, answers), answers) for name, answers in answers_by_model.items()}
    return Evaluation(items, by_set, reference, decision, by_group)
