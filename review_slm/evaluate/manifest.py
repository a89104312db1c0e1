"""What evaluation hands deployment and the promotion check: the gate's decision and where the full report is."""

from __future__ import annotations

from pydantic import BaseModel

from review_slm.evaluate.promotion_gate import GateDecision


class EvaluationManifest(BaseModel):
    """`eval_report`: the candidate against its reference (the champion, or the base for a first iteration)."""

    report_uri: str  # the JSON report: every model's metrics per set and group, samples
    gate: GateDecision
    tolerance: float
    candidate_score: float
    champion_iteration: str | None
    mlflow_run_id: str
