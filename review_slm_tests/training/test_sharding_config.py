"""What a sharded recipe hands transformers and bitsandbytes, checked without training (QLoRA needs CUDA, so
on CPU its sharded configuration is the part that can be checked)."""

import torch

from review_slm.core.recipe import load_recipe
from review_slm.training import models
from review_slm.training.methods.common import trainer_kwargs
from review_slm.training.sharding import is_sharded


def test_a_sharded_stage_asks_the_trainer_for_fsdp2_with_sharded_checkpoints(tmp_path):
    from trl import SFTConfig

    recipe = load_recipe("qwen2.5-coder-7b-full-fsdp")
    assert is_sharded(recipe) and not is_sharded(load_recipe("qwen2.5-coder-7b-qlora"))
    stage = recipe.sft.model_copy(update={"gradient_checkpointing": True})
    kwargs = trainer_kwargs(stage, tmp_path, sharded=True)
    # A process group even for one rank (the entrypoint makes one); built here outside any group, so without it.
    assert kwargs.pop("ddp_backend") == "gloo"
    args = SFTConfig(**kwargs)
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2 and plugin["state_dict_type"] == "SHARDED_STATE_DICT"
    assert plugin["reshard_after_forward"] is True
    # FSDP's activation checkpointing, not the Trainer's (transformers refuses both at once).
    assert plugin["activation_checkpointing"] is True and not args.activation_checkpointing
    unsharded = SFTConfig(**trainer_kwargs(stage, tmp_path))
    assert unsharded.fsdp_plugin_args is None and unsharded.activation_checkpointing


def test_sharded_qlora_stores_its_4bit_weights_in_the_compute_dtype(monkeypatch):
    spec = load_recipe("qwen2.5-coder-7b-qlora").quantization
    monkeypatch.setattr(models, "device", lambda: "cuda")  # the config is built on CUDA only
    sharded, single = models.quantization_config(spec, sharded=True), models.quantization_config(spec)
    assert sharded.bnb_4bit_quant_storage == torch.bfloat16 == sharded.bnb_4bit_compute_dtype
    assert single.bnb_4bit_quant_storage == torch.uint8  # bitsandbytes' default: FSDP cannot shard it
    assert sharded.load_in_4bit and sharded.bnb_4bit_quant_type == "nf4"
