"""ORPO (odds-ratio preference optimisation, `trl.experimental.orpo`) on the SFT policy: an SFT loss on
the chosen answer plus `beta` x the log odds ratio of chosen over rejected. Needs no reference model."""

from __future__ import annotations

from review_slm.training.job_spec import JobSpec
from review_slm.training.methods.preference import run_preference


def make_trainer(model, args_kwargs: dict, dataset, tokenizer, callbacks: list, recipe):
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    args = ORPOConfig(**args_kwargs, beta=recipe.dpo.beta)
    return ORPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks)


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    return run_preference("orpo", spec, pipes, mlflow_client, run_id, make_trainer)
