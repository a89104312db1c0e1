"""The per-GPU memory a recipe's training stage needs, computed before launch (no torch import).

Every term is stated with how it was computed, so a refusal can say which setting to change. The
arithmetic follows what this project's trainer actually does (`training/models.py`, `methods/`):

- weights: bf16 on CUDA, float32 on CPU; QLoRA stores the decoder's linear layers as NF4 (4 bits) plus
  their quantisation constants, while embeddings, norms and lm_head stay unquantised (bitsandbytes via
  transformers only replaces `nn.Linear` and keeps the output embedding): in float32 on one GPU, since
  `models.load_model` runs PEFT's `prepare_model_for_kbit_training`, which upcasts every bf16 weight that is
  not 4-bit; in bf16 (the 4-bit storage dtype) when sharded, which skips that preparation;
- trainable parameters: LoRA weights are float32 (PEFT's `autocast_adapter_dtype`), so weight + grad +
  AdamW m and v = 16 bytes each; full fine-tuning on one GPU keeps bf16 weights, bf16 grads and bf16
  AdamW states (torch's AdamW allocates states in the parameter's dtype) = 8 bytes; sharded (FSDP)
  full fine-tuning keeps fp32 master weights with bf16 compute = 16 bytes per parameter, divided by the
  world size (ZeRO stage 3: Rajbhandari et al. 2020, "ZeRO", section 3: 2+2+12 bytes for mixed-precision
  Adam, all sharded over N_d ranks);
- activations: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
  eq. 1: s*b*h*(34 + 5*a*s/h) bytes per layer without recomputation (GPT: 4h MLP, dropout), and 2*s*b*h
  per layer (the layer input) with full activation checkpointing, plus one layer's full activations
  being recomputed during its backward;
- logits: transformers' causal-LM loss upcasts the logits to float32 before cross-entropy, which keeps its
  float32 log-softmax for backward. The peak is at the start of backward: the logits (2 bytes bf16, 4 on CPU)
  + the log-softmax (4) + its gradient (4) + the gradient of the fp32 logits (4) per token per vocabulary
  entry, while every activation is still held. With a 152K vocabulary this is often the largest term
  (bench/memory_plan_cpu.py checks it against a measured peak);
- DPO runs chosen and rejected in one forward (twice the micro-batch); its reference is the adapter
  switched off for LoRA (no memory) and a frozen copy of the weights for full fine-tuning, sharded like the
  policy on CUDA but whole on every rank of a sharded CPU run (TRL places it when the trainer is built, before
  `sharding.shard_on_cpu` turns accelerate's state to FSDP).

Load time has peaks of its own, before and after the training steps, each planned as a moment apart and
compared to the GPU like the training peak (the plan's total is the larger):
- before sharding (`hardware.sharding: fsdp`): `models.load_model` moves the whole model onto every rank's
  GPU (`cpu_ram_efficient_loading` is off), and for full fine-tuning accelerate upcasts its trainable bf16
  weights to fp32 before `fully_shard` (mixed precision: `fsdp2_prepare_model`), so every rank holds the whole
  model at 4 bytes a parameter, whatever the world size. A full-fine-tuning reference (DPO; GRPO with beta > 0)
  is loaded whole by TRL next to the whole bf16 policy when the trainer is built, then sharded (on CUDA; a CPU
  run keeps it whole);
- publishing (DPO/ORPO, GRPO): rank 0 merges the policy (`methods/preference.merge_policy`) after the trainer,
  its weights, optimizer states and reference are released (`methods/common.release_training_memory`), so it
  holds only the base (or the full policy) loaded whole in bf16, the adapter PEFT loads onto it, and the merge's
  work tensors;
- QLoRA needs no term of its own: transformers quantises on the fly one tensor at a time (no full-precision
  copy of the model; `core_model_loading` loads synchronously for that reason), and PEFT's upcast of the
  unquantised weights replaces them one by one; the gathered full state dict for saving goes to host memory
  (accelerate's `cpu_offload=True`).

Hand-written rather than taken from a library: the estimators on PyPI (accelerate's `estimate-memory`)
size weights only and need the hub, while this plan must also cover activations, QLoRA and sharding offline.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from review_slm.core.recipe import Recipe, load_recipe

GIB = 1024**3

# One GPU's memory (GiB as the vendor states it, GB for NVIDIA's 80GB parts: 80 GB = 74.5 GiB usable by torch,
# so those entries hold what `torch.cuda.get_device_properties().total_memory` reports). Keys are matched
# case-insensitively against hardware.gpu_type; hardware.gpu_memory_gib overrides.
GPU_MEMORY_GIB = {
    "a100-80gb": 79.3,
    "a100-40gb": 39.4,
    "h100-80gb": 79.1,
    "h100": 79.1,
    "h200": 139.8,
    "l40s": 44.4,
    "a10g": 22.1,
    "l4": 22.0,
    "t4": 14.6,
}

# The CUDA context, cuBLAS/cuDNN workspaces and the caching allocator's fragmentation: not counted by
# `torch.cuda.max_memory_allocated` but by the GPU. 1-2 GiB is typical for one process (PyTorch CUDA
# semantics notes); 2 GiB keeps the plan on the safe side.
CUDA_OVERHEAD_BYTES = 2 * GIB

# NF4: 4 bits per weight; one fp32 absmax per 64-weight block; with double quantisation that absmax is
# itself 8-bit with one fp32 constant per 256 absmax values (Dettmers et al. 2023, "QLoRA", section 3:
# 32/64 = 0.5 bits -> 8/64 + 32/(64*256) = 0.127 bits per parameter).
NF4_BYTES = 0.5
NF4_CONSTANT_BYTES = {True: (8 / 64 + 32 / (64 * 256)) / 8, False: (32 / 64) / 8}

# Public config.json values of base models the shipped recipes name (nothing is downloaded at plan time).
KNOWN_CONFIGS = {
    "Qwen/Qwen2.5-Coder-1.5B-Instruct": {
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    },
    "Qwen/Qwen2.5-Coder-7B-Instruct": {
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "tie_word_embeddings": False,
    },
}

Stage = Literal["sft", "dpo", "grpo"]


@dataclass(frozen=True)
class ModelShape:
    """What sizes memory in a Qwen2/Llama-style decoder (SwiGLU MLP, GQA attention, q/k/v biases)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    tie_word_embeddings: bool

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        return cls(
            vocab_size=config["vocab_size"],
            hidden_size=config["hidden_size"],
            intermediate_size=config["intermediate_size"],
            num_hidden_layers=config["num_hidden_layers"],
            num_attention_heads=config["num_attention_heads"],
            num_key_value_heads=config.get("num_key_value_heads", config["num_attention_heads"]),
            tie_word_embeddings=config.get("tie_word_embeddings", False),
        )

    @property
    def kv_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads * self.num_key_value_heads

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one decoder layer."""
        h, kv, i = self.hidden_size, self.kv_dim, self.intermediate_size
        return {
            "q_proj": (h, h),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (h, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        """Weights of the decoder layers' linear projections (what QLoRA quantises)."""
        return self.num_hidden_layers * sum(a * b for a, b in self.projections().values())

    @property
    def other_params(self) -> int:
        """Embeddings, lm_head when untied, q/k/v biases and RMSNorm weights (kept in bf16 under QLoRA)."""
        h, layers = self.hidden_size, self.num_hidden_layers
        embeddings = self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return embeddings + layers * (h + 2 * self.kv_dim + 2 * h) + h

    @property
    def params(self) -> int:
        return self.linear_params + self.other_params

    def lora_params(self, r: int, targets: list[str]) -> int:
        return self.num_hidden_layers * sum(
            r * (a + b) for name, (a, b) in self.projections().items() if name in targets
        )


