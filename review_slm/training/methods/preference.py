"""Preference training on the SFT policy, shared by DPO and ORPO; the result is merged into full weights.

The policy is the parent plus the SFT adapter (or the full SFT model). The method's module says what
the reference is; the merge reloads the base unquantised so it is exact, and only once the trainer's memory
is released (`train_policy` returns nothing that holds it), so its peak is the base alone, not base + trainer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from review_slm.training.data import dpo_rows, read_rows
from review_slm.training.job_spec import JobSpec, TrainerOutputs
from review_slm.training.methods.common import TrainingRun, release_training_memory, trainer_kwargs
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


def publish_merged(spec: JobSpec, model_ref: tuple[str, str | None], policy_dir: Path, tokenizer) -> None:
    """The trained policy as full weights for the next stage. The trainer is released first, so rank 0's merge peaks
    at what the memory plan's merge term counts; then the checkpoints go (the merged model is what is kept)."""
    from review_slm.training import distributed

    release_training_memory()
    if distributed.is_main_process():
        out_dir = Path(spec.needed("output_dir"))
        merge_policy(*model_ref, policy_dir, out_dir / TrainerOutputs.MERGED_MODEL, tokenizer)
        shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)


def train_policy(
    task: str,
    spec: JobSpec,
    model_ref: tuple[str, str | None],
    pairs: list[dict],
    tokenizer,
    pipes,
    mlflow_client,
    run_id: str | None,
    make_trainer,
) -> tuple[Path, dict]:
    """Trains and saves the preference-tuned policy; returns (its folder, the run's summary). Nothing it built
    outlives the call: the trainer, its model, optimizer and reference are locals of this frame."""
    from datasets import Dataset
    from transformers import set_seed

    recipe, (model_path, revision) = spec.recipe, model_ref
    out_dir = Path(spec.needed("output_dir"))
    set_seed(recipe.dpo.seed)
    session = TrainingRun(task, spec, recipe, recipe.dpo, pipes, mlflow_client, run_id, [spec.needed("pairs_file")])
    sharded = is_sharded(recipe)
    model = load_policy(
        model_path, revision, Path(spec.needed("adapter_dir")), recipe.quantization, trainable=True, sharded=sharded
    )
    kwargs = trainer_kwargs(recipe.dpo, out_dir / "checkpoints", sharded=sharded)
    trainer = make_trainer(model, kwargs, Dataset.from_list(dpo_rows(pairs)), tokenizer, session.callbacks(), recipe)
    session.train(trainer)
    policy_dir = out_dir / TrainerOutputs.policy(task)
    trainer.save_model(str(policy_dir))
    return policy_dir, session.finish(trainer)


def run_preference(task: str, spec: JobSpec, pipes, mlflow_client, run_id: str | None, make_trainer) -> dict:
    """`make_trainer(model, args_kwargs, dataset, tokenizer, callbacks, recipe)` builds the method's trainer."""
    recipe = spec.recipe
    model_ref = resolve_model_ref(spec.needed("parent_model"), recipe, Path(spec.cache_dir))
    tokenizer = load_tokenizer(*model_ref)
    pairs = read_rows(spec.needed("pairs_file"))[: recipe.dpo.max_pairs]
    policy_dir = Path(spec.needed("adapter_dir"))
    result: dict = {"pairs": len(pairs), "method": task}
    if pairs:
        pipes.log.info(f"{task.upper()} on {len(pairs)} pairs from the SFT policy")
        policy_dir, summary = train_policy(
            task, spec, model_ref, pairs, tokenizer, pipes, mlflow_client, run_id, make_trainer
        )
        accuracies = [h["rewards_accuracies"] for h in summary[ReportKey.LOSS_HISTORY] if "rewards_accuracies" in h]
        result.update(summary, final_reward_accuracy=round(accuracies[-1], 4) if accuracies else None)
    else:
        pipes.log.warning(
            "no preference pairs: the SFT model matched gold everywhere; merging the SFT policy unchanged"
        )
    publish_merged(spec, model_ref, policy_dir, tokenizer)
    return result
