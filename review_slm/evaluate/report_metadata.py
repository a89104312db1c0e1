"""What `eval_report` shows in the Dagster UI: the gate's verdict first, a few dozen headline numbers,
tables, and a few samples that read as code.

The UI shows metadata in the order given and charts at most 100 numeric entries (the rest silently
disappear), so the verdict leads and the numbers are the candidate's and its reference's headline
metrics (at most `MAX_NUMERIC_ENTRIES`); per-language and per-category figures are one table here and
metrics in MLflow (`Evaluation.mlflow_metrics`), and every item's answers an artifact (`sample_records`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import dagster as dg

from review_slm.core.metrics import EVAL_SETS, GROUP_METRICS, EvalMetrics
from review_slm.core.prompts import render_review
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer
from review_slm.evaluate.report import Evaluation

# Per evaluation set, only these of the candidate's metrics are charted (the by-set table has all of them).
CHARTED_BY_SET = ("f1", "format_validity", "no_issues_rate_on_buggy", "clean_accuracy")
MAX_NUMERIC_ENTRIES = 40  # what `eval_report` emits at most: 1 verdict + 3 deltas + 36 metrics and counts
SHOWN_SAMPLES = 4
_SAMPLE_DIFF_LINES = 30


def eval_report_metadata(
    evaluation: Evaluation,
    *,
    samples: list[dict],
    samples_uri: str,
    report_uri: str,
    teacher: dict[str, Any],
    judge: dict[str, Any],
    mlflow_run_id: str,
    mlflow_run_url: str,
) -> dict[str, Any]:
    """The materialization's metadata, in the order the UI lists it. `teacher` and `judge` are the
    asset's entries about them (`teacher_compared`, `judge_failed_items`, `<model>_judge_score`, ...)."""
    d = evaluation.decision
    return {
        "gate_passed": dg.MetadataValue.bool(d.passed),
        "gate_reason": d.reason,
        "gate_reference": evaluation.reference,
        "gate_score_delta": d.score_delta,
        "gate_no_issues_delta": d.no_issues_delta,
        "gate_clean_accuracy_delta": d.clean_accuracy_delta,
        "eval_table": dg.MetadataValue.md(evaluation.table()),
        "samples": dg.MetadataValue.md(samples_markdown(samples, samples_uri)),
        "samples_uri": dg.MetadataValue.path(samples_uri),
        "eval_table_by_set": dg.MetadataValue.md(evaluation.table_by_set()),
        "eval_table_by_group": dg.MetadataValue.md(group_table(evaluation)),
        "mlflow_run": dg.MetadataValue.url(mlflow_run_url),
        "mlflow_run_id": mlflow_run_id,
        "uri": report_uri,
        # Stable numeric keys, the same in every iteration, so the UI's Plots chart them across partitions.
        "items": len(evaluation.items),
        **headline_metrics(evaluation),
        **teacher,
        **judge,
    }


def headline_metrics(evaluation: Evaluation) -> dict[str, float]:
    """`candidate_<metric>` and `reference_<metric>` (the gate's reference: base or champion) over all
    items, `<model>_score` of every other compared model (base, champion, teacher), and
    `candidate_<set>_<metric>` per evaluation set for `CHARTED_BY_SET`."""
    by_set = evaluation.by_set
    out: dict[str, float] = {}
    for name, sets in (("candidate", by_set["candidate"]), ("reference", by_set[evaluation.reference])):
        out.update({f"{name}_{k}": v for k, v in sets["all"].as_dict().items() if k != "items"})
    out.update({f"{name}_score": sets["all"].score for name, sets in by_set.items() if name != "candidate"})
    out.update(
        {
            f"candidate_{s}_{k}": getattr(m, k)
            for s, m in by_set["candidate"].items()
            if s != "all"
            for k in CHARTED_BY_SET
        }
    )
    return out


