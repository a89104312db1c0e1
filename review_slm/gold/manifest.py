"""What the gold set hands training, evaluation and its checks: its splits by URI with their row
counts, and the thresholds its gates and blocking checks used."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from review_slm.core.quality_gates import GateConfig
from review_slm.resources.artifact_layout import Split


@dataclass(frozen=True)
class GoldLimits:
    """What the blocking checks hold the written gold set to, recorded beside the gates' thresholds."""

    max_duplicate_share: float
    min_kept_rows: int
    min_test_rows: int


class GoldSplit(BaseModel):
    uri: str
    rows: int


class GoldSetManifest(BaseModel):
    """`gold_set`: the train / val / test splits (Parquet), the quarantine, the counts and the thresholds."""

    train: GoldSplit
    val: GoldSplit
    test: GoldSplit
    quarantine_uri: str
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    test_split: str  # how the test split came to be: frozen now, the frozen one, re-frozen (and why)
    gates: GateConfig  # the thresholds the quality gates applied
    limits: GoldLimits  # what the blocking checks hold the written set to

    def split(self, name: Split) -> GoldSplit:
        return getattr(self, name)


class QuarantineManifest(BaseModel):
    """`gold_set_quarantine`: the rows the gates kept out (the Parquet file) counted by reason."""

    uri: str
    rows: int
    by_reason: dict[str, int]
