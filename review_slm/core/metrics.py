"""Evaluation metrics over a set of (answer, gold) items, and the Markdown table people read."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer


@dataclass(frozen=True)
class EvalMetrics:
    items: int
    format_validity: float
    recall: float
    precision: float
    f1: float
    severity_accuracy: float
    no_issues_rate_on_buggy: float
    clean_accuracy: float
    score: float
    false_findings_per_clean: float = 0.0  # findings invented per clean diff (noise), valid answers only

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


# The gate's single number. F1 carries half; validity and the clean-diff accuracy keep a model that
# flags everything, or answers in prose, from scoring well.
SCORE_WEIGHTS = {"f1": 0.5, "format_validity": 0.25, "clean_accuracy": 0.25}


def compute_metrics(answers: list[str], golds: list[Review], paths: list[str] | None = None) -> EvalMetrics:
    """`paths`: the file of each item's hunk; findings are then matched on it (see `parse_review`)."""
    if len(answers) != len(golds) or (paths is not None and len(paths) != len(golds)):
        raise ValueError(
            f"{len(answers)} answers and {len(paths) if paths is not None else '-'} paths for {len(golds)} gold reviews"
        )
    hunk_paths: list[str | None] = list(paths) if paths is not None else [None] * len(golds)
    scores = [score_answer(a, g, hunk_path=p) for a, g, p in zip(answers, golds, hunk_paths)]
    n = len(scores)
    valid = sum(s.valid for s in scores)
    gold_total = sum(s.gold_findings for s in scores)
    pred_total = sum(s.predicted_findings for s in scores)
    matched = sum(s.matched for s in scores)
    sev = sum(s.severity_matches for s in scores)
    buggy = [s for s in scores if s.gold_findings]
    clean = [s for s in scores if not s.gold_findings]
    recall = matched / gold_total if gold_total else 0.0
    precision = matched / pred_total if pred_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    values = {
        "format_validity": valid / n if n else 0.0,
        "f1": f1,
        "clean_accuracy": sum(1 for s in clean if s.valid and not s.predicted_findings) / len(clean) if clean else 0.0,
    }
    return EvalMetrics(
        items=n,
        format_validity=round(values["format_validity"], 4),
        recall=round(recall, 4),
        precision=round(precision, 4),
        f1=round(f1, 4),
        severity_accuracy=round(sev / matched, 4) if matched else 0.0,
        no_issues_rate_on_buggy=round(sum(1 for s in buggy if s.kind == "lazy_no_issues") / len(buggy), 4)
        if buggy
        else 0.0,
        clean_accuracy=round(values["clean_accuracy"], 4),
        score=round(sum(w * values[k] for k, w in SCORE_WEIGHTS.items()), 4),
        false_findings_per_clean=round(sum(s.predicted_findings for s in clean) / len(clean), 4) if clean else 0.0,
    )


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """Rows are metrics, columns the models compared (candidate, base, champion, teacher)."""
    models = list(results)
    metric_names = [k for k in next(iter(results.values()))] if results else []
    lines = ["| metric | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for name in metric_names:
        cells = []
        for m in models:
            v = results[m][name]
            cells.append(str(int(v)) if name == "items" else f"{v:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


EVAL_SETS = ("test", "bug_suite")


def metrics_by_set(items: list[dict], answers: dict[str, str]) -> dict[str, EvalMetrics]:
    """Metrics over every item (`all`: what the gate scores) and over each evaluation set on its own.

    `items` carry `id`, `set`, `path` and the gold `review`; `answers` maps item id -> the model's text
    (a missing answer scores as an invalid one).
    """
    groups = {"all": items, **{name: [i for i in items if i["set"] == name] for name in EVAL_SETS}}
    return {
        name: compute_metrics(
            [answers.get(i["id"], "") for i in group],
            [Review.model_validate(i["review"]) for i in group],
            [i["path"] for i in group],
        )
        for name, group in groups.items()
        if group
    }


# Per-language and per-category slices: which language or kind of bug a model is good at is hidden in
# the overall numbers (a Rust item among 40 Go/Python ones moves F1 by a point).
GROUP_METRICS = {
    "lang": ("f1", "recall", "format_validity", "no_issues_rate_on_buggy", "clean_accuracy"),
    "cat": ("recall", "f1"),
}


def metrics_by_group(items: list[dict], answers: dict[str, str]) -> dict[str, EvalMetrics]:
    """Metrics per language (`lang_<language>`, every item of it) and per finding category
    (`cat_<category>`, the items with a gold finding of that category; clean diffs have none).

    A category group scores the whole answer to those items, so an item with findings of two
    categories counts in both: recall is still "found the gold findings of items with this kind of bug".
    """
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(f"lang_{item['language']}", []).append(item)
        for category in sorted({f["category"] for f in item["review"]["findings"]}):
            groups.setdefault(f"cat_{category.replace('-', '_')}", []).append(item)
    return {name: _group_metrics(group, answers) for name, group in sorted(groups.items())}


def _group_metrics(group: list[dict], answers: dict[str, str]) -> EvalMetrics:
    golds = [Review.model_validate(i["review"]) for i in group]
    return compute_metrics([answers.get(i["id"], "") for i in group], golds, [i["path"] for i in group])
