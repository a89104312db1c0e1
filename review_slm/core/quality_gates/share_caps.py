"""Caps on a kind of example's share of the kept rows. Lazy negatives poisoned the seed model; reviewed-and-passed
hunks are probably, not surely, clean. Which rows go is chosen by example id (a hash), so reruns choose the same."""

from __future__ import annotations

from review_slm.core.quality_gates.gate import Gate, GateRow, GateRun, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason


class ShareCap(Gate):
    what: str  # the share's name in the detail
    share_knob: str  # the `GateConfig` field with the share
    kind: str  # the `GateRow` flag of the rows capped

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        share: float = getattr(run.config, self.share_knob)
        capped = sorted((i for i, row in enumerate(rows) if getattr(row, self.kind)), key=lambda i: rows[i].example_id)
        allowed = int(share * (len(rows) - len(capped)) / (1 - share)) if share < 1 else len(capped)
        verdict = Verdict(self.reasons[0], "review", f"{self.what} capped at {share:.0%}")
        return {i: verdict for i in capped[allowed:]}


class LazyNegativeCap(ShareCap):
    reasons = (QuarantineReason.LAZY_NEGATIVE_OVER_CAP,)
    what, share_knob, kind = "lazy share", "max_lazy_share", "lazy"


class CleanCap(ShareCap):
    reasons = (QuarantineReason.CLEAN_OVER_CAP,)
    what, share_knob, kind = "clean (reviewed-and-passed) share", "clean_share", "clean"
