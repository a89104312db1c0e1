"""Typed training recipes: versioned YAML files shipped in `review_slm/data/recipes/`.

Unknown keys and wrong types fail with the file, the key and what was expected, so a typo in a
recipe stops the run before any GPU time is spent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RECIPES_PACKAGE = "review_slm.data.recipes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TinyModelSpec(_Strict):
    """Shape of the random-weight Qwen2 model the `builtin:tiny-qwen2` base builds locally."""

    vocab_size: int = 2048
    hidden_size: int = 64
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    seed: int = 0


class LoraSpec(_Strict):
    r: int = Field(default=8, gt=0)
    alpha: int = Field(default=16, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class QuantizationSpec(_Strict):
    """QLoRA: 4-bit NF4 base weights with double quantisation. Applied on CUDA only."""

    load_in_4bit: bool = False
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class StageSpec(_Strict):
    """Optimiser, schedule and batch shape of one training stage."""

    max_steps: int = Field(default=-1, ge=-1)
    epochs: float = Field(default=1.0, gt=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    per_device_batch_size: int = Field(default=4, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_length: int = Field(default=2048, gt=0)
    gradient_checkpointing: bool = False
    logging_steps: int = Field(default=1, gt=0)
    seed: int = 42
    packing: bool = Field(
        default=False,
        description="BFD packing with per-sequence position ids (SFT); padding-free is not used by DPO/ORPO",
    )
    save_steps: int = Field(
        default=0, ge=0, description="checkpoint to the artifact store every N optimizer steps; 0 = never"
    )

    @property
    def effective_batch(self) -> int:
        return self.per_device_batch_size * self.gradient_accumulation_steps

    def halved_micro_batch(self) -> StageSpec | None:
        """The same effective batch on a micro-batch at most half as big (what an out-of-memory retry tries).

        The new micro-batch divides the old one so the effective batch stays exact (5 -> 1, 6 -> 3, 8 -> 4);
        None when it is already 1.
        """
        micro = self.per_device_batch_size
        smaller = next((d for d in range(micro // 2, 0, -1) if micro % d == 0), None)
        if smaller is None:
            return None
        return self.model_copy(
            update={
                "per_device_batch_size": smaller,
                "gradient_accumulation_steps": self.gradient_accumulation_steps * (micro // smaller),
            }
        )


class PreferenceSpec(StageSpec):
    """The preference stage after SFT (the recipe's `dpo:` key): DPO, or ORPO with `method: sft+orpo`."""

    beta: float = Field(default=0.1, gt=0, description="DPO beta, or ORPO lambda (weight of the odds-ratio term)")
    rpo_alpha: float = Field(
        default=0.0,
        ge=0,
        description="DPO: weight of an NLL term on the chosen answer (RPO), so the policy "
        "learns the good answer it moves to instead of only moving away from the rejected one",
    )
    max_pairs: int = Field(default=2000, gt=0)


class GrpoSpec(StageSpec):
    """GRPO on the SFT policy (`method: sft+grpo`): the student samples `num_generations` answers per
    prompt, the rubric's reward functions (`core/rewards.py`) score them, and the policy moves towards
    the answers that beat their group's mean. As in TRL, the batch counts completions: a step sees
    `per_device_batch_size x gradient_accumulation_steps / num_generations` prompts (it must divide)."""

    num_generations: int = Field(default=4, ge=2, description="answers sampled per prompt (GRPO needs 2+ to compare)")
    temperature: float = Field(default=1.0, gt=0)
    top_k: int = Field(default=0, ge=0, description="0: no top-k cut")
    max_completion_length: int = Field(default=256, gt=0)
    beta: float = Field(default=0.0, ge=0, description="KL coefficient to the SFT policy; 0 loads no reference model")
    max_prompts: int = Field(default=512, gt=0, description="training prompts from the gold train split")
    loss_type: str = Field(default="dapo", description="TRL GRPO loss type (grpo, dapo, dr_grpo, bnpo, ...)")
    scale_rewards: Literal["group", "batch", "none"] = "group"
    reward_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "format": 1.0,
            "finding_match": 1.0,
            "severity": 0.5,
            "lazy_penalty": 1.0,
            "length": 0.5,
        },
        description="weight of each reward function (names in core/rewards.py); 0 leaves one out",
    )
    use_vllm: bool = Field(
        default=False, description="generate with vLLM on CUDA (TRL `use_vllm`); CPU always uses model.generate"
    )
    vllm_mode: Literal["colocate", "server"] = "colocate"
    vllm_gpu_memory_utilization: float = Field(default=0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _known_rewards(self) -> GrpoSpec:
        from review_slm.core.rewards import REWARD_NAMES

        unknown = set(self.reward_weights) - set(REWARD_NAMES)
        if unknown:
            raise ValueError(
                f"unknown reward(s) {sorted(unknown)} in reward_weights: expected some of {list(REWARD_NAMES)}"
            )
        if not any(self.reward_weights.values()):
            raise ValueError("every reward weight is 0: GRPO needs at least one reward")
        return self


class ResilienceSpec(_Strict):
    """What a run does when it runs out of memory or diverges."""

    min_micro_batch: int = Field(
        default=1, gt=0, description="out-of-memory retries halve the micro-batch down to this floor"
    )
    spike_factor: float = Field(
        default=5.0, gt=1, description="a loss above this factor of the running mean is divergence"
    )
    spike_window: int = Field(default=10, gt=0, description="logged steps in the running mean")
    spike_min_history: int = Field(
        default=3, gt=0, description="logged steps before spikes are judged (early losses swing)"
    )


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(default=512, gt=0)
    batch_size: int = Field(default=8, gt=0)
    max_prompts: int = Field(default=512, gt=0)


class HardwareSpec(_Strict):
    """Where the recipe trains, and what an hour of it costs: the inputs of the pre-training cost estimate."""

    accelerator: Literal["cpu", "cuda"] = "cpu"
    gpus_per_node: int = Field(default=0, ge=0)
    nodes: int = Field(default=1, gt=0)
    memory: str = "8Gi"
    gpu_type: str = "none"
    peak_tflops: float = Field(default=0.0, ge=0, description="dense bf16 peak of one accelerator, TFLOP/s")
    assumed_mfu: float = Field(default=0.35, gt=0, le=1, description="model FLOPs utilisation the estimate assumes")
    gpu_hour_usd: float = Field(default=0.0, ge=0)
    sharding: Literal["none", "fsdp"] = Field(
        default="none",
        description="none: every rank holds the whole model (DDP); fsdp: parameters, gradients and optimizer "
        "states sharded over all ranks (FSDP2 through the Trainer's fsdp_config; review_slm/training/sharding.py)",
    )
    gpu_memory_gib: float | None = Field(
        default=None,
        gt=0,
        description="memory of one GPU for the pre-launch memory plan; None: looked up from gpu_type "
        "(review_slm/training/memory_plan.py GPU_MEMORY_GIB)",
    )
    cpu_threads: int | None = Field(
        default=None,
        gt=0,
        description="torch intra-op threads when training on CPU (None: torch's "
        "default, one per core); 1 is fastest for a tiny model, whose ops are too small to split",
    )
    cpu_fast_paths: bool = Field(
        default=False,
        description="On CPU: the LM head from the full logits for SFT and DPO (training/lm_head.py) and, for packed "
        "SFT rows, one causal SDPA call per example (training/packed_attention.py); 0.73x the SFT time and 0.76x the "
        "DPO CPU time of the tiny student, equal to float rounding. Off by default: a recipe whose figures move with "
        "the rounding must not turn it on (the tiny recipe at rpo_alpha 2: iteration-1 validity 0.90 -> 0.36); the "
        "tiny recipe does, at an rpo_alpha whose figures hold (docs/benchmarks.md)",
    )


class GateSpec(_Strict):
    """What the promotion gate looks at besides the score and the no-issues rate."""

    use_judge: bool = Field(
        default=False,
        description="also refuse a candidate whose judge score (eval_report's candidate_judge_score) drops below the "
        "reference's by more than the tolerance; with no judge score the gate refuses (it cannot tell)",
    )


class Recipe(_Strict):
    name: str
    version: int = Field(gt=0)
    description: str = ""
    base_model: str = Field(description="hub id, local path, s3:// URI, or builtin:tiny-qwen2")
    tiny_model: TinyModelSpec | None = None
    method: Literal["sft+dpo", "sft+orpo", "sft+grpo"] = Field(
        default="sft+dpo",
        description="SFT, then this preference (DPO, ORPO) or reinforcement (GRPO) method on the SFT policy",
    )
    finetuning: Literal["lora", "full"] = Field(
        default="lora", description="LoRA adapter (QLoRA with quantization.load_in_4bit) or full weights"
    )
    quantization: QuantizationSpec = QuantizationSpec()
    lora: LoraSpec = LoraSpec()
    sft: StageSpec = StageSpec()
    dpo: PreferenceSpec = PreferenceSpec()
    grpo: GrpoSpec = GrpoSpec()
    generation: GenerationSpec = GenerationSpec()
    hardware: HardwareSpec = HardwareSpec()
    resilience: ResilienceSpec = ResilienceSpec()
    gate: GateSpec = GateSpec()
    max_example_tokens: int = Field(
        default=2048, gt=0, description="gold-set token budget: prompt + review, in student tokens"
    )
    base_model_params_b: float | None = Field(
        default=None, gt=0, description="parameters in billions, for cost estimates"
    )
    curriculum: bool = Field(
        default=False, description="order SFT examples from easy to hard by the gold set's difficulty score"
    )
    hunk_comments: Literal["change", "identical", "separate"] = Field(
        default="change",
        description="gold set: comments on one change become one example with every finding (`change`), only "
        "comments on an identical hunk text do (`identical`: the others stay examples of their own), or none "
        "(`separate`); a small student learns the format worse from many-finding examples (docs: Benchmarks)",
    )
    clean_share: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="gold set: at most this share of the kept rows are reviewed-and-passed (clean) hunks; the tiny "
        "student's answer does not depend on the hunk, so its recipe sets 0 (docs: Training)",
    )
    line_offset_copies: int = Field(
        default=0,
        ge=0,
        description="SFT: add this many copies of each example with its hunk moved to "
        "random new-file lines (findings move with it), so the student learns to copy a finding's "
        "line from the numbered prompt instead of memorising it",
    )

    @model_validator(mode="after")
    def _full_finetuning_is_not_quantized(self) -> Recipe:
        if self.finetuning == "full" and self.quantization.load_in_4bit:
            raise ValueError(
                "finetuning: full cannot train 4-bit weights; set quantization.load_in_4bit: false or use lora"
            )
        return self

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"

    @property
    def preference_method(self) -> Literal["dpo", "orpo", "grpo"]:
        methods: dict[str, Literal["dpo", "orpo", "grpo"]] = {"sft+dpo": "dpo", "sft+orpo": "orpo", "sft+grpo": "grpo"}
        return methods[self.method]

    @property
    def preference_stage(self) -> Literal["grpo", "dpo"]:
        """The recipe section of the stage after SFT: `grpo` for GRPO, `dpo` for DPO and ORPO (which share it)."""
        return "grpo" if self.preference_method == "grpo" else "dpo"