def model_shape(recipe: Recipe, config: dict | None = None) -> ModelShape | None:
    """The base model's shape: a given config.json, the tiny model's spec, a local path's config.json,
    or the public config of a known hub id; None when none is at hand (then base_model_params_b sizes weights)."""
    if config is not None:
        return ModelShape.from_config(config)
    if recipe.base_model.startswith("builtin:") and recipe.tiny_model is not None:
        return ModelShape.from_config({**recipe.tiny_model.model_dump(), "tie_word_embeddings": True})
    local = Path(recipe.base_model) / "config.json"
    if local.is_file():
        return ModelShape.from_config(json.loads(local.read_text()))
    known = KNOWN_CONFIGS.get(recipe.base_model)
    return ModelShape.from_config(known) if known else None


@dataclass(frozen=True)
class Term:
    name: str
    bytes: float
    how: str


@dataclass(frozen=True)
class MemoryPlan:
    recipe: str
    stage: str
    world_size: int
    terms: list[Term]  # held together at the training step's peak
    capacity_bytes: float | None
    on_cuda: bool
    advice: list[str]  # what lowers the training peak
    load_terms: list[Term]  # each a whole peak of its own (overhead included), before or after the steps
    load_advice: list[str]  # what lowers the load peaks

    @property
    def training_bytes(self) -> float:
        return sum(t.bytes for t in self.terms)

    @property
    def load_bytes(self) -> float:
        return max((t.bytes for t in self.load_terms), default=0.0)

    @property
    def total_bytes(self) -> float:
        """What a rank needs: the larger of the training peak and the load peaks."""
        return max(self.training_bytes, self.load_bytes)

    def _over(self, needed: float) -> bool:
        return self.capacity_bytes is not None and needed > self.capacity_bytes

    @property
    def fits(self) -> bool:
        return not self._over(self.total_bytes)

    def line(self) -> str:
        capacity = f"{self.capacity_bytes / GIB:.1f} GiB" if self.capacity_bytes else "unknown capacity"
        verdict = "fits" if self.fits else "DOES NOT FIT"
        parts = ", ".join(f"{t.name} {t.bytes / GIB:.2f}" for t in self.terms)
        loads = "".join(f"; {t.name} {t.bytes / GIB:.2f} GiB" for t in self.load_terms)
        training = f"training {self.training_bytes / GIB:.2f}: " if self.load_terms else ""
        return (
            f"memory plan {self.recipe} {self.stage}: {self.total_bytes / GIB:.2f} GiB per rank of "
            f"{capacity} over {self.world_size} rank(s), {verdict} ({training}{parts} GiB{loads})"
        )

    def markdown(self) -> str:
        rows = [f"| {t.name} | {t.bytes / GIB:.2f} | {t.how} |" for t in self.terms]
        if self.load_terms:
            rows.append(f"| training peak | {self.training_bytes / GIB:.2f} | the terms above, held together |")
            rows += [f"| {t.name} | {t.bytes / GIB:.2f} | {t.how} |" for t in self.load_terms]
        capacity = f"{self.capacity_bytes / GIB:.1f} GiB" if self.capacity_bytes else "unknown"
        verdict = "fits" if self.fits else "does not fit"
        peak = "the larger of training and load; " if self.load_terms else ""
        return "\n".join(
            [
                f"Memory plan, {self.recipe} `{self.stage}`, per rank of {self.world_size}",
                "",
                "| term | GiB | how |",
                "|---|---|---|",
                *rows,
                f"| **total** | **{self.total_bytes / GIB:.2f}** | {peak}of {capacity}: {verdict} |",
            ]
        )

    def refusal(self) -> str:
        """The plan and the settings that lower whichever peak does not fit (load advice first)."""
        advice = (self.load_advice if self._over(self.load_bytes) else []) + (
            self.advice if self._over(self.training_bytes) else []
        )
        return f"{self.line()}. The launch is refused before any GPU time is spent; change one of: " + "; ".join(
            dict.fromkeys(advice)  # in order, each once
        )


