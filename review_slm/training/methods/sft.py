"""Supervised fine-tuning with TRL's SFTTrainer and a LoRA adapter (QLoRA 4-bit on CUDA).

Loss is on the assistant turn only (`assistant_only_loss`, generation tags in the chat template).
"""

from __future__ import annotations

import time
from pathlib import Path

from review_slm.core.recipe import Recipe
from review_slm.training.data import read_jsonl, sft_rows
from review_slm.training.methods.common import describe_adapter_mode, log_loss_plot, lora_config, summarize, trainer_kwargs
from review_slm.training.models import load_model, load_tokenizer, resolve_model_ref
from review_slm.training.telemetry import PipesMlflowCallback


def run(spec: dict, pipes, mlflow_client, run_id: str | None) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    recipe = Recipe.model_validate(spec["recipe"])
    started = time.monotonic()
    model_path, revision = resolve_model_ref(spec["parent_model"], recipe, Path(spec["cache_dir"]))
    mode = describe_adapter_mode(recipe)
    pipes.log.info(f"SFT of {spec['parent_model']} with {mode}, recipe {recipe.label}")
    tokenizer = load_tokenizer(model_path, revision)
    model = load_model(model_path, revision, recipe.quantization)

    train = Dataset.from_list(sft_rows(read_jsonl(spec["train_file"])))
    val_rows = sft_rows(read_jsonl(spec["val_file"])) if spec.get("val_file") else []
    out_dir = Path(spec["output_dir"])
    args = SFTConfig(**trainer_kwargs(recipe.sft, out_dir / "checkpoints"), assistant_only_loss=True, packing=False)
    callback = PipesMlflowCallback(pipes, "sft", mlflow_client, run_id)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
        callbacks=[callback],
    )
    result = trainer.train()
    eval_loss = trainer.evaluate()["eval_loss"] if val_rows else None
    trainer.model.save_pretrained(out_dir / "adapter")
    tokenizer.save_pretrained(out_dir / "adapter")
    log_loss_plot(mlflow_client, run_id, callback.history, "sft")
    return {
        **summarize(callback.history),
        "adapter_mode": mode,
        "train_examples": len(train),
        "val_examples": len(val_rows),
        "eval_loss": round(eval_loss, 4) if eval_loss is not None else None,
        "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 2),
        "wall_time_s": round(time.monotonic() - started, 2),
        "loss_history": callback.history,
    }
