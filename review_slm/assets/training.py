"""Training assets: resolve the parent model, SFT, preference pairs from the SFT model, DPO."""


from collections.abc import Callable

import dagster as dg

from review_slm.assets.data import gold_set
from review_slm.assets.partitions import iteration_partitions
from review_slm.core.pairing import build_preference_pairs
from review_slm.core.prompts import student_messages
from review_slm.core.recipe import Recipe, StageSpec
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.launcher import TrainerFailed, TrainingLauncher
from review_slm.resources.recipes import TrainingRecipe
from review_slm.resources.tracking import MlflowTracking


def _loss_table(history: list[dict], every: int = 1) -> dg.MetadataValue:
    shown = ("loss", "grad_norm", "learning_rate", "rewards_accuracies", "reward")
    keys = [k for k in shown if any(k in h for h in history)]
    lines = ["| step | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for h in history[::every]:
        lines.append(f"| {h['step']} | " + " | ".join(f"{h[k]:.4g}" if k in h else "" for k in keys) + " |")
    return dg.MetadataValue.md("\n".join(lines))


def _loss_metadata(history: list[dict], stage: str) -> dict:
    """The loss curve as a chart the UI shows inline, and the logged steps as a table (every ~20th)."""
    if not any("loss" in h for h in history):
        return {}
    from review_slm.training.plots import loss_figure, markdown_image, png_bytes

    return {"loss_plot": dg.MetadataValue.md(markdown_image(png_bytes(loss_figure(history, stage)), f"{stage} loss")),
            "loss_curve": _loss_table(history, every=max(1, len(history) // 20))}


def _run_trainer(
    context: dg.AssetExecutionContext, rec: Recipe, stage_name: str, make_spec: Callable[[Recipe], dict],
    tracking: MlflowTracking, launcher: TrainingLauncher, params: dict,
) -> tuple[str, dict]:
    """Open the asset's MLflow run, launch the entrypoint with it, close the run whatever happens.

    Out of memory: relaunch with the micro-batch halved and accumulation doubled (same effective
    batch; the relaunch resumes from the last checkpoint) down to `resilience.min_micro_batch`.
    A classified failure (divergence, out of memory at the floor) fails the asset without retries;
    a crash (the process was killed) is left to the asset's retry policy, which resumes.
    """
    run_id = tracking.start_asset_run(context, params)
    attempts: list[str] = []
    try:
        while True:
            stage: StageSpec = getattr(rec, stage_name)
            attempts.append(f"{stage.per_device_batch_size}x{stage.gradient_accumulation_steps}")
            try:
                result = launcher.launch(context, make_spec(rec), tracking.trainer_env(run_id))
                break
            except TrainerFailed as failure:
                smaller = stage.halved_micro_batch() if failure.kind == "oom" else None
                if smaller is None or smaller.per_device_batch_size < rec.resilience.min_micro_batch:
                    raise _failure(failure, attempts, rec, tracking, run_id) from None
                context.log.warning(f"{failure} -> retrying with micro-batch {smaller.per_device_batch_size} x "
                                    f"accumulation {smaller.gradient_accumulation_steps} (same effective batch {smaller.effective_batch})")
                rec = rec.model_copy(update={stage_name: smaller})
    except Exception:
        tracking.set_tags(run_id, {"review_slm.micro_batch_attempts": " -> ".join(attempts)})
        tracking.end_run(run_id, failed=True)
        raise
    result["oom_retries"] = len(attempts) - 1
    result["micro_batch_attempts"] = " -> ".join(attempts)
    result["resumed_from_step"] = result.get("resumed_from_step") or 0
    tracking.set_tags(run_id, {"review_slm.micro_batch_attempts": result["micro_batch_attempts"],
                               "review_slm.resumed_from_step": str(result["resumed_from_step"])})
    numeric = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    tracking.log_metrics(run_id, numeric)
    tracking.end_run(run_id)
    return run_id, result


def _failure(failure: TrainerFailed, attempts: list[str], rec: Recipe, tracking: MlflowTracking, run_id: str) -> dg.Failure:
    """The asset's failure for a classified trainer failure: says what happened and, for OOM, what was tried."""
    details = {k: v for k, v in failure.details.items() if k not in ("failure", "message")}
    if failure.kind == "oom":
        description = (f"out of memory at every micro-batch tried (micro-batch x accumulation: {', '.join(attempts)}); "
                       f"the floor is resilience.min_micro_batch={rec.resilience.min_micro_batch}. Last error: {failure}")
    else:
        description = f"{failure.kind}: {failure}. Nothing was promoted."
    tracking.set_tags(run_id, {"review_slm.failure": failure.kind, **{f"review_slm.failure.{k}": str(v) for k, v in details.items()}})
    tracking.log_text(run_id, description, "failure.txt")
    metadata = {"failure": failure.kind, "micro_batch_attempts": " -> ".join(attempts), "mlflow_run_id": run_id,
                **{k: str(v) if isinstance(v, float) else v for k, v in details.items() if v is not None}}
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


def _training_spec(task: str, attempt: Recipe, recipe: TrainingRecipe, parent: dict, scratch: str, checkpoint_uri: str,
                   **inputs: str) -> dict:
    """The job spec the entrypoint reads: `attempt` is the recipe of this attempt (micro-batch after OOM retries).

    Every input and output is a URI of the artifact store (a local path, or s3:// in the k8s profile):
    the trainer may run in a pod that does not share this process' filesystem.
    """
    return {"task": task, "recipe": attempt.model_dump(mode="json"), "cache_dir": recipe.cache_dir,
            "parent_model": parent["model_uri"], "output_dir": scratch, "checkpoint_uri": checkpoint_uri, **inputs}


def _trainer_metadata(result: dict) -> dict:
    """What the trainer reported, as Dagster metadata (nested values as JSON)."""
    return {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in result.items() if v is not None}


# A killed or preempted trainer is retried; the retry resumes from the last checkpoint of this
# iteration. Divergence and out-of-memory-at-the-floor raise `dg.Failure(allow_retries=False)`.
TRAINING_RETRY = dg.RetryPolicy(max_retries=2, delay=1)


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
    retry_policy=TRAINING_RETRY,
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
    scratch = artifacts.scratch_uri(key, "sft_adapter")

    def make_spec(attempt: Recipe) -> dict:
        return _training_spec(
            "sft", attempt, recipe, parent, scratch, artifacts.iteration_uri(key, "sft_adapter", "checkpoints"),
            train_file=artifacts.iteration_uri(key, "gold_set", "train.jsonl"),
            val_file=artifacts.iteration_uri(key, "gold_set", "val.jsonl"),
        )

    params = {"recipe": rec.label, "parent_model": parent["model_uri"], "parent_iteration": parent["parent_iteration"],
              "finetuning": rec.finetuning, "lora_r": rec.lora.r, "lora_alpha": rec.lora.alpha, "curriculum": rec.curriculum,
              **{f"sft.{k}": v for k, v in rec.sft.model_dump().items()}}
    run_id, result = _run_trainer(context, rec, "sft", make_spec, tracking, launcher, params)
    uri = artifacts.promote_dir(artifacts.join(scratch, "adapter"), artifacts.iteration_uri(key, "sft_adapter", "adapter"))
    history = result.pop("loss_history", [])
    return dg.MaterializeResult(
        metadata={
            **_trainer_metadata(result),
            "parent_model": parent["model_uri"],
            "parent_iteration": parent["parent_iteration"] or "none (first iteration)",
            "uri": uri,
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
            **_loss_metadata(history, "sft"),
        }
    )


class PreferencePairsConfig(dg.Config):
    min_quality_gap: float = 0.25
    reject_lazy: bool = True
    """Also pair every buggy prompt's gold review against "No issues found." (see `build_preference_pairs`)."""


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
    scratch = artifacts.scratch_uri(key, "preference_pairs")
    prompts_file = artifacts.write_jsonl(artifacts.join(scratch, "prompts.jsonl"),
                                         [{"id": r["id"], "messages": student_messages(r["path"], r["language"], r["diff_hunk"])} for r in train])
    answers_file = artifacts.join(scratch, "answers.jsonl")
    spec = {
        "task": "generate",
        "recipe": rec.model_dump(mode="json"),
        "cache_dir": recipe.cache_dir,
        "generate": [{
            "name": "sft",
            "model": parent["model_uri"],
            "adapter": artifacts.iteration_uri(key, "sft_adapter", "adapter"),
            "prompts_file": prompts_file,
            "output_file": answers_file,
        }],
    }
    launcher.launch(context, spec, {})
    answers = {a["id"]: a["answer"] for a in artifacts.read_jsonl(answers_file)}
    outcome = build_preference_pairs(train, answers, config.min_quality_gap, config.reject_lazy)
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
    retry_policy=TRAINING_RETRY,
    description="The recipe's preference method on the SFT policy: DPO with TRL DPOTrainer (reference = the frozen SFT "
    "policy, not the bare base), ORPO (reference-free), or GRPO (`sft+grpo`: TRL GRPOTrainer rewarded by the "
    "evaluation's rubric on the gold train prompts), then merged into full weights: the candidate model of this "
    "iteration.",
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
    scratch = artifacts.scratch_uri(key, "dpo_model")
    method, stage = rec.preference_method, rec.preference_stage
    # DPO/ORPO learn from the preference pairs; GRPO samples its own answers to the gold train prompts.
    data = ({"prompts_file": artifacts.iteration_uri(key, "gold_set", "train.jsonl")} if method == "grpo"
            else {"pairs_file": artifacts.iteration_uri(key, "preference_pairs", "pairs.jsonl")})

    def make_spec(attempt: Recipe) -> dict:
        return _training_spec(
            method, attempt, recipe, parent, scratch, artifacts.iteration_uri(key, "dpo_model", "checkpoints"),
            adapter_dir=artifacts.iteration_uri(key, "sft_adapter", "adapter"), **data,
        )

    params = {"recipe": rec.label, "parent_model": parent["model_uri"], "method": method,
              **{f"{stage}.{k}": v for k, v in getattr(rec, stage).model_dump().items()}}
    run_id, result = _run_trainer(context, rec, stage, make_spec, tracking, launcher, params)
    uri = artifacts.promote_dir(artifacts.join(scratch, "merged"), artifacts.iteration_uri(key, "dpo_model", "model"))
    # The preference-tuned LoRA adapter too: a server already running the parent model can load it
    # instead of rolling out the merged weights (KServe `lora_hot_load`). There is none when there were
    # no pairs, or with `finetuning: full`, whose policy is full weights, not an adapter.
    policy = artifacts.join(scratch, f"{method}_policy")
    is_adapter = artifacts.exists(artifacts.join(policy, "adapter_config.json"))
    adapter_uri = artifacts.promote_dir(policy, artifacts.iteration_uri(key, "dpo_model", "adapter")) if is_adapter else None
    artifacts.write_json(artifacts.iteration_uri(key, "dpo_model", "outputs.json"),
                         {"model_uri": uri, "adapter_uri": adapter_uri, "parent_model": parent["model_uri"]})
    history = result.pop("loss_history", [])
    return dg.MaterializeResult(
        metadata={
            **_trainer_metadata(result),
            "model_uri": uri,
            "adapter_uri": adapter_uri or ("none (full fine-tuning: the policy is full weights)" if rec.finetuning == "full"
                                           else "none (no preference pairs)"),
            "parent_model": parent["model_uri"],
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
            **_loss_metadata(history, method),
        }
    )
