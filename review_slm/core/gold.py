"""The gold set's rows: a structured review per diff hunk, or the reason a row was quarantined;
its stable train / val / test split and each example's curriculum difficulty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel

from review_slm.core.hunk_comments import HunkFamilies
from review_slm.core.schema import Review, ReviewRecord, content_hash


class GoldExample(BaseModel):
    id: str
    record_id: str
    source: str
    repo: str
    path: str
    language: str
    diff_hunk: str
    human_comment: str
    review: Review
    teacher: str
    lazy: bool
    clean: bool = False  # a hunk reviewers let pass: its review is empty, and right (see ReviewRecord.clean)
    split: str = ""
    difficulty: float = 0.0

    @property
    def hunk_key(self) -> str:
        return content_hash(self.path, self.diff_hunk)


class QuarantinedRow(BaseModel):
    row_id: str
    source: str
    reason: str
    field: str | None = None
    detail: str = ""


@dataclass
class Candidate:
    """A record with the teacher's answer (or the reason it has none)."""

    record: ReviewRecord
    review: Review | None
    teacher: str
    error: str = ""
    failure: str = ""  # the quarantine reason when there is no review: teacher_invalid | teacher_failed


SEVERITY_WEIGHT = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0.5}


def example_id(record_id: str) -> str:
    """A gold example's id: from the record that carries it (the one with the longest hunk when comments merged)."""
    return content_hash(record_id)[:16]


def difficulty(diff_hunk: str, review: Review) -> float:
    """Curriculum order: a longer hunk and more, and more severe, findings make a harder example."""
    hunk_lines = diff_hunk.count("\n") + 1
    return round(hunk_lines / 20 + sum(SEVERITY_WEIGHT[f.severity] for f in review.findings), 3)


def split_of(hunk_key: str, val_share: float = 0.1, test_share: float = 0.1) -> str:
    """Stable split from the content hash of (path, hunk): the same hunk never straddles splits."""
    bucket = int(hunk_key[:8], 16) / 0xFFFFFFFF
    if bucket < test_share:
        return "test"
    if bucket < test_share + val_share:
        return "val"
    return "train"


def assign_splits(examples: list[GoldExample], frozen_test: set[str] | HunkFamilies | None) -> None:
    """Without a frozen test split, hash decides, and a hunk of the same change as a test hunk (one extends the other)
    joins the test side too: a change is never split between training and test. With a frozen split (its hunk keys,
    or its hunks), its hunks stay test, and so does a hunk of the same change that one of them extends or that extends
    one; new rows never join it (`held_out_of_training` says which those are)."""
    if isinstance(frozen_test, set):
        frozen_test = HunkFamilies.of_keys(frozen_test)
    for ex in examples:
        split = split_of(ex.hunk_key)
        if frozen_test is not None:
            if frozen_test.holds(ex.path, ex.diff_hunk, ex.hunk_key):
                split = "test"
            elif split == "test":
                split = "val"
        ex.split = split
    if frozen_test is None:
        _pull_changes_into_test(examples)


def _pull_changes_into_test(examples: list[GoldExample]) -> None:
    """Until none is left: an example whose hunk extends a test hunk, or is extended by one, becomes test."""
    while True:
        families = HunkFamilies((e.path, e.diff_hunk) for e in examples if e.split == "test")
        joining = [e for e in examples if e.split != "test" and families.holds(e.path, e.diff_hunk, e.hunk_key)]
        if not joining:
            return
        for ex in joining:
            ex.split = "test"


def held_out_of_training(examples: list[GoldExample], frozen_rows: list[dict]) -> list[GoldExample]:
    """The examples on the test side of a frozen split that are not its rows: a later hunk of a frozen test change.
    They cannot join the frozen split (every iteration is scored on the same rows) nor be trained on (the test
    change would leak), so the gold set quarantines them with their reason instead of losing them silently."""
    frozen_keys = {content_hash(r["path"], r["diff_hunk"]) for r in frozen_rows}
    return [e for e in examples if e.split == "test" and e.hunk_key not in frozen_keys]


def to_jsonl(rows: list[BaseModel]) -> str:
    return "".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in rows)