def _count(n: float) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"


def gpu_capacity_bytes(recipe: Recipe) -> float | None:
    hw = recipe.hardware
    if hw.gpu_memory_gib is not None:
        return hw.gpu_memory_gib * GIB
    gib = GPU_MEMORY_GIB.get(hw.gpu_type.lower())
    return gib * GIB if gib is not None else None


def plan_memory(recipe: Recipe, stage: Stage, config: dict | None = None) -> MemoryPlan:
    """Per-rank memory of `stage` ("sft"; "dpo" for DPO/ORPO; "grpo" sized as one batch of its completions at
    max_length, generation's KV cache not counted) of `recipe` on the hardware it names."""
    hw = recipe.hardware
    on_cuda = hw.accelerator == "cuda"
    world = max(hw.gpus_per_node, 1) * hw.nodes
    shard = world if hw.sharding == "fsdp" else 1
    spec = getattr(recipe, stage)
    shape = model_shape(recipe, config)
    compute_bytes = 2 if on_cuda else 4
    qlora = on_cuda and recipe.finetuning == "lora" and recipe.quantization.load_in_4bit
    params = shape.params if shape else int((recipe.base_model_params_b or 0) * 1e9)
    sharded = f", / {shard} ranks (FSDP)" if shard > 1 else ""
    terms: list[Term] = []

    if qlora and shape:
        nf4 = NF4_BYTES + NF4_CONSTANT_BYTES[recipe.quantization.double_quant]
        kept = 2 if shard > 1 else 4  # fp32 after prepare_model_for_kbit_training; sharded: bf16 storage, no upcast
        weights = shape.linear_params * nf4 + shape.other_params * kept
        how = (
            f"{shape.linear_params / 1e9:.2f}B linear params x {nf4:.3f} B (NF4 + constants) + "
            f"{shape.other_params / 1e9:.2f}B embeddings/norms x {kept} B ({'bf16' if kept == 2 else 'fp32'})"
        )
    elif qlora:
        weights = params * (NF4_BYTES + NF4_CONSTANT_BYTES[True])
        how = f"{_count(params)} params x NF4 (no config: embeddings counted as 4-bit too)"
    elif recipe.finetuning == "full":
        weights, how = 0.0, ""  # counted with the grads and optimizer states below
    else:
        weights = params * compute_bytes
        how = f"{_count(params)} params x {compute_bytes} B ({'bf16' if on_cuda else 'fp32'})"
    if how:
        terms.append(Term("weights", weights / shard, how + sharded))

    if recipe.finetuning == "lora":
        lora = shape.lora_params(recipe.lora.r, recipe.lora.target_modules) if shape else 0
        terms.append(
            Term(
                "LoRA weights + grads + AdamW",
                lora * 16 / shard,
                f"{lora / 1e6:.1f}M fp32 params x (4 weight + 4 grad + 8 AdamW m,v) B" + sharded,
            )
        )
    else:
        per_param = 16 if (shard > 1 or not on_cuda) else 8
        detail = (
            "2 bf16 weight + 2 grad + 12 fp32 master/m/v (ZeRO, mixed precision)"
            if shard > 1 and on_cuda
            else ("4 weight + 4 grad + 8 AdamW m,v (fp32)" if per_param == 16 else "2 weight + 2 grad + 4 AdamW (bf16)")
        )
        terms.append(
            Term("full: weights + grads + AdamW", params * per_param / shard, f"{_count(params)} x {detail}" + sharded)
        )
        if shard > 1 and shape:
            layer = shape.linear_params / shape.num_hidden_layers * compute_bytes
            terms.append(Term("FSDP gathered layers", 2 * layer, "2 unsharded layers (current + prefetched) in bf16"))
        if stage == "dpo" or (stage == "grpo" and recipe.grpo.beta > 0):
            # On CPU, TRL places the reference before shard_on_cpu turns FSDP on: each rank keeps it whole.
            whole = shard > 1 and not on_cuda
            terms.append(
                Term(
                    "DPO reference",
                    params * compute_bytes / (1 if whole else shard),
                    "frozen copy of the SFT weights"
                    + (", whole on every rank (placed before sharding)" if whole else sharded),
                )
            )

    if shape:
        terms.extend(_activation_terms(shape, spec, stage, compute_bytes, recipe))
    else:
        terms.append(Term("activations", 0.0, "unknown: no model config (give config.json to plan them)"))
    if on_cuda:
        terms.append(Term("CUDA/framework overhead", CUDA_OVERHEAD_BYTES, "context, workspaces, fragmentation"))

    load = _Load(recipe, stage, shape, params, shard, on_cuda, compute_bytes)
    return MemoryPlan(
        recipe=recipe.label,
        stage=stage,
        world_size=world,
        terms=terms,
        capacity_bytes=gpu_capacity_bytes(recipe) if on_cuda else None,
        on_cuda=on_cuda,
        advice=_advice(recipe, stage, spec, shard),
        load_terms=load.terms(terms),
        load_advice=load.advice(qlora),
    )