def group_table(evaluation: Evaluation) -> str:
    """Rows are languages and finding categories, columns their metrics, each cell "candidate / reference":
    long rather than wide, so it is not cut off however many languages are configured."""
    candidate, reference = evaluation.by_group["candidate"], evaluation.by_group[evaluation.reference]
    metrics = list(dict.fromkeys(m for ms in GROUP_METRICS.values() for m in ms))
    lines = [
        f"Each cell: candidate / {evaluation.reference}.",
        "",
        "| group | items | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    for group, m in candidate.items():
        kind, name = group.split("_", 1)
        ref = reference.get(group)  # the reference may not have answered any item of a group
        cells = [_pair(m, ref, k) if k in GROUP_METRICS[kind] else "" for k in metrics]
        label = f"{'language' if kind == 'lang' else 'category'} {name}"
        lines.append(f"| {label} | {m.items} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pair(candidate: EvalMetrics, reference: EvalMetrics | None, metric: str) -> str:
    return f"{getattr(candidate, metric):.3f} / " + (f"{getattr(reference, metric):.3f}" if reference else "-")


def sample_records(items: list[dict], answers_by_model: dict[str, dict[str, str]]) -> list[dict]:
    """Every evaluated item with each model's answer and its verdict: the full set, written as an artifact
    (`tables.EVAL_SAMPLES`); the UI shows a few of them (`samples_markdown`)."""
    records = []
    for item in items:
        gold = Review.model_validate(item["review"])
        answers = []
        for model, by_id in answers_by_model.items():
            if item["id"] in by_id:
                verdict = score_answer(by_id[item["id"]], gold, hunk_path=item["path"])
                kind = verdict.kind + (f" ({verdict.error})" if verdict.error else "")
                answers.append({"model": model, "answer": by_id[item["id"]], "verdict": kind})
        records.append(
            {
                "id": item["id"],
                "set": item["set"],
                "language": item["language"],
                "path": item["path"],
                "diff_hunk": item["diff_hunk"],
                "gold": render_review(gold),
                "answers": answers,
            }
        )
    return records


def shown_samples(records: list[dict], n: int = SHOWN_SAMPLES) -> list[dict]:
    """`n` items, taken in turn from each evaluation set; within a set, one of each candidate verdict first
    (a right answer and a wrong one say more than two right ones)."""

    def candidate_verdict(record: dict) -> str:
        return next((a["verdict"] for a in record["answers"] if a["model"] == "candidate"), "no answer")

    queues = []
    for name in EVAL_SETS:
        in_set = [r for r in records if r["set"] == name]
        first_of_each: dict[str, dict] = {}
        for r in in_set:
            first_of_each.setdefault(candidate_verdict(r), r)
        firsts = list(first_of_each.values())
        queues.append(firsts + [r for r in in_set if r not in firsts])
    shown: list[dict] = []
    while len(shown) < n and any(queues):
        for queue in queues:
            if queue and len(shown) < n:
                shown.append(queue.pop(0))
    return shown


def samples_markdown(records: list[dict], samples_uri: str, n: int = SHOWN_SAMPLES) -> str:
    """A few items as a reviewer reads them: the hunk as a diff, the gold review, the candidate's answer."""
    blocks = []
    for r in shown_samples(records, n):
        candidate = next((a for a in r["answers"] if a["model"] == "candidate"), None)
        verdict = candidate["verdict"] if candidate else "no answer"
        answer = candidate["answer"] if candidate else ""
        blocks.append(
            f"### {r['id']}: {verdict}\n\n`{r['path']}` ({r['language']}, {r['set']})\n\n"
            f"{code_block(_first_lines(r['diff_hunk'], _SAMPLE_DIFF_LINES), 'diff')}\n\n"
            f"Gold:\n\n{code_block(_indented_json(r['gold']), 'json')}\n\n"
            f"Candidate:\n\n{code_block(_indented_json(answer), 'json' if answer.lstrip().startswith('{') else 'text')}"
        )
    return f"{len(blocks)} of {len(records)} items; all of them: `{samples_uri}`\n\n" + "\n\n".join(blocks)


def code_block(text: str, language: str) -> str:
    """A fenced block the text cannot close: the fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _indented_json(text: str) -> str:
    """A review on one line is hard to read; an answer that is not JSON is shown as it came."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _first_lines(text: str, limit: int) -> str:
    lines = text.splitlines()
    return text if len(lines) <= limit else "\n".join(lines[:limit] + [f"... ({len(lines) - limit} more lines)"])


def report_markdown(iteration: str, evaluation: Evaluation) -> str:
    """The report logged to the MLflow run: every table, the gate's reason."""
    return (
        f"# Evaluation of {iteration}\n\n{evaluation.table()}\n\n## By evaluation set\n\n{evaluation.table_by_set()}"
        f"\n\n## By language and category\n\n{group_table(evaluation)}\n\nGate: {evaluation.decision.reason}\n"
    )
