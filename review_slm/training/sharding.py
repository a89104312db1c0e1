"""Sharded training (`hardware.sharding: fsdp`): PyTorch FSDP2 (`fully_shard`) through the Trainer's own
configuration (`fsdp` / `fsdp_config`, handed to accelerate's FSDP plugin), not a training loop of ours.

What a sharded recipe changes:
- the trainer arguments (`trainer_arguments`): FSDP2, parameters resharded after each forward, checkpoints
  as torch distributed checkpoint shards (`SHARDED_STATE_DICT`: one `.distcp` file per rank, which DCP
  re-slices on load, so a checkpoint written by 2 ranks resumes on 1 or on 16), FSDP's own activation
  checkpointing from the stage's `gradient_checkpointing`, and mixed precision from `bf16` (accelerate then
  computes in bf16 with fp32 master weights);
- QLoRA stores its 4-bit weights in the compute dtype (`models.quantization_config`), the one storage FSDP
  can shard;
- at the end, the state dict type turns to `FULL_STATE_DICT` (`gather_for_saving`): every rank joins the
  gather and rank 0 writes an ordinary model or adapter, which it merges and publishes as without sharding.
"""

from __future__ import annotations

from transformers import TrainerCallback

from review_slm.core.recipe import Recipe, StageSpec

# Where the Trainer (via accelerate) writes a sharded checkpoint's model and optimizer state.
SHARDED_MODEL_DIR = "pytorch_model_fsdp_0"


def is_sharded(recipe: Recipe) -> bool:
    return recipe.hardware.sharding == "fsdp"


def trainer_arguments(stage: StageSpec) -> dict:
    """The `TrainingArguments` keys a sharded stage sets (transformers 5 `fsdp_config`, FSDP2)."""
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "reshard_after_forward": True,
            "state_dict_type": "SHARDED_STATE_DICT",
            # FSDP's checkpointing wraps each decoder layer; the Trainer's own would all-gather again in backward
            # (transformers refuses both at once).
            "activation_checkpointing": stage.gradient_checkpointing,
            "cpu_ram_efficient_loading": False,
        },
        "activation_checkpointing": False,
        "activation_checkpointing_kwargs": None,
    }


def shard_on_cpu(trainer) -> None:
    """Turn accelerate's state to FSDP where accelerate 1.15 leaves it out: on CPU processes.

    Why hand-written: accelerate's `AcceleratorState` becomes FSDP only for GPU-class distributed types
    (state.py: MULTI_GPU, MULTI_XPU, ...); a gloo run on CPU stays MULTI_CPU, drops the FSDP plugin without a
    word and trains DDP. FSDP2 itself shards on CPU with gloo (torch 2.13), so the plugin the Trainer built from
    `fsdp_config` is put back in place before `train()` prepares the model. On CUDA this does nothing.
    A DPO reference model was already placed when the trainer was built: on CPU it stays whole on each rank.
    """
    from accelerate import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = trainer.accelerator.state
    if trainer.args.fsdp_plugin_args is None or state.distributed_type != DistributedType.MULTI_CPU:
        return
    # Both shared states, as accelerate does on GPU: each new AcceleratorState copies PartialState's type.
    state.distributed_type = PartialState().distributed_type = DistributedType.FSDP
    state.fsdp_plugin = FullyShardedDataParallelPlugin(**trainer.args.fsdp_plugin_args)
    trainer.is_fsdp_enabled = True


def gather_for_saving(trainer) -> None:
    """After training: the next `save_model` gathers full weights (every rank must call it) for rank 0 to write."""
    if getattr(trainer, "is_fsdp_enabled", False):
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")


class RequireSharded(TrainerCallback):
    """Fails a sharded recipe's run at its first step if the model the Trainer trains is not FSDP-sharded, rather
    than let it train every weight on every rank (what a dropped FSDP plugin silently does)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        from torch.distributed.fsdp import FSDPModule

        if not isinstance(model, FSDPModule):
            raise RuntimeError(
                f"hardware.sharding: fsdp, but the Trainer prepared a {type(model).__name__}, not an FSDP2 module "
                "(accelerate did not enable its FSDP plugin)"
            )
