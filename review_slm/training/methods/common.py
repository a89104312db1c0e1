"""Pieces every training method shares: trainer arguments from a recipe stage, the LoRA config,
and `TrainingRun`, which wraps `trainer.train()` with resume, checkpoints, guards and telemetry."""

from __future__ import annotations

import time
from pathlib import Path

from transformers import TrainerCallback

from review_slm.core.recipe import Recipe, StageSpec
from review_slm.training import distributed, sharding
from review_slm.training.checkpoints import open_checkpoint_store, run_fingerprint
from review_slm.training.faults import fault_callbacks
from review_slm.training.guards import DivergenceGuard, TrainingFailure, is_out_of_memory, out_of_memory_failure
from review_slm.training.job_spec import JobSpec
from review_slm.training.models import device
from review_slm.training.pipes_report import ReportKey
from review_slm.training.repro import record_lock, reproducibility_lock
from review_slm.training.telemetry import PipesMlflowCallback, run_summary


def trainer_kwargs(stage: StageSpec, output_dir: Path, sequential: bool = False, sharded: bool = False) -> dict:
    """`sharded`: the recipe's `hardware.sharding: fsdp` (FSDP2 settings from sharding.py on top)."""
    on_cuda = device() == "cuda"
    kwargs = {
        "output_dir": str(output_dir),
        "max_steps": stage.max_steps,
        "num_train_epochs": stage.epochs,
        "learning_rate": stage.learning_rate,
        "lr_scheduler_type": stage.lr_scheduler,
        "warmup_steps": stage.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": stage.weight_decay,
        "per_device_train_batch_size": stage.per_device_batch_size,
        "gradient_accumulation_steps": stage.gradient_accumulation_steps,
        "max_length": stage.max_length,
        "activation_checkpointing": stage.gradient_checkpointing,  # transformers 5 name for gradient checkpointing
        "activation_checkpointing_kwargs": {"use_reentrant": False} if stage.gradient_checkpointing else None,
        "logging_steps": stage.logging_steps,
        # NaN/inf must reach the divergence guard: the default filter would log the previous mean instead.
        "logging_nan_inf_filter": False,
        "include_num_input_tokens_seen": "non_padding",
        "seed": stage.seed,
        # Checkpoints land in a local staging folder; CheckpointPromoter copies each into the store.
        "save_strategy": "steps" if stage.save_steps else "no",
        "save_steps": stage.save_steps or 500,
        "save_total_limit": 1,
        # Curriculum order must survive: a sequential sampler instead of the default shuffle.
        "train_sampling_strategy": "sequential" if sequential else "random",
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": not on_cuda,
        "bf16": on_cuda,
        "ddp_backend": distributed.ddp_backend(on_cuda, sharded),
        "dataloader_num_workers": 0,
    }
    return {**kwargs, **sharding.trainer_arguments(stage)} if sharded else kwargs


def lora_config(recipe: Recipe):
    """LoRA for `finetuning: lora` (QLoRA when the base loads in 4 bit); None trains full weights."""
    if recipe.finetuning == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=list(recipe.lora.target_modules),
        task_type="CAUSAL_LM",
    )


def describe_adapter_mode(recipe: Recipe) -> str:
    if recipe.finetuning == "full":
        return "full"
    if recipe.quantization.load_in_4bit and device() == "cuda":
        return "qlora-4bit"
    if recipe.quantization.load_in_4bit:
        return "lora (QLoRA requested; 4-bit needs CUDA, trained in float32 on CPU)"
    return "lora"


def log_loss_plot(client, run_id: str | None, history: list[dict], stage: str) -> None:
    """A loss curve attached to the MLflow run: people look at it rather than read the numbers."""
    if client is None or not run_id or not any("loss" in h for h in history):
        return
    import matplotlib.pyplot as plt

    from review_slm.training.plots import loss_figure, loss_plot_artifact

    fig = loss_figure(history, stage)
    client.log_figure(run_id, fig, loss_plot_artifact(stage))
    plt.close(fig)


