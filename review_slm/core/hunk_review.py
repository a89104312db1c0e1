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
