"""Turn gold rows and preference pairs (JSONL written by the orchestrator) into TRL datasets."""

from __future__ import annotations

import json
from pathlib import Path

from review_slm.core.prompts import render_review, student_messages
from review_slm.core.schema import Review


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


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


def dpo_rows(pairs: list[dict]) -> list[dict]:
    return [{"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"]} for p in pairs]