BEFORE_SHARDING, MERGING = "load: whole model before sharding", "load: merging to publish"


@dataclass(frozen=True)
class _Load:
    """The load-time peaks of one stage (module docstring), each with its overhead."""

    recipe: Recipe
    stage: str
    shape: ModelShape | None
    params: int
    shard: int
    on_cuda: bool
    compute_bytes: int

    @property
    def merges(self) -> bool:
        """DPO/ORPO and GRPO publish a merged model from rank 0; SFT saves its adapter (or full model) as trained."""
        return self.stage in ("dpo", "grpo")

    def terms(self, training: list[Term]) -> list[Term]:
        overhead = CUDA_OVERHEAD_BYTES if self.on_cuda else 0.0
        plus = "; + the CUDA overhead" if self.on_cuda else ""
        c, params = self.compute_bytes, self.params
        loads = []
        if self.shard > 1:
            held = {t.name: t.bytes for t in training}
            lora = held.get("LoRA weights + grads + AdamW", 0.0) / 4 * self.shard  # weights only (4 of 16 B), whole
            if self.recipe.finetuning == "full":
                policy, how = params * 4.0, f"{_count(params)} params x 4 B (fp32: upcast for mixed precision)"
                if "DPO reference" in held:  # full fine-tuning's frozen copy (LoRA's is the adapter switched off)
                    # built with the trainer: whole policy + whole reference; at train(): fp32 policy + the reference
                    # as the training term holds it (its shard on CUDA, whole on CPU)
                    policy = max(2 * params * c, policy + held["DPO reference"])
                    how += " + the reference, whole then as held in training (TRL loads it before sharding)"
            else:  # LoRA / QLoRA: the frozen base as the weights term has it, whole
                policy = held["weights"] * self.shard + lora
                how = f"the weights term x {self.shard} ranks + the LoRA weights (fp32)"
            loads.append(Term(BEFORE_SHARDING, policy + overhead, f"every rank, before fully_shard: {how}{plus}"))
        if self.merges:
            # The trainer is released before the merge (methods/common.release_training_memory): nothing of training
            # is held, only what merge_policy loads.
            base, adapter, work = params * c, 0.0, 0.0
            what = f"the trained policy loaded whole, {_count(params)} x {c} B"
            if self.recipe.finetuning == "lora" and self.shape:
                adapter = self.shape.lora_params(self.recipe.lora.r, self.recipe.lora.target_modules) * 4.0
                delta = max(a * b for a, b in self.shape.projections().values()) * 4.0  # one fp32 delta at a time
                # PEFT reads the adapter file onto the GPU, then copies it into the LoRA layers; the file's tensors
                # are gone by the time merge_and_unload computes each projection's delta.
                work = max(adapter, delta)
                what = (
                    f"the base loaded whole, {_count(params)} x {c} B, + the adapter (fp32) {adapter / GIB:.2f}, + "
                    f"the larger of its file's copy and one projection's fp32 delta {work / GIB:.2f}"
                )
            loads.append(
                Term(
                    MERGING,
                    base + adapter + work + overhead,
                    f"rank 0 after the steps, the trainer released: {what}{plus}",
                )
            )
        return loads

    def advice(self, qlora: bool) -> list[str]:
        """Fewer ranks, micro-batches or tokens do not lower a load peak: a smaller model in memory or a bigger GPU."""
        reasons = ["every rank holds the whole model before sharding"] if self.shard > 1 else []
        reasons += ["rank 0 loads the whole model in bf16 to merge and publish it"] if self.merges else []
        advice = []
        if self.shard > 1 and not qlora:
            advice.append(
                "finetuning: lora with quantization.load_in_4bit: true (QLoRA): every rank loads the whole model "
                "before sharding, whatever the number of GPUs"
            )
        if reasons:
            advice.append("a bigger GPU (hardware.gpu_type / gpu_memory_gib): " + "; ".join(reasons))
        return advice


