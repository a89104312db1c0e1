"""Gates on the hunk itself: not worth a review, whoever would write it."""

from __future__ import annotations

from review_slm.core.diff_hunks import is_binary_or_empty
from review_slm.core.languages import contradicting_language
from review_slm.core.quality_gates.gate import GateRow, GateRun, RowGate, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason


class EmptyOrBinaryHunk(RowGate):
    reasons = (QuarantineReason.EMPTY_OR_BINARY_HUNK,)

    def check(self, row: GateRow, run: GateRun) -> Verdict | None:
        if is_binary_or_empty(row.record.diff_hunk):
            return Verdict(QuarantineReason.EMPTY_OR_BINARY_HUNK, "diff_hunk", "no text lines, or a binary file")
        return None


class WrongLanguage(RowGate):
    reasons = (QuarantineReason.WRONG_LANGUAGE,)

    def check(self, row: GateRow, run: GateRun) -> Verdict | None:
        rec = row.record
        other = contradicting_language(rec.language, rec.diff_hunk)
        if other:
            return Verdict(QuarantineReason.WRONG_LANGUAGE, "language", f"declared {rec.language}, content is {other}")
        return None
