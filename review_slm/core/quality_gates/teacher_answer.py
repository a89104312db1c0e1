"""The gate that takes the teacher's answer into the row, or quarantines the row the teacher could not answer."""

from __future__ import annotations

from review_slm.core.prompts import render_review
from review_slm.core.quality_gates.gate import GateRow, GateRun, RowGate, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason


class TeacherAnswered(RowGate):
    reasons = (QuarantineReason.TEACHER_INVALID, QuarantineReason.TEACHER_FAILED)

    def check(self, row: GateRow, run: GateRun) -> Verdict | None:
        cand = row.candidate
        assert cand is not None, "the teacher gate runs on candidates"
        if cand.review is None:
            # `Candidate.failure` names the reason; an answer without one is one that never parsed.
            reason = QuarantineReason(cand.failure) if cand.failure else QuarantineReason.TEACHER_INVALID
            return Verdict(reason, "review", cand.error)
        row.review, row.answer = cand.review, render_review(cand.review)
        return None
