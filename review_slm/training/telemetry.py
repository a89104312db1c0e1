"""Per-step training metrics to Dagster (Pipes logs) and MLflow (the run the orchestrator opened),
and the per-run summary: tokens seen, wall time, estimated cost."""

from __future__ import annotations

import json
import math
import os
import resource
import time

from transformers import TrainerCallback

from review_slm.core.cost import mfu
from review_slm.core.recipe import Recipe

STEP_KEYS = (
    "loss",
    "grad_norm",
    "learning_rate",
    "rewards/accuracies",
    "rewards/margins",
    # GRPO: the weighted reward, its spread, the KL to the reference and how long the answers are
    "reward",
    "reward_std",
    "kl",
    "completions/mean_length",
    "completions/clipped_ratio",
)


def step_keys(logs: dict) -> list[str]:
    """The fixed keys above, plus each GRPO reward function's mean (`rewards/<name>/mean`), whatever its name."""
    per_reward = [k for k in logs if k.startswith("rewards/") and k.endswith("/mean")]
    return [*STEP_KEYS, *per_reward]


def peak_memory_mb() -> float:
    """Peak accelerator memory on CUDA; peak resident memory of this process on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class PipesMlflowCallback(TrainerCallback):
    """Forwards `Trainer` logs: each step is a Pipes log line and MLflow metrics under `<stage>/...`.

    Tokens per second are non-padding tokens (`include_num_input_tokens_seen="non_padding"`, summed
    over all ranks by the Trainer) between two logged steps, divided by the wall time between them.
    """

    def __init__(self, pipes, stage: str, mlflow_client=None, mlflow_run_id: str | None = None):
        self.pipes = pipes
        self.stage = stage
        self.client = mlflow_client
        self.run_id = mlflow_run_id
        self.history: list[dict] = []
        self._t0 = time.monotonic()
        self._last = (self._t0, 0)
        self.tokens_seen = 0

    def on_train_begin(self, args, state, control, **kwargs):
        now = time.monotonic()
        self._last = (now, state.num_input_tokens_seen or 0)  # a resumed run starts counting where it left off

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step}
        for key in step_keys(logs):
            if key in logs and isinstance(logs[key], (int, float)):
                row[key.replace("/", "_")] = float(logs[key])
        if len(row) == 1:
            return
        now, tokens = time.monotonic(), state.num_input_tokens_seen or 0
        last_t, last_tokens = self._last
        if tokens > last_tokens and now > last_t:
            row["tokens_per_s"] = round((tokens - last_tokens) / (now - last_t), 1)
        self._last = (now, tokens)
        self.tokens_seen = tokens
        row["tokens_seen"] = tokens
        row["peak_memory_mb"] = round(peak_memory_mb(), 1)
        row["elapsed_s"] = round(now - self._t0, 2)
        self.history.append(row)
        self.pipes.log.info(f"{self.stage} " + json.dumps(row))
        if self.client is not None and self.run_id:
            from mlflow.entities import Metric

            stamp = int(time.time() * 1000)
            metrics = [
                Metric(f"{self.stage}/{k}", v, stamp, row["step"])
                for k, v in row.items()
                if k not in ("step", "elapsed_s") and math.isfinite(v)
            ]
            self.client.log_batch(self.run_id, metrics=metrics)


def run_summary(
    recipe: Recipe,
    history: list[dict],
    tokens_seen: int,
    wall_time_s: float,
    world_size: int,
    on_cuda: bool,
    trainable_params: int | None = None,
    total_params: int | None = None,
) -> dict:
    """Per-run totals, the cost estimate the hardware spec implies, and achieved model FLOPs utilisation
    (6·N FLOPs per token for full fine-tuning, ~4·N for LoRA: no weight gradients for the frozen base)."""
    losses = [h["loss"] for h in history if "loss" in h]
    gpus = world_size if on_cuda else 0
    hours = wall_time_s / 3600
    summary = {
        "steps": history[-1]["step"] if history else 0,
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(losses[-1], 4) if losses else None,
        "tokens_seen": int(tokens_seen),
        "tokens_per_s": round(tokens_seen / wall_time_s, 1) if wall_time_s > 0 else None,
        "peak_memory_mb": max((h.get("peak_memory_mb", 0.0) for h in history), default=None),
        "wall_time_s": round(wall_time_s, 2),
        "gpu_hours": round(gpus * hours, 4),
        "estimated_cost_usd": round(gpus * hours * recipe.hardware.gpu_hour_usd, 4),
    }
    if total_params and on_cuda and recipe.hardware.peak_tflops and wall_time_s > 0:
        full = not (trainable_params and trainable_params < total_params)
        summary["mfu"] = round(mfu(total_params, full, tokens_seen / wall_time_s, recipe.hardware.peak_tflops, gpus), 4)
    return summary


def open_mlflow():
    """The MLflow client and run id the orchestrator passed through the environment, if any."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id or not os.environ.get("MLFLOW_TRACKING_URI"):
        return None, None
    from mlflow.tracking import MlflowClient

    return MlflowClient(), run_id
