"""Training assets: resolve the parent model, SFT, preference pairs from the SFT model, DPO."""


from collections import Counter
from pathlib import Path

import dagster as dg

from review_slm.assets.data import gold_set
from review_slm.assets.partitions import iteration_partitions
from review_slm.core.pairing import build_preference_pairs
from review_slm.core.prompts import student_messages
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.launcher import TrainingLauncher
from review_slm.resources.recipes import TrainingRecipe
from review_slm.resources.tracking import MlflowTracking


def _loss_table(history: list[dict], every: int = 1) -> dg.MetadataValue:
    keys = [k for k in ("loss", "grad_norm", "learning_rate", "rewards_accuracies") if any(k in h for h in history)]
    lines = ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for h in history[::every]:
        lines.append(f"| {h['step']} | " + " | ".join(f"{h[k]:.4g}" if k in h else "" for k in keys) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _run_trainer(
    context: dg.AssetExecutionContext, spec: dict, tracking: MlflowTracking, launcher: TrainingLauncher, params: dict
) -> tuple[str, dict]:
    """Open the asset's MLflow run, launch the entrypoint with it, close the run whatever happens."""
    run_id = tracking.start_asset_run(context, params)
    try:
        result = launcher.launch(context, spec, tracking.trainer_env(run_id))
    except Exception:
        tracking.end_run(run_id, failed=True)
        raise
    numeric = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tracking.log_metrics(run_id, numeric)
    tracking.end_run(run_id)
    return run_id, result


def _parent(artifacts: ArtifactStore, key: str) -> dict:
    return artifacts.read_json(artifacts.iteration_uri(key, "parent_model", "parent.json"))


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="training",
    kinds={"mlflow"},
    code_version="1",
    description="Resolve Version: the model this iteration starts from, i.e. what the last promoted earlier iteration "
    "deployed (MLflow registry), or the recipe's base model for the first iteration.",
)
def parent_model(context: dg.AssetExecutionContext, tracking: MlflowTracking, recipe: TrainingRecipe, artifacts: ArtifactStore) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    promoted = tracking.promoted_before(key)
    if promoted is None:
        parent = {"model_uri": rec.base_model, "parent_iteration": None, "registry_version": None, "kind": "recipe base"}
    else:
        parent = {"model_uri": promoted.source, "parent_iteration": promoted.iteration, "registry_version": promoted.version, "kind": "promoted model"}
    parent["recipe"] = rec.label
    artifacts.write_json(artifacts.iteration_uri(key, "parent_model", "parent.json"), parent)
    context.log.info(f"iteration {key} starts from {parent['kind']} {parent['model_uri']}")
    return dg.MaterializeResult(
        metadata={
            "model_uri": parent["model_uri"],
            "parent_iteration": parent["parent_iteration"] or "none (first iteration)",
            "registry_version": parent["registry_version"] or "none",
            "recipe": rec.label,
        }
    )


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="training",
    kinds={"pytorch", "huggingface", "mlflow"},
    code_version="1",
    deps=[gold_set, parent_model],
    description="Supervised fine-tuning of a LoRA adapter (QLoRA 4-bit on CUDA) on the gold train split with TRL "
    "SFTTrainer, assistant-only loss, starting from the parent model. Runs the training entrypoint over Dagster Pipes.",
)
def sft_adapter(
    context: dg.AssetExecutionContext,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    parent = _parent(artifacts, key)
    scratch = artifacts.scratch_dir(key, "sft_adapter")
    spec = {
        "task": "sft",
        "recipe": rec.model_dump(mode="json"),
        "cache_dir": recipe.cache_dir,
        "parent_model": parent["model_uri"],
        "train_file": str(artifacts.local_path(artifacts.iteration_uri(key, "gold_set", "train.jsonl"))),
        "val_file": str(artifacts.local_path(artifacts.iteration_uri(key, "gold_set", "val.jsonl"))),
        "output_dir": str(scratch),
    }
    params = {"recipe": rec.label, "parent_model": parent["model_uri"], "parent_iteration": parent["parent_iteration"],
              "lora_r": rec.lora.r, "lora_alpha": rec.lora.alpha, **{f"sft.{k}": v for k, v in rec.sft.model_dump().items()}}
    run_id, result = _run_trainer(context, spec, tracking, launcher, params)
    uri = artifacts.put_dir(scratch / "adapter", artifacts.iteration_uri(key, "sft_adapter", "adapter"))
    history = result.pop("loss_history", [])
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in result.items() if v is not None},
            "parent_model": parent["model_uri"],
            "parent_iteration": parent["parent_iteration"] or "none (first iteration)",
            "uri": uri,
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
            "loss_curve": _loss_table(history, every=max(1, len(history) // 20)),
        }
    )


