"""Failures a training run classifies itself, so the orchestrator can react to each one differently.

- Divergence (NaN/inf loss or grad norm, or a loss spike beyond `spike_factor` x the running mean)
  stops the run at once: retrying would diverge again, and nothing it trained may be promoted.
- Out of memory is reported with the batch shape that failed: the orchestrator retries with the
  micro-batch halved and the accumulation doubled (same effective batch).
"""

from __future__ import annotations

import math
from collections import deque

from transformers import TrainerCallback

from review_slm.core.recipe import ResilienceSpec
from review_slm.training.failure import TrainingFailure
from review_slm.training.pipes_report import FailureKind


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


class DivergenceGuard(TrainerCallback):
    """Checks every logged step (all ranks log the same all-reduced loss, so all stop together)."""

    def __init__(self, spec: ResilienceSpec, stage: str, judge_spikes: bool = True):
        self.spec = spec
        self.stage = stage
        self.judge_spikes = judge_spikes
        self.recent: deque[float] = deque(maxlen=spec.spike_window)

    def check(self, step: int, loss, grad_norm=None) -> None:
        if loss is None:
            return
        mean = sum(self.recent) / len(self.recent) if self.recent else None
        values = {
            "step": step,
            "loss": float(loss),
            "grad_norm": None if grad_norm is None else float(grad_norm),
            "running_mean_loss": None if mean is None else round(mean, 6),
        }
        if not _finite(loss) or (grad_norm is not None and not _finite(grad_norm)):
            raise TrainingFailure(
                FailureKind.DIVERGENCE,
                f"{self.stage} diverged at step {step}: loss={loss} grad_norm={grad_norm} (not finite)",
                reason="non-finite",
                **values,
            )
        judged = self.judge_spikes and mean is not None and len(self.recent) >= self.spec.spike_min_history
        if judged and mean is not None and loss > self.spec.spike_factor * mean:
            raise TrainingFailure(
                FailureKind.DIVERGENCE,
                f"{self.stage} diverged at step {step}: loss {loss:.4g} is above {self.spec.spike_factor}x the "
                f"running mean "
                f"{mean:.4g} of the last {len(self.recent)} logged steps",
                reason="spike",
                spike_factor=self.spec.spike_factor,
                **values,
            )
        self.recent.append(float(loss))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.check(state.global_step, logs["loss"], logs.get("grad_norm"))


def is_out_of_memory(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def out_of_memory_failure(
    err: BaseException, per_device_batch_size: int, gradient_accumulation_steps: int, stage: str
) -> TrainingFailure:
    return TrainingFailure(
        FailureKind.OOM,
        f"{stage} ran out of memory at micro-batch {per_device_batch_size} x accumulation "
        f"{gradient_accumulation_steps}: {err}",
        per_device_batch_size=per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