def _activation_terms(shape: ModelShape, spec, stage: str, compute_bytes: int, recipe: Recipe) -> list[Term]:
    # DPO concatenates chosen and rejected: twice the sequences per forward.
    b = spec.per_device_batch_size * (2 if stage == "dpo" else 1)
    s, h, i, a = spec.max_length, shape.hidden_size, shape.intermediate_size, shape.num_attention_heads
    scale = compute_bytes / 2  # Korthikanti's figures are for 16-bit activations
    # Korthikanti eq. 1 with SDPA/FlashAttention (no s^2 scores kept: the 5as/h term is 0), no dropout masks
    # and a SwiGLU MLP: attention 10sbh, two norms 4sbh, MLP input 2sbh + gate, up, act, product 4 x 2sbi.
    per_layer = s * b * (16 * h + 8 * i) * scale
    if recipe.finetuning == "lora" and recipe.lora.dropout > 0:
        # PEFT keeps dropout(x) for each adapted projection's lora_A backward.
        per_layer += s * b * sum(shape.projections()[t][0] for t in recipe.lora.target_modules) * 2 * scale
    layers = shape.num_hidden_layers
    if spec.gradient_checkpointing:
        # Korthikanti section 4: full recomputation keeps the layer input (2sbh), plus one layer recomputed.
        acts = layers * 2 * s * b * h * scale + per_layer
        how = f"checkpointed: {layers} layers x 2sbh + 1 recomputed layer (s={s}, b={b}, h={h})"
    else:
        acts = layers * per_layer
        how = f"{layers} layers x sb(16h + 8i), no recompute (s={s}, b={b}, h={h}, i={i}, a={a})"
    logits = s * b * shape.vocab_size * (compute_bytes + 4 + 4 + 4)
    return [
        Term("activations", acts, how),
        Term(
            "logits + loss",
            logits,
            f"s*b*V x ({compute_bytes} logits + 4 log-softmax + 4 its grad + 4 fp32 logits grad), V={shape.vocab_size}",
        ),
    ]


