"""The keys of what the trainer reports to Dagster over Pipes, spelled once for both ends: the trainer writes
them (`methods/common.py`'s summary, `guards.TrainingFailure.report`) and the launcher reads them
(`resources/launcher.py`, `train/assets.py`). Nothing heavy is imported: the launcher runs without the
training stack."""

from __future__ import annotations

from enum import StrEnum


class ReportKey(StrEnum):
    """Keys of the final materialization's metadata that the launcher takes out of the rest (`TrainerReport`)."""

    LOSS_HISTORY = "loss_history"
    RESUMED_FROM_STEP = "resumed_from_step"


class FailureKey(StrEnum):
    """Keys of a classified failure's custom message: `{FAILURE: kind, MESSAGE: text, **details}`."""

    FAILURE = "failure"
    MESSAGE = "message"


class FailureKind(StrEnum):
    """What the orchestrator reacts to: `OOM` retries with the micro-batch halved; `DIVERGENCE` fails at once."""

    OOM = "oom"
    DIVERGENCE = "divergence"
