"""The one training entrypoint: `python -m review_slm.training.entrypoint`.

The same command runs in a local subprocess, under `torchrun` (`torchrun --nproc-per-node 2 -m
review_slm.training.entrypoint`) and in a Kubernetes pod (a PyTorchJob sets MASTER_ADDR, WORLD_SIZE,
RANK and the PET_* variables torchrun reads). The job spec arrives as Dagster Pipes extras; rank 0
sends logs, a classified failure (`divergence`, `oom`) or the final metadata back through Pipes,
and metrics to the MLflow run named by MLFLOW_RUN_ID. Other ranks train and stay quiet.
"""

from __future__ import annotations

import logging
import os


def _pipes_metadata(metadata: dict) -> dict:
    """Pipes infers scalars; lists and dicts must be declared as JSON metadata."""
    return {k: {"raw_value": v, "type": "json"} if isinstance(v, (dict, list)) else v for k, v in metadata.items() if v is not None}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from review_slm.training import distributed
    from review_slm.training.guards import TrainingFailure
    from review_slm.training.methods import TASKS
    from review_slm.training.telemetry import open_mlflow

    with distributed.open_pipes() as pipes:
        spec = pipes.extras
        task = spec.get("task")
        if task not in TASKS:
            raise SystemExit(f"unknown task {task!r}: expected one of {sorted(TASKS)}")
        client, run_id = open_mlflow() if distributed.is_main_process() else (None, None)
        try:
            metadata = TASKS[task](spec, pipes, client, run_id)
        except TrainingFailure as failure:
            # The orchestrator decides what to do (retry smaller, or fail without retrying) from this report.
            pipes.report_custom_message(failure.report())
            pipes.log.error(str(failure))
            raise
        pipes.report_asset_materialization(metadata=_pipes_metadata(metadata))


if __name__ == "__main__":
    main()
