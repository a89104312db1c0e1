"""Turn gold rows and preference pairs (Parquet written by the orchestrator) into TRL datasets."""

from __future__ import annotations

import random
from pathlib import Path

from review_slm.core.diff_hunks import HUNK_HEADER, shift_hunk
from review_slm.core.prompts import render_review, student_messages
from review_slm.core.schema import Review
from review_slm.core.tables import read_parquet


def read_rows(path: str | Path) -> list[dict]:
    """A tabular artifact the orchestrator wrote (Parquet, `core/tables.py`), as rows."""
    return read_parquet(path)


def difficulty(row: dict) -> float:
    """The gold set's difficulty score; rows written before it existed count as easiest (0.0)."""
    value = row.get("difficulty", 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"gold row {row.get('id', '?')}: field 'difficulty' must be a number, got {value!r}")
    return float(value)


def curriculum_order(gold_rows: list[dict]) -> list[dict]:
    """Easy to hard by difficulty; ties keep the id order so the curriculum is reproducible."""
    return sorted(gold_rows, key=lambda r: (difficulty(r), str(r.get("id", ""))))


def sft_rows(gold_rows: list[dict]) -> list[dict]:
    """Conversational rows: system + user prompt, the gold review as the assistant turn."""
    rows = []
    for row in gold_rows:
        review = Review.model_validate(row["review"])
        messages = student_messages(row["path"], row["language"], row["diff_hunk"])
        messages.append({"role": "assistant", "content": render_review(review)})
        rows.append({"messages": messages})
    return rows


MAX_SHIFTED_START = 500


def shifted_example(row: dict, new_start: int) -> dict:
    """The gold row with its hunk starting at new-file line `new_start` and its findings moved along."""
    header = HUNK_HEADER.match(row["diff_hunk"])
    if not header:
        return row
    offset = new_start - int(header.group(3))
    review = dict(row["review"])
    review["findings"] = [{**f, "line": f["line"] + offset if f["line"] else 0} for f in review["findings"]]
    return {**row, "diff_hunk": shift_hunk(row["diff_hunk"], offset), "review": review}


def with_line_offset_copies(gold_rows: list[dict], copies: int, seed: int) -> list[dict]:
    """Each row, then `copies` shifted copies of it at random new-file lines (reproducible from `seed`).

    A finding's line in mined data is always in the prompt (the numbered hunk) but its value is
    unique to the example, so a small model memorises it; the same hunk at other lines makes copying
    the only way to be right. Copies follow their original, so a curriculum order still holds.
    """
    if not copies:
        return gold_rows
    rng = random.Random(seed)
    out = []
    for row in gold_rows:
        out.append(row)
        out.extend(shifted_example(row, rng.randint(1, MAX_SHIFTED_START)) for _ in range(copies))
    return out


def dpo_rows(pairs: list[dict]) -> list[dict]:
    return [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
