"""GRPO (TRL `GRPOTrainer`) on the SFT policy: the student samples several answers per training prompt,
the rubric's reward functions (`core/rewards.py`) score each against the gold review, and the policy
moves towards the answers that beat their group's mean. Unlike DPO it needs no pairs someone built:
it explores, and is scored by what the evaluation scores. The result is merged into full weights,
like the preference methods (once the trainer's memory is released), so everything downstream of `dpo_model`
is unchanged.

Generation: `model.generate` in the trainer process on CPU; vLLM (TRL's colocate or server mode) on
CUDA when the recipe sets `grpo.use_vllm` and vLLM is installed.
"""

from __future__ import annotations

import json
from pathlib import Path

from review_slm.core.prompts import student_messages
from review_slm.core.recipe import GrpoSpec
from review_slm.core.rewards import reward_funcs
from review_slm.training.data import read_rows
from review_slm.training.job_spec import JobSpec, TrainerOutputs
from review_slm.training.methods.common import TrainingRun, trainer_kwargs
from review_slm.training.methods.preference import publish_merged
from review_slm.training.models import device, load_policy, load_tokenizer, resolve_model_ref
from review_slm.training.pipes_report import ReportKey
from review_slm.training.sharding import is_sharded


def grpo_rows(gold_rows: list[dict]) -> list[dict]:
    """Conversational prompts plus the columns the reward functions read (TRL passes extra columns through)."""
    return [
        {
            "prompt": student_messages(r["path"], r["language"], r["diff_hunk"]),
            "gold": json.dumps(r["review"], ensure_ascii=False),
            "path": r["path"],
        }
        for r in gold_rows
    ]


def vllm_enabled(stage: GrpoSpec) -> bool:
    """vLLM only where TRL can use it: asked for, on CUDA, and installed; otherwise `model.generate`."""
    if not stage.use_vllm or device() != "cuda":
        return False
    from trl.import_utils import is_vllm_available

    return bool(is_vllm_available())


def grpo_config(stage: GrpoSpec, output_dir: Path, weights: list[float], sharded: bool = False):
    from trl import GRPOConfig  # pyright: ignore[reportPrivateImportUsage]  (trl's lazy __init__ exports it)

    kwargs = trainer_kwargs(stage, output_dir, sharded=sharded)
    kwargs.pop("max_length")  # GRPO bounds the completion (max_completion_length), not the whole sequence
    use_vllm = vllm_enabled(stage)
    vllm = (
        {
            "use_vllm": True,
            "vllm_mode": stage.vllm_mode,
            "vllm_gpu_memory_utilization": stage.vllm_gpu_memory_utilization,
        }
        if use_vllm
        else {}
    )
    return GRPOConfig(
        **kwargs,
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        temperature=stage.temperature,
        top_k=stage.top_k,
        beta=stage.beta,
        loss_type=stage.loss_type,
        scale_rewards=stage.scale_rewards,
        reward_weights=weights,
        log_completions=False,
        **vllm,
    )


def train_policy(
    spec: JobSpec,
    model_ref: tuple[str, str | None],
    rows: list[dict],
    tokenizer,
    pipes,
    mlflow_client,
    run_id: str | None,
) -> tuple[Path, dict]:
    """Trains and saves the GRPO policy; returns (its folder, the result to report). Nothing it built outlives the
    call: the trainer, its model, optimizer and reference are locals of this frame (`preference.train_policy`)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import GRPOTrainer  # pyright: ignore[reportPrivateImportUsage]  (trl's lazy __init__ exports it)

    recipe, (model_path, revision) = spec.recipe, model_ref
    stage = recipe.grpo
    out_dir = Path(spec.needed("output_dir"))
    funcs, weights = reward_funcs(stage.reward_weights)
    pipes.log.info(
        f"GRPO on {len(rows)} prompts from the SFT policy, {stage.num_generations} answers each, rewards "
        + ", ".join(f"{f.__name__}x{w:g}" for f, w in zip(funcs, weights, strict=True))
    )
    set_seed(stage.seed)
    session = TrainingRun("grpo", spec, recipe, stage, pipes, mlflow_client, run_id, [spec.needed("train_file")])
    sharded = is_sharded(recipe)
    model = load_policy(
        model_path, revision, Path(spec.needed("adapter_dir")), recipe.quantization, trainable=True, sharded=sharded
    )
    args = grpo_config(stage, out_dir / "checkpoints", weights, sharded)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,  # pyright: ignore[reportArgumentType]  (list invariance: each is a RewardFunc callable)
        args=args,
        train_dataset=Dataset.from_list(grpo_rows(rows)),
        processing_class=tokenizer,
        callbacks=session.callbacks(),
    )
    if stage.use_vllm and not args.use_vllm:
        pipes.log.warning(
            f"grpo.use_vllm is set but vLLM cannot run here (device {device()}, or vllm not installed): "
            "generating with model.generate"
        )
    session.train(trainer)
    policy_dir = out_dir / TrainerOutputs.policy("grpo")
    trainer.save_model(str(policy_dir))
    summary = session.finish(trainer)
    rewards = [h["reward"] for h in summary[ReportKey.LOSS_HISTORY] if "reward" in h]
    return policy_dir, {
        "method": "grpo",
        "prompts": len(rows),
        "generation": "vllm" if args.use_vllm else "generate",
        **summary,
        "first_reward": round(rewards[0], 4) if rewards else None,
        "final_reward": round(rewards[-1], 4) if rewards else None,
    }


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    recipe = spec.recipe
    model_ref = resolve_model_ref(spec.needed("parent_model"), recipe, Path(spec.cache_dir))
    tokenizer = load_tokenizer(*model_ref)
    rows = read_rows(spec.needed("train_file"))[: recipe.grpo.max_prompts]
    policy_dir, result = train_policy(spec, model_ref, rows, tokenizer, pipes, mlflow_client, run_id)
    publish_merged(spec, model_ref, policy_dir, tokenizer)
    return result
