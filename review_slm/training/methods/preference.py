"""Preference training on the SFT policy, shared by DPO and ORPO; the result is merged into full weights.

The policy is the parent plus the SFT adapter (or the full SFT model). The method's module says what
the reference is; the merge reloads the base unquantised so it is exact.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from review_slm.training.data import dpo_rows, read_rows
from review_slm.training.job_spec import JobSpec, TrainerOutputs
from review_slm.training.methods.common import TrainingRun, trainer_kwargs
from review_slm.training.models import is_adapter_dir, load_model, load_policy, load_tokenizer, resolve_model_ref
from review_slm.training.pipes_report import ReportKey
from review_slm.training.sharding import is_sharded


def merge_policy(model_path: str, revision: str | None, policy_dir: Path, out_dir: Path, tokenizer) -> None:
    """Full weights of the trained policy: base + adapter merged, or the full model as it is."""
    if is_adapter_dir(policy_dir):
        from peft import PeftModel

        base = load_model(model_path, revision, quantization=None, for_training=False)
        merged = PeftModel.from_pretrained(base, str(policy_dir)).merge_and_unload()
    else:
        merged = load_model(str(policy_dir), None, None, for_training=False)
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def run_preference(task: str, spec: JobSpec, pipes, mlflow_client, run_id: str | None, make_trainer) -> dict:
    """`make_trainer(model, args_kwargs, dataset, tokenizer, callbacks, recipe)` builds the method's trainer."""
    from datasets import Dataset
    from transformers import set_seed

    from review_slm.training import distributed

    recipe = spec.recipe
    model_path, revision = resolve_model_ref(spec.needed("parent_model"), recipe, Path(spec.cache_dir))
    tokenizer = load_tokenizer(model_path, revision)
    out_dir = Path(spec.needed("output_dir"))
    pairs = read_rows(spec.needed("pairs_file"))[: recipe.dpo.max_pairs]
    policy_dir = Path(spec.needed("adapter_dir"))
    result: dict = {"pairs": len(pairs), "method": task}
    if pairs:
        pipes.log.info(f"{task.upper()} on {len(pairs)} pairs from the SFT policy")
        set_seed(recipe.dpo.seed)
        session = TrainingRun(task, spec, recipe, recipe.dpo, pipes, mlflow_client, run_id, [spec.needed("pairs_file")])
        sharded = is_sharded(recipe)
        model = load_policy(model_path, revision, policy_dir, recipe.quantization, trainable=True, sharded=sharded)
        kwargs = trainer_kwargs(recipe.dpo, out_dir / "checkpoints", sharded=sharded)
        trainer = make_trainer(
            model, kwargs, Dataset.from_list(dpo_rows(pairs)), tokenizer, session.callbacks(), recipe
        )
        session.train(trainer)
        policy_dir = out_dir / TrainerOutputs.policy(task)
        trainer.save_model(str(policy_dir))
        summary = session.finish(trainer)
        accuracies = [h["rewards_accuracies"] for h in summary[ReportKey.LOSS_HISTORY] if "rewards_accuracies" in h]
        result.update(summary, final_reward_accuracy=round(accuracies[-1], 4) if accuracies else None)
    else:
        pipes.log.warning(
            "no preference pairs: the SFT model matched gold everywhere; merging the SFT policy unchanged"
        )
    if distributed.is_main_process():
        merge_policy(model_path, revision, policy_dir, out_dir / TrainerOutputs.MERGED_MODEL, tokenizer)
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return result
