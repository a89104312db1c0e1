"""What every model is evaluated on: the frozen test split of the gold set plus the labelled bug suite
(buggy diffs with their findings, and clean diffs that must get an empty review)."""

from __future__ import annotations

import json
from importlib import resources

BUG_SUITE = resources.files("review_slm.data") / "bug_suite" / "bug_suite.jsonl"


def bug_suite_rows() -> list[dict]:
    return [json.loads(line) for line in BUG_SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]


def eval_items(test_rows: list[dict]) -> list[dict]:
    """Frozen test split + the labelled bug suite, each item tagged with its `set`."""
    def item(row: dict, prefix: str, set_name: str) -> dict:
        return {"id": f"{prefix}:{row['id']}", "set": set_name, "path": row["path"], "language": row["language"],
                "diff_hunk": row["diff_hunk"], "review": row["review"]}

    return [item(r, "test", "test") for r in test_rows] + [item(r, "bugs", "bug_suite") for r in bug_suite_rows()]
