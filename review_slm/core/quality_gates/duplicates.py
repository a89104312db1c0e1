"""The duplicate gate: exact (whitespace-insensitive) and MinHash near duplicates of an earlier row."""

from __future__ import annotations

import re

from review_slm.core.near_duplicates import find_near_duplicates
from review_slm.core.quality_gates.gate import Gate, GateRow, GateRun, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason
from review_slm.core.schema import content_hash

_SPACE = re.compile(r"\s+")


class Duplicates(Gate):
    """The hunk and what was said are compared apart (the same code with another comment is another example); the
    first row wins. One gate for both reasons: a near duplicate may be of a row that is itself an exact one."""

    reasons = (QuarantineReason.DUPLICATE, QuarantineReason.NEAR_DUPLICATE)

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        near = find_near_duplicates(
            [row.hunk for row in rows], run.config.near_duplicate_threshold, said=[row.comment for row in rows]
        )
        seen: dict[str, str] = {}
        found: dict[int, Verdict] = {}
        for i, row in enumerate(rows):
            exact = content_hash(_SPACE.sub(" ", row.hunk).strip(), _SPACE.sub(" ", row.comment).strip().lower())
            if exact in seen:
                found[i] = Verdict(QuarantineReason.DUPLICATE, "diff_hunk", f"same hunk and comment as {seen[exact]}")
                continue
            seen[exact] = row.record.record_id
            if i in near:
                j, similarity = near[i]
                detail = f"Jaccard ≈{similarity:.2f} with {rows[j].record.record_id}"
                found[i] = Verdict(QuarantineReason.NEAR_DUPLICATE, "diff_hunk", detail)
        return found