class RecipeError(ValueError):
    pass


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"invalid recipe {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<top level>"
        if e["type"] == "extra_forbidden":
            lines.append(f"  key '{key}': unknown key (check the spelling; allowed keys are the fields of its section)")
        else:
            lines.append(f"  key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_recipe(data: object, source: str) -> Recipe:
    if not isinstance(data, dict):
        raise RecipeError(f"invalid recipe {source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise RecipeError(_describe(err, source)) from None


def _merged(base: dict, override: dict) -> dict:
    """`override` on top of `base`, section by section (a nested mapping merges; anything else replaces)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def load_recipe(name_or_path: str, _seen: tuple[str, ...] = ()) -> Recipe:
    """`tiny` / `qwen2.5-coder-1.5b-qlora` (shipped) or a path to a YAML file of your own.

    A recipe with `extends: <name or path>` is that recipe with its own keys on top (e.g. `tiny-grpo`
    is `tiny` with `method: sft+grpo`), so a variant states only what differs and cannot drift.
    """
    text, source = _recipe_text(name_or_path)
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "extends" in data:
        parent = str(data.pop("extends"))
        if parent in _seen:
            raise RecipeError(f"invalid recipe {source}: 'extends' loops through {' -> '.join((*_seen, parent))}")
        data = _merged(load_recipe(parent, (*_seen, name_or_path)).model_dump(mode="json"), data)
    return parse_recipe(data, source)


def _recipe_text(name_or_path: str) -> tuple[str, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text, source = path.read_text(), str(path)
    else:
        ref = resources.files(RECIPES_PACKAGE) / f"{name_or_path}.yaml"
        if not ref.is_file():
            shipped = sorted(
                p.name.removesuffix(".yaml")
                for p in resources.files(RECIPES_PACKAGE).iterdir()
                if p.name.endswith(".yaml")
            )
            raise RecipeError(f"unknown recipe '{name_or_path}': not a YAML file and not one of {shipped}")
        text, source = ref.read_text(), f"{RECIPES_PACKAGE}/{name_or_path}.yaml"
    return text, source
