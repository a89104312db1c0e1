"""Typed training recipes: versioned YAML files shipped in `review_slm/training/recipes/`.

Unknown keys and wrong types fail with the file, the key and what was expected, so a typo in a
recipe stops the run before any GPU time is spent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

RECIPES_PACKAGE = "review_slm.training.recipes"


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
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class QuantizationSpec(_Strict):
    """QLoRA: 4-bit NF4 base weights with double quantisation. Applied on CUDA only."""

    load_in_4bit: bool = False
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class StageSpec(_Strict):
    """Optimiser, schedule and batch shape of one training stage."""

    max_steps: int = Field(-1, ge=-1)
    epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    per_device_batch_size: int = Field(4, gt=0)
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_length: int = Field(2048, gt=0)
    gradient_checkpointing: bool = False
    logging_steps: int = Field(1, gt=0)
    seed: int = 42


class DpoSpec(StageSpec):
    beta: float = Field(0.1, gt=0)
    max_pairs: int = Field(2000, gt=0)


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(512, gt=0)
    batch_size: int = Field(8, gt=0)
    max_prompts: int = Field(512, gt=0)


class HardwareSpec(_Strict):
    """Where the recipe trains, and what an hour of it costs: the inputs of the pre-training cost estimate."""

    accelerator: Literal["cpu", "cuda"] = "cpu"
    gpus_per_node: int = Field(0, ge=0)
    nodes: int = Field(1, gt=0)
    memory: str = "8Gi"
    gpu_type: str = "none"
    peak_tflops: float = Field(0.0, ge=0, description="dense bf16 peak of one accelerator, TFLOP/s")
    assumed_mfu: float = Field(0.35, gt=0, le=1, description="model FLOPs utilisation the estimate assumes")
    gpu_hour_usd: float = Field(0.0, ge=0)


class Recipe(_Strict):
    name: str
    version: int = Field(gt=0)
    description: str = ""
    base_model: str = Field(description="hub id, local path, s3:// URI, or builtin:tiny-qwen2")
    tiny_model: TinyModelSpec | None = None
    method: Literal["sft+dpo"] = "sft+dpo"
    quantization: QuantizationSpec = QuantizationSpec()
    lora: LoraSpec = LoraSpec()
    sft: StageSpec = StageSpec()
    dpo: DpoSpec = DpoSpec()
    generation: GenerationSpec = GenerationSpec()
    hardware: HardwareSpec = HardwareSpec()
    max_example_tokens: int = Field(2048, gt=0, description="gold-set token budget: prompt + review, in student tokens")
    base_model_params_b: float | None = Field(None, gt=0, description="parameters in billions, for cost estimates")
    curriculum: bool = Field(False, description="order SFT examples from easy to hard by the gold set's difficulty score")

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version}"


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


def load_recipe(name_or_path: str) -> Recipe:
    """`tiny` / `qwen2.5-coder-1.5b-qlora` (shipped) or a path to a YAML file of your own."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text, source = path.read_text(), str(path)
    else:
        ref = resources.files(RECIPES_PACKAGE) / f"{name_or_path}.yaml"
        if not ref.is_file():
            shipped = sorted(p.name.removesuffix(".yaml") for p in resources.files(RECIPES_PACKAGE).iterdir() if p.name.endswith(".yaml"))
            raise RecipeError(f"unknown recipe '{name_or_path}': not a YAML file and not one of {shipped}")
        text, source = ref.read_text(), f"{RECIPES_PACKAGE}/{name_or_path}.yaml"
    return parse_recipe(yaml.safe_load(text), source)