def release_training_memory() -> None:
    """After the function that built the trainer has returned: collect the reference cycles that still hold its
    model, optimizer states and reference model, and hand the freed blocks back to the GPU, so that rank 0's merge,
    which loads the whole base, does not stack on top of them (memory_plan's "load: merging to publish")."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class CheckpointPromoter(TrainerCallback):
    """Copies each checkpoint the Trainer writes into the checkpoint store (rank 0 only)."""

    def __init__(self, store, fingerprint: str, pipes):
        self.store, self.fingerprint, self.pipes = store, fingerprint, pipes
        self.promoted: list[int] = []

    def on_save(self, args, state, control, **kwargs):
        distributed.barrier()  # every rank has written its RNG state into the folder
        if state.is_world_process_zero:
            local = Path(str(args.output_dir)) / f"checkpoint-{state.global_step}"
            ckpt = self.store.promote(local, state.global_step, self.fingerprint)
            self.promoted.append(state.global_step)
            self.pipes.log.info(f"checkpoint at step {state.global_step} -> {ckpt.uri}")
        distributed.barrier()


class TrainingRun:
    """One `trainer.train()` with everything a production run needs around it.

    Before: reproducibility lock on the MLflow run, the newest checkpoint of the same run to resume
    from. During: telemetry, divergence guard, checkpoint promotion, injected faults (tests only).
    After: the summary (with `resumed_from_step`), the loss plot; out of memory becomes a
    `TrainingFailure` the orchestrator can retry with a smaller micro-batch.
    """

    def __init__(
        self,
        task: str,
        spec: JobSpec,
        recipe: Recipe,
        stage: StageSpec,
        pipes,
        mlflow_client,
        run_id: str | None,
        data_files: list[str],
    ):
        self.task, self.spec, self.recipe, self.stage = task, spec, recipe, stage
        self.pipes, self.client, self.run_id = pipes, mlflow_client, run_id
        self.started = time.monotonic()
        self.telemetry = PipesMlflowCallback(pipes, task, mlflow_client, run_id)
        self.store = open_checkpoint_store(spec.checkpoint_uri) if spec.checkpoint_uri else None
        self.fingerprint = run_fingerprint(
            task,
            stage,
            data_files,
            (spec.parent_model or ""),
            # DDP and FSDP checkpoints do not mix; a sharded one resumes at another world size (same global batch).
            {"sharding": recipe.hardware.sharding, "adapter": (spec.adapter_dir or "")},
            world_size=distributed.world_size(),
        )
        self.resume = self.store.latest(self.fingerprint) if self.store else None
        self.promoter = CheckpointPromoter(self.store, self.fingerprint, pipes) if self.store else None
        self.lock = reproducibility_lock(recipe, task)
        if distributed.is_main_process():
            record_lock(mlflow_client, run_id, recipe, self.lock)

    def callbacks(self) -> list:
        extra: list[object] = [self.promoter] if self.promoter else []
        # GRPO's policy-gradient loss sits near zero and changes sign, so a ratio to its running mean says
        # nothing: only non-finite values are divergence there.
        guard = DivergenceGuard(self.recipe.resilience, self.task, judge_spikes=self.task != "grpo")
        if sharding.is_sharded(self.recipe):
            extra.append(sharding.RequireSharded())
        return [guard, self.telemetry, *extra, *fault_callbacks(self.task, resumed=self.resume is not None)]

    def train(self, trainer):
        resume_dir = None
        if self.store is not None and self.resume is not None:
            resume_dir = str(self.store.fetch(self.resume, Path(self.spec.needed("output_dir")) / "resume"))
            self.pipes.log.info(
                f"{self.task}: resuming from the checkpoint at step {self.resume.step} ({self.resume.uri})"
            )
        if sharding.is_sharded(self.recipe):
            sharding.shard_on_cpu(trainer)
        try:
            output = trainer.train(resume_from_checkpoint=resume_dir)
            sharding.gather_for_saving(trainer)
            return output
        except TrainingFailure:
            raise
        except Exception as err:
            if is_out_of_memory(err):
                raise out_of_memory_failure(
                    err, self.stage.per_device_batch_size, self.stage.gradient_accumulation_steps, self.task
                ) from err
            raise

    def finish(self, trainer) -> dict:
        """After the result is saved: forget the checkpoints, plot the loss, summarise the run."""
        if self.store is not None and distributed.is_main_process():
            self.store.clear()
        log_loss_plot(self.client, self.run_id, self.telemetry.history, self.task)
        model = trainer.model
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        tokens = trainer.state.num_input_tokens_seen or self.telemetry.tokens_seen
        summary = run_summary(
            self.recipe,
            self.telemetry.history,
            tokens,
            time.monotonic() - self.started,
            distributed.world_size(),
            device() == "cuda",
            trainable,
            total,
        )
        return {
            **summary,
            ReportKey.RESUMED_FROM_STEP: self.resume.step if self.resume else None,
            "checkpoints_promoted": len(self.promoter.promoted) if self.promoter else 0,
            "micro_batch": self.stage.per_device_batch_size,
            "gradient_accumulation": self.stage.gradient_accumulation_steps,
            "world_size": distributed.world_size(),
            "git_commit": self.lock["git_commit"],
            "training_stack": self.lock["versions"],
            ReportKey.LOSS_HISTORY: self.telemetry.history,
        }
