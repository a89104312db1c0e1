"""Resolve a model reference to something `from_pretrained` can load, and load it for training.

References: `builtin:tiny-qwen2` (built locally), a local folder, an `s3://` model directory (the
artifact store's layout, with its manifest; downloaded once into `<cache_dir>/s3/` and refreshed
only where the manifest changed), or a Hugging Face hub id (`Qwen/Qwen2.5-Coder-1.5B-Instruct`,
optionally `id@revision`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from review_slm.core.recipe import QuantizationSpec, Recipe
from review_slm.training.chat import prepare_tokenizer
from review_slm.training.io import s3_cache
from review_slm.training.object_store import ObjectStore, is_s3_uri
from review_slm.training.tiny_model import BUILTIN_TINY, ensure_tiny_model

log = logging.getLogger(__name__)


def resolve_model_ref(ref: str, recipe: Recipe, cache_dir: Path) -> tuple[str, str | None]:
    """Returns (path or hub id, revision)."""
    if ref == BUILTIN_TINY:
        if recipe.tiny_model is None:
            raise ValueError(f"recipe {recipe.label} uses {BUILTIN_TINY} but has no tiny_model section")
        return str(ensure_tiny_model(recipe.tiny_model, cache_dir)), None
    if is_s3_uri(ref):
        return str(ObjectStore.from_env().fetch_dir(ref, s3_cache(cache_dir))), None
    local = ref.removeprefix("file://")
    if Path(local).exists():
        return local, None
    if "://" in ref:
        raise ValueError(
            f"model {ref}: no such local folder, or an unsupported scheme (expected {BUILTIN_TINY}, "
            "a local path, file://, s3:// or a hub id)"
        )
    repo_id, _, revision = ref.partition("@")
    return repo_id, revision or None


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def set_cpu_threads(threads: int | None) -> None:
    """The recipe's `hardware.cpu_threads` on a CPU-only machine (a GPU run keeps torch's default)."""
    import torch

    if threads and device() == "cpu":
        torch.set_num_threads(threads)


def quantization_config(spec: QuantizationSpec, sharded: bool = False):
    """QLoRA config on CUDA; None on CPU, where bitsandbytes 4-bit breaks training after an eval pass.

    `sharded` (FSDP): the packed 4-bit weights are stored in the compute dtype instead of uint8, because FSDP
    shards floating-point storage only (bitsandbytes `bnb_4bit_quant_storage`, the FSDP-QLoRA recipe)."""
    if not spec.load_in_4bit:
        return None
    if device() != "cuda":
        log.warning("QLoRA 4-bit requested but no CUDA device: training plain LoRA in float32 on CPU")
        return None
    import torch
    from transformers import BitsAndBytesConfig

    compute = getattr(torch, spec.compute_dtype)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=spec.quant_type,
        bnb_4bit_use_double_quant=spec.double_quant,
        bnb_4bit_compute_dtype=compute,
        **({"bnb_4bit_quant_storage": compute} if sharded else {}),
    )


def load_tokenizer(path: str, revision: str | None = None):
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(path, revision=revision))


def attention_implementation() -> str:
    """FlashAttention 2 on CUDA when installed (packed batches then run varlen kernels), else SDPA.

    SDPA also keeps packed sequences apart: transformers builds a block-diagonal mask from the
    position ids when a batch has no attention mask.
    """
    import importlib.util

    if device() == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def load_model(
    path: str,
    revision: str | None = None,
    quantization: QuantizationSpec | None = None,
    for_training: bool = True,
    sharded: bool = False,
):
    """`sharded`: the model FSDP will shard. A 4-bit base then loads every other weight in the storage dtype too
    and skips PEFT's k-bit preparation, whose fp32 upcast of the norms would give FSDP mixed dtypes to shard
    (FSDP's own activation checkpointing replaces the one it turns on)."""
    import torch
    from transformers import AutoModelForCausalLM

    on_cuda = device() == "cuda"
    bnb = quantization_config(quantization, sharded) if (quantization and for_training) else None
    kwargs = {
        "revision": revision,
        "dtype": torch.bfloat16 if on_cuda else torch.float32,
        "attn_implementation": attention_implementation(),
    }
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        if sharded:
            kwargs["dtype"] = bnb.bnb_4bit_quant_storage
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if bnb is not None and not sharded:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    elif on_cuda:
        model = model.to("cuda")  # pyright: ignore[reportArgumentType]  (transformers types `to` via a mixin)
    return model


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def load_policy(
    model_path: str,
    revision: str | None,
    policy_dir: str | Path,
    quantization: QuantizationSpec | None,
    trainable: bool,
    sharded: bool = False,
):
    """The SFT policy: parent + LoRA adapter (a PeftModel), or the full model SFT saved."""
    if is_adapter_dir(policy_dir):
        from peft import PeftModel

        return PeftModel.from_pretrained(
            load_model(model_path, revision, quantization, for_training=trainable, sharded=sharded),
            str(policy_dir),
            is_trainable=trainable,
        )
    return load_model(str(policy_dir), None, None, for_training=trainable, sharded=sharded)
