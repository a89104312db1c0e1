"""Score the compared models' answers and decide the gate: everything `eval_report` computes.

The asset gathers the answers (the trainer generates for the candidate, base and champion; the
teacher answers when one is reachable) and hands them here; what comes back is the report written
to the artifact store, the tables shown in the UI and MLflow, and the stable numeric metadata keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from review_slm.core.metrics import (
    EVAL_SETS,
    EvalMetrics,
    group_metric_metadata,
    markdown_table,
    metrics_by_group,
    metrics_by_set,
)
from review_slm.core.prompts import render_review
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer
from review_slm.evaluate.promotion_gate import GateDecision, promotion_decision

CHARTED_BY_SET = ("f1", "format_validity", "no_issues_rate_on_buggy", "clean_accuracy")


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

    def table_by_language(self) -> str:
        """The candidate and the gate's reference, per language of the evaluated items."""
        return markdown_table(
            {
                f"{name} {g}": m.as_dict()
                for name, groups in self.by_group.items()
                if name in ("candidate", self.reference)
                for g, m in groups.items()
                if g.startswith("lang_")
            }
        )

    def mlflow_metrics(self) -> dict[str, float]:
        """`<model>/<metric>` over all items and `<model>/<set>/<metric>` per evaluation set."""
        out: dict[str, float] = {}
        for name, sets in self.by_set.items():
            out.update({f"{name}/{k}": v for k, v in sets["all"].as_dict().items()})
            out.update({f"{name}/{s}/{k}": v for s, m in sets.items() if s != "all" for k, v in m.as_dict().items()})
        return out

    def metric_metadata(self) -> dict[str, float]:
        """`<model>_<metric>` over all items for every compared model, `reference_<metric>` for the gate's
        reference (base or champion), `<model>_<set>_<metric>` per evaluation set and
        `<model>_lang_<language>_<metric>` / `<model>_cat_<category>_<metric>` for the candidate and the
        reference: the same keys every iteration, so the UI charts them across partitions."""
        out: dict[str, float] = {}
        for name, sets in {**self.by_set, "reference": self.by_set[self.reference]}.items():
            out.update({f"{name}_{k}": v for k, v in sets["all"].as_dict().items() if k != "items"})
            if name in ("candidate", "reference"):
                out.update(
                    {f"{name}_{s}_{k}": getattr(m, k) for s, m in sets.items() if s != "all" for k in CHARTED_BY_SET}
                )
        out.update(group_metric_metadata("candidate", self.by_group["candidate"]))
        out.update(group_metric_metadata("reference", self.by_group[self.reference]))
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
        """The JSON report the blocking check and deployment read."""
        d = self.decision
        return {
            "iteration": iteration,
            "models": models,
            "metrics": self.results,
            "metrics_by_set": {name: {s: m.as_dict() for s, m in sets.items()} for name, sets in self.by_set.items()},
            "metrics_by_group": {
                name: {g: m.as_dict() for g, m in groups.items()} for name, groups in self.by_group.items()
            },
            "gate": {
                "passed": d.passed,
                "reference": self.reference,
                "tolerance": tolerance,
                "score_delta": d.score_delta,
                "no_issues_delta": d.no_issues_delta,
                "clean_accuracy_delta": d.clean_accuracy_delta,
                "reason": d.reason,
            },
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


def sample_rows(items: list[dict], answers: dict[str, str], per_set: int = 6) -> list[dict[str, str]]:
    """A few items of each evaluation set side by side: the hunk, the gold review, what the candidate said."""

    def cell(text: str, limit: int = 400) -> str:
        return text if len(text) <= limit else text[: limit - 3] + "..."

    rows = []
    for name in EVAL_SETS:
        for item in [i for i in items if i["set"] == name][:per_set]:
            answer = answers.get(item["id"], "")
            gold = Review.model_validate(item["review"])
            verdict = score_answer(answer, gold, hunk_path=item["path"])
            rows.append(
                {
                    "item": item["id"],
                    "diff": cell(item["diff_hunk"]),
                    "gold": cell(render_review(gold)),
                    "candidate": cell(answer),
                    "verdict": verdict.kind + (f" ({verdict.error})" if verdict.error else ""),
                }
            )
    return rows
