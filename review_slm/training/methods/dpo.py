"""DPO from the SFT policy. With `ref_model=None` TRL keeps a frozen copy of the SFT adapter (or of the
full SFT model) as the reference: the reference is the SFT policy, not the bare base. With `rpo_alpha`
the loss also has an NLL term on the chosen answer (RPO), which keeps the format while the policy moves
away from the rejected answers."""

from __future__ import annotations

from review_slm.training.job_spec import JobSpec
from review_slm.training.lm_head import DPO_OUTPUTS, use_dense_lm_head
from review_slm.training.methods.preference import run_preference


def make_trainer(model, args_kwargs: dict, dataset, tokenizer, callbacks: list, recipe):
    from trl import DPOConfig, DPOTrainer  # pyright: ignore[reportPrivateImportUsage]  (trl's lazy __init__ exports it)

    # RPO: TRL 1.x combines the DPO (sigmoid) loss with an NLL ("sft") term on the chosen answers by weight.
    losses = (
        {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, recipe.dpo.rpo_alpha]} if recipe.dpo.rpo_alpha else {}
    )
    args = DPOConfig(**args_kwargs, beta=recipe.dpo.beta, **losses)
    trainer = DPOTrainer(
        model=model, ref_model=None, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=callbacks
    )
    if recipe.hardware.cpu_fast_paths:  # rounding-level changes move the tiny recipe's iteration 2 (recipe.py)
        use_dense_lm_head(trainer, DPO_OUTPUTS + (("log_sum_sq_probs",) if trainer.use_weighting else ()))
    return trainer


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    return run_preference("dpo", spec, pipes, mlflow_client, run_id, make_trainer)
