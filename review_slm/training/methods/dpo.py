"""DPO from the SFT policy: the model is parent + SFT adapter, and with `ref_model=None` TRL keeps a
frozen copy of that adapter as the reference, so the reference is the SFT policy, not the bare base.
The result is merged into full weights, reloading the base unquantised so the merge is exact.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from review_slm.core.recipe import Recipe
from review_slm.training.data import dpo_rows, read_jsonl
from review_slm.training.methods.common import log_loss_plot, summarize, trainer_kwargs
from review_slm.training.models import load_model, load_tokenizer, resolve_model_ref
from review_slm.training.telemetry import PipesMlflowCallback


def merge_adapter(model_path: str, revision: str | None, adapter_dir: Path, out_dir: Path, tokenizer) -> None:
    from peft import PeftModel

    base = load_model(model_path, revision, quantization=None, for_training=False)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def run(spec: dict, pipes, mlflow_client, run_id: str | None) -> dict:
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    recipe = Recipe.model_validate(spec["recipe"])
    started = time.monotonic()
    model_path, revision = resolve_model_ref(spec["parent_model"], recipe, Path(spec["cache_dir"]))
    tokenizer = load_tokenizer(model_path, revision)
    out_dir = Path(spec["output_dir"])
    pairs = read_jsonl(spec["pairs_file"])[: recipe.dpo.max_pairs]
    adapter_dir = Path(spec["adapter_dir"])
    history: list[dict] = []
    if pairs:
        pipes.log.info(f"DPO on {len(pairs)} pairs from the SFT policy (reference = frozen SFT adapter)")
        model = PeftModel.from_pretrained(load_model(model_path, revision, recipe.quantization), str(adapter_dir), is_trainable=True)
        args = DPOConfig(**trainer_kwargs(recipe.dpo, out_dir / "checkpoints"), beta=recipe.dpo.beta)
        callback = PipesMlflowCallback(pipes, "dpo", mlflow_client, run_id)
        trainer = DPOTrainer(
            model=model,
            ref_model=None,
            args=args,
            train_dataset=Dataset.from_list(dpo_rows(pairs)),
            processing_class=tokenizer,
            callbacks=[callback],
        )
        trainer.train()
        history = callback.history
        adapter_dir = out_dir / "dpo_adapter"
        trainer.model.save_pretrained(adapter_dir)
    else:
        pipes.log.warning("no preference pairs: the SFT model matched gold everywhere; merging the SFT adapter unchanged")
    merged_dir = out_dir / "merged"
    merge_adapter(model_path, revision, adapter_dir, merged_dir, tokenizer)
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    log_loss_plot(mlflow_client, run_id, history, "dpo")
    accuracies = [h["rewards_accuracies"] for h in history if "rewards_accuracies" in h]
    return {
        **summarize(history),
        "pairs": len(pairs),
        "final_reward_accuracy": round(accuracies[-1], 4) if accuracies else None,
        "wall_time_s": round(time.monotonic() - started, 2),
        "loss_history": history,
    }
