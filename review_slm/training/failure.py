"""The failure a training run classifies itself (guards.py raises it), in a module of its own so the
entrypoint can catch it without importing transformers."""

from __future__ import annotations

from review_slm.training.pipes_report import FailureKey


class TrainingFailure(RuntimeError):
    """A failure with a kind the orchestrator understands (`divergence`, `oom`) and its details."""

    def __init__(self, kind: str, message: str, **details):
        super().__init__(message)
        self.kind = kind
        self.details = details

    def report(self) -> dict:
        return {FailureKey.FAILURE: self.kind, FailureKey.MESSAGE: str(self), **self.details}
