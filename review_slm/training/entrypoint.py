"""The one training entrypoint: `python -m review_slm.training.entrypoint`.

The same command runs in a local subprocess, under torchrun and in a Kubernetes pod. The job
spec arrives as Dagster Pipes extras; logs and the final metadata go back through Pipes, metrics
to the MLflow run named by MLFLOW_RUN_ID.
"""

from __future__ import annotations

import logging
import os

from dagster_pipes import open_dagster_pipes


def _pipes_metadata(metadata: dict) -> dict:
    """Pipes infers scalars; lists and dicts must be declared as JSON metadata."""
    return {k: {"raw_value": v, "type": "json"} if isinstance(v, (dict, list)) else v for k, v in metadata.items() if v is not None}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from review_slm.training.methods import TASKS
    from review_slm.training.telemetry import open_mlflow

    with open_dagster_pipes() as pipes:
        spec = pipes.extras
        task = spec.get("task")
        if task not in TASKS:
            raise SystemExit(f"unknown task {task!r}: expected one of {sorted(TASKS)}")
        client, run_id = open_mlflow()
        metadata = TASKS[task](spec, pipes, client, run_id)
        pipes.report_asset_materialization(metadata=_pipes_metadata(metadata))


if __name__ == "__main__":
    main()
