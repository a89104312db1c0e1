"""What training on the gold set will cost, estimated before any GPU is rented.

FLOPs per token: 6·N for full fine-tuning (forward 2N, backward 4N); with LoRA the frozen base
needs no weight gradients, so about 4·N. GPU-hours = FLOPs / (peak · MFU), per epoch and stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from review_slm.core.recipe import Recipe, TinyModelSpec


@dataclass(frozen=True)
class CostEstimate:
    train_tokens: int
    sft_epochs: float
    model_params_b: float
    flops: float
    gpu_hours: float
    cost_usd: float
    assumptions: str

    def as_metadata(self) -> dict:
        return {f"estimate_{k}": v for k, v in asdict(self).items()}


def flops_per_token(params: float, full_finetuning: bool) -> float:
    """Training FLOPs per token: 6·N for full fine-tuning, about 4·N with LoRA (frozen base: no weight gradients)."""
    return (6 if full_finetuning else 4) * params


def mfu(params: float, full_finetuning: bool, tokens_per_s: float, peak_tflops: float, accelerators: int = 1) -> float:
    """Model FLOPs utilisation: achieved training FLOP/s over the accelerators' dense peak."""
    return flops_per_token(params, full_finetuning) * tokens_per_s / (peak_tflops * 1e12 * accelerators)


def tiny_params(t: TinyModelSpec) -> float:
    """Parameters of the builtin tiny model, in billions (embeddings tied, like Qwen2 small models)."""
    head_dim = t.hidden_size // t.num_attention_heads
    attn = t.hidden_size * head_dim * (2 * t.num_attention_heads + 2 * t.num_key_value_heads)
    mlp = 3 * t.hidden_size * t.intermediate_size
    return (t.vocab_size * t.hidden_size + t.num_hidden_layers * (attn + mlp)) / 1e9


def estimate_training_cost(recipe: Recipe, train_tokens: int) -> CostEstimate:
    params = recipe.base_model_params_b or (tiny_params(recipe.tiny_model) if recipe.tiny_model else None)
    if params is None:
        raise ValueError(f"recipe {recipe.label}: set base_model_params_b to estimate the training cost")
    per_token = flops_per_token(params * 1e9, recipe.finetuning == "full")
    epochs = recipe.sft.epochs
    flops = per_token * train_tokens * epochs
    hw = recipe.hardware
    gpus = max(hw.gpus_per_node, 1) * hw.nodes
    if hw.accelerator != "cuda" or hw.peak_tflops == 0:
        return CostEstimate(
            train_tokens, epochs, params, flops, 0.0, 0.0, f"{hw.accelerator}: no GPU-hours (set hardware.peak_tflops)"
        )
    gpu_hours = flops / (hw.peak_tflops * 1e12 * hw.assumed_mfu) / 3600
    return CostEstimate(
        train_tokens,
        epochs,
        params,
        flops,
        round(gpu_hours, 4),
        round(gpu_hours * hw.gpu_hour_usd, 2),
        f"{gpus}x {hw.gpu_type} at {hw.peak_tflops:g} TFLOP/s, MFU {hw.assumed_mfu:.0%}, ${hw.gpu_hour_usd}/GPU-hour; "
        f"SFT only",
    )
