"""Ask a model (any `answer(prompts) -> answers` callable) to review hunks, in batches, and parse what it says."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from review_slm.core.prompts import parse_review, student_messages
from review_slm.core.schema import Review

Answerer = Callable[[list[dict]], list[dict]]


def answer_hunks(
    hunks: Sequence, answer: Answerer, progress: Callable[[str], None] | None = None, batch: int = 16
) -> list[tuple[Review | None, str, str]]:
    """(review or None, why not, raw answer) per hunk, in the order given.

    `hunks` need `path`, `language` and `text`; `answer` turns `[{"id", "messages"}]` into
    `[{"id", "answer"}]` (a local model folder or an OpenAI-compatible endpoint); `progress(message)`
    hears about every `batch` hunks when there is more than one batch.
    """
    prompts = [{"id": str(i), "messages": student_messages(h.path, h.language, h.text)} for i, h in enumerate(hunks)]
    answers: list[dict] = []
    for start in range(0, len(prompts), batch):
        if progress and len(prompts) > batch:
            progress(f"reviewing hunks {start + 1}-{min(start + batch, len(prompts))} of {len(prompts)}")
        answers += answer(prompts[start : start + batch])
    by_id = {int(a["id"]): a["answer"] for a in answers}
    out = []
    for i, h in enumerate(hunks):
        raw = by_id.get(i, "")
        review, error = parse_review(raw, hunk_path=h.path)
        out.append((review, error, raw))
    return out


def review_units(
    units: Sequence,
    answer: Answerer,
    min_severity: str,
    max_hunks: int,
    progress: Callable[[str], None] | None = None,
    batch: int = 16,
):
    """The first `max_hunks` units reviewed and their findings placed (`core.pr_review.place_findings`, the same in
    file mode and `--pr`), and the units over the limit, each with the reason it was not reviewed."""
    from review_slm.reviewer.pr_review import place_findings

    to_review, over = list(units[:max_hunks]), units[max_hunks:]
    not_reviewed = [{**u.describe(), "reason": f"over --max-hunks={max_hunks}"} for u in over]
    answers = answer_hunks(to_review, answer, progress, batch) if to_review else []
    placed = place_findings([(u, *a) for u, a in zip(to_review, answers)], min_severity)
    return placed, not_reviewed, len(to_review)


def review_result(placed, reviewed: int, skipped: list[dict], not_reviewed: list[dict]) -> dict:
    """The review as `review-slm review` prints it (both modes): `findings` are at lines of the change only."""
    return {
        "findings": placed.findings,
        "outside_diff": placed.outside_diff,
        "summary": placed.summary,
        "hunks_reviewed": reviewed,
        "invalid_answers": placed.invalid,
        "not_reviewed": not_reviewed,
        "files_skipped": skipped,
    }
