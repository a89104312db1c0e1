"""The one training entrypoint: `python -m review_slm.training.entrypoint`.

The same command runs in a local subprocess, under `torchrun` (`torchrun --nproc-per-node 2 -m
review_slm.training.entrypoint`) and in a Kubernetes pod (a PyTorchJob sets MASTER_ADDR, WORLD_SIZE,
RANK and the PET_* variables torchrun reads). The job spec arrives as Dagster Pipes extras; rank 0
sends logs, a classified failure (`divergence`, `oom`) or the final metadata back through Pipes,
and metrics to the MLflow run named by MLFLOW_RUN_ID. Other ranks train and stay quiet.

Inputs and outputs may be local paths or `s3://` URIs (a pod sees no shared filesystem): `io.py`
stages the inputs on every rank and publishes the outputs from rank 0 once the task has succeeded.
"""

from __future__ import annotations

import logging
import os


def _pipes_metadata(metadata: dict) -> dict:
    """Pipes infers scalars; lists and dicts must be declared as JSON metadata."""
    return {
        k: {"raw_value": v, "type": "json"} if isinstance(v, (dict, list)) else v
        for k, v in metadata.items()
        if v is not None
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from pydantic import ValidationError

    from review_slm.training import distributed
    from review_slm.training.failure import TrainingFailure
    from review_slm.training.io import run_by_uri
    from review_slm.training.job_spec import JobSpec
    from review_slm.training.methods import TASKS, WITHOUT_METRICS
    from review_slm.training.models import set_cpu_threads

    with distributed.open_pipes() as pipes:
        try:
            spec = JobSpec.model_validate(pipes.extras)
        except ValidationError as err:
            raise SystemExit(f"invalid job spec: {err}") from None
        task = spec.task
        if spec.recipe.hardware.sharding == "fsdp":
            distributed.join_group_of_one()
        set_cpu_threads(spec.recipe.hardware.cpu_threads)
        tracked = distributed.is_main_process() and task not in WITHOUT_METRICS
        client, run_id = None, None
        if tracked:
            from review_slm.training.telemetry import open_mlflow  # with the Trainer callbacks: not for generation

            client, run_id = open_mlflow()
        try:
            metadata, published = run_by_uri(
                spec, lambda local: TASKS[task](local, pipes, client, run_id), distributed.is_main_process()
            )
        except TrainingFailure as failure:
            # The orchestrator decides what to do (retry smaller, or fail without retrying) from this report.
            pipes.report_custom_message(failure.report())
            pipes.log.error(str(failure))
            raise
        if published:
            pipes.log.info(f"published {len(published)} output(s): {', '.join(published)}")
        pipes.report_asset_materialization(metadata=_pipes_metadata(metadata))


if __name__ == "__main__":
    main()