class PreferencePairsConfig(dg.Config):
    min_quality_gap: float = 0.25


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="training",
    kinds={"pytorch", "huggingface"},
    code_version="1",
    deps=[sft_adapter],
    description="The SFT model reviews training prompts; where the rubric finds its answer weaker than gold (lazy "
    "no-issues, missed or wrong findings, invalid format) the pair (chosen = gold, rejected = its answer) is kept.",
)
def preference_pairs(
    context: dg.AssetExecutionContext,
    config: PreferencePairsConfig,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    parent = _parent(artifacts, key)
    train = sorted(artifacts.read_jsonl(artifacts.iteration_uri(key, "gold_set", "train.jsonl")), key=lambda r: r["id"])
    train = train[: rec.generation.max_prompts]
    scratch = artifacts.scratch_dir(key, "preference_pairs")
    prompts_file = scratch / "prompts.jsonl"
    artifacts.write_jsonl(str(prompts_file), [{"id": r["id"], "messages": student_messages(r["path"], r["language"], r["diff_hunk"])} for r in train])
    spec = {
        "task": "generate",
        "recipe": rec.model_dump(mode="json"),
        "cache_dir": recipe.cache_dir,
        "generate": [{
            "name": "sft",
            "model": parent["model_uri"],
            "adapter": str(artifacts.local_path(artifacts.iteration_uri(key, "sft_adapter", "adapter"))),
            "prompts_file": str(prompts_file),
            "output_file": str(scratch / "answers.jsonl"),
        }],
    }
    launcher.launch(context, spec, {})
    answers = {a["id"]: a["answer"] for a in artifacts.read_jsonl(str(scratch / "answers.jsonl"))}
    outcome = build_preference_pairs(train, answers, config.min_quality_gap)
    uri = artifacts.write_jsonl(artifacts.iteration_uri(key, "preference_pairs", "pairs.jsonl"), outcome.pairs)
    artifacts.write_jsonl(artifacts.iteration_uri(key, "preference_pairs", "sft_answers.jsonl"),
                          [{"id": i, "answer": a} for i, a in answers.items()])
    return dg.MaterializeResult(
        metadata={
            "prompts": len(train),
            "pairs": len(outcome.pairs),
            **{f"rejected_{kind}" if kind not in ("matched_gold", "no_answer") else kind: n for kind, n in sorted(outcome.kinds.items())},
            "uri": uri,
        }
    )


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="training",
    kinds={"pytorch", "huggingface", "mlflow"},
    code_version="1",
    deps=[preference_pairs, sft_adapter],
    description="DPO with TRL DPOTrainer from the SFT policy (reference = the frozen SFT adapter, not the bare base), "
    "then merged into full weights: the candidate model of this iteration.",
)
def dpo_model(
    context: dg.AssetExecutionContext,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    parent = _parent(artifacts, key)
    scratch = artifacts.scratch_dir(key, "dpo_model")
    spec = {
        "task": "dpo",
        "recipe": rec.model_dump(mode="json"),
        "cache_dir": recipe.cache_dir,
        "parent_model": parent["model_uri"],
        "adapter_dir": str(artifacts.local_path(artifacts.iteration_uri(key, "sft_adapter", "adapter"))),
        "pairs_file": str(artifacts.local_path(artifacts.iteration_uri(key, "preference_pairs", "pairs.jsonl"))),
        "output_dir": str(scratch),
    }
    params = {"recipe": rec.label, "parent_model": parent["model_uri"], **{f"dpo.{k}": v for k, v in rec.dpo.model_dump().items()}}
    run_id, result = _run_trainer(context, spec, tracking, launcher, params)
    uri = artifacts.put_dir(Path(scratch) / "merged", artifacts.iteration_uri(key, "dpo_model", "model"))
    history = result.pop("loss_history", [])
    return dg.MaterializeResult(
        metadata={
            **{k: v for k, v in result.items() if v is not None},
            "model_uri": uri,
            "parent_model": parent["model_uri"],
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
            "loss_curve": _loss_table(history),
        }
    )
