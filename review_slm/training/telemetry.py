"""Per-step training metrics to Dagster (Pipes logs) and MLflow (the run the orchestrator opened)."""

from __future__ import annotations

import json
import math
import os
import time

from transformers import TrainerCallback

STEP_KEYS = ("loss", "grad_norm", "learning_rate", "rewards/accuracies", "rewards/margins")


class PipesMlflowCallback(TrainerCallback):
    """Forwards `Trainer` logs: each step is a Pipes log line and MLflow metrics under `<stage>/...`."""

    def __init__(self, pipes, stage: str, mlflow_client=None, mlflow_run_id: str | None = None):
        self.pipes = pipes
        self.stage = stage
        self.client = mlflow_client
        self.run_id = mlflow_run_id
        self.history: list[dict] = []
        self._t0 = time.monotonic()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step}
        for key in STEP_KEYS:
            if key in logs and isinstance(logs[key], (int, float)) and math.isfinite(logs[key]):
                row[key.replace("/", "_")] = float(logs[key])
        if len(row) == 1:
            return
        row["elapsed_s"] = round(time.monotonic() - self._t0, 2)
        self.history.append(row)
        self.pipes.log.info(f"{self.stage} " + json.dumps(row))
        if self.client is not None and self.run_id:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            metrics = [Metric(f"{self.stage}/{k}", v, now, row["step"]) for k, v in row.items() if k not in ("step", "elapsed_s")]
            self.client.log_batch(self.run_id, metrics=metrics)


def open_mlflow():
    """The MLflow client and run id the orchestrator passed through the environment, if any."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id or not os.environ.get("MLFLOW_TRACKING_URI"):
        return None, None
    from mlflow.tracking import MlflowClient

    return MlflowClient(), run_id