def _advice(recipe: Recipe, stage: str, spec, shard: int) -> list[str]:
    """The settings that lower this plan, the cheapest first."""
    advice = []
    if spec.per_device_batch_size > 1:
        advice.append(
            f"{stage}.per_device_batch_size {spec.per_device_batch_size} -> {max(spec.per_device_batch_size // 2, 1)} "
            "(raise gradient_accumulation_steps to keep the effective batch)"
        )
    if not spec.gradient_checkpointing:
        advice.append(f"{stage}.gradient_checkpointing: true")
    advice.append(f"{stage}.max_length {spec.max_length} -> {spec.max_length // 2} (and max_example_tokens)")
    if recipe.finetuning == "full":
        advice.append("finetuning: lora with quantization.load_in_4bit: true (QLoRA)")
    elif not recipe.quantization.load_in_4bit:
        advice.append("quantization.load_in_4bit: true (QLoRA)")
    if shard == 1:
        advice.append("hardware.sharding: fsdp over more GPUs (hardware.gpus_per_node / nodes)")
    else:
        advice.append("more GPUs (hardware.gpus_per_node / nodes): the sharded terms divide by the world size")
    advice.append("a bigger GPU (hardware.gpu_type / gpu_memory_gib)")
    return advice


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Per-GPU memory plan of a recipe's training stages")
    parser.add_argument("--recipe", required=True, help="shipped recipe name or YAML path")
    parser.add_argument(
        "--config", help="the base model's config.json (else the recipe's tiny model or a known hub id)"
    )
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    config = json.loads(Path(args.config).read_text()) if args.config else None
    for stage in ("sft", recipe.preference_stage):
        print(plan_memory(recipe, stage, config).markdown(), end="\n\n")


if __name__ == "__main__":
    main()
