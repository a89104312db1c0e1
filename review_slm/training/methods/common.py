"""Pieces every method shares: trainer arguments from a recipe stage, LoRA config, the loss plot."""

from __future__ import annotations

from pathlib import Path

from review_slm.core.recipe import Recipe, StageSpec
from review_slm.training.models import device


def trainer_kwargs(stage: StageSpec, output_dir: Path) -> dict:
    on_cuda = device() == "cuda"
    return {
        "output_dir": str(output_dir),
        "max_steps": stage.max_steps,
        "num_train_epochs": stage.epochs,
        "learning_rate": stage.learning_rate,
        "lr_scheduler_type": stage.lr_scheduler,
        "warmup_steps": stage.warmup_ratio,
        "weight_decay": stage.weight_decay,
        "per_device_train_batch_size": stage.per_device_batch_size,
        "gradient_accumulation_steps": stage.gradient_accumulation_steps,
        "max_length": stage.max_length,
        "gradient_checkpointing": stage.gradient_checkpointing,
        "logging_steps": stage.logging_steps,
        "seed": stage.seed,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": not on_cuda,
        "bf16": on_cuda,
        "dataloader_num_workers": 0,
    }


def lora_config(recipe: Recipe):
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=list(recipe.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def describe_adapter_mode(recipe: Recipe) -> str:
    if recipe.quantization.load_in_4bit and device() == "cuda":
        return "qlora-4bit"
    if recipe.quantization.load_in_4bit:
        return "lora (QLoRA requested; 4-bit needs CUDA, trained in float32 on CPU)"
    return "lora"


def log_loss_plot(client, run_id: str | None, history: list[dict], stage: str) -> None:
    """A loss curve attached to the MLflow run: people look at it rather than read the numbers."""
    if client is None or not run_id or not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [h["step"] for h in history if "loss" in h]
    ax.plot(steps, [h["loss"] for h in history if "loss" in h], marker="o", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{stage} training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    client.log_figure(run_id, fig, f"plots/{stage}_loss.png")
    plt.close(fig)


def summarize(history: list[dict]) -> dict:
    losses = [h["loss"] for h in history if "loss" in h]
    return {
        "steps": history[-1]["step"] if history else 0,
        "first_loss": round(losses[0], 4) if losses else None,
        "final_loss": round(losses[-1], 4) if losses else None,
    }
