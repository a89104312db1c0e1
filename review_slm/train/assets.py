"""Training assets: resolve the parent model, SFT, preference pairs from the SFT model, DPO."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypedDict, Unpack

import dagster as dg

from review_slm.core import tables
from review_slm.core.feedback import FEEDBACK_KINDS, feedback_pairs
from review_slm.core.pairing import build_preference_pairs
from review_slm.core.prompts import student_messages
from review_slm.core.quality_gates import GateConfig
from review_slm.core.recipe import Recipe, StageSpec
from review_slm.gold.manifest import GoldSetManifest
from review_slm.partitions import iteration_asset
from review_slm.resources.artifact_layout import IterationArtifacts, Scratch, iteration
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.feedback_source import FeedbackSource
from review_slm.resources.launcher import TrainerFailed, TrainerReport, TrainingLauncher
from review_slm.resources.student_tokenizer import StudentTokenizer
from review_slm.resources.tracking import MlflowTracking
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm.train.loss_metadata import loss_metadata
from review_slm.train.manifest import CandidateModel, ParentModel, PreferencePairs, SftPolicy
from review_slm.training.job_spec import GenerateRequest, JobSpec, Task, TrainerOutputs
from review_slm.training.memory_plan import MemoryPlan, Stage, plan_memory
from review_slm.training.pipes_report import FailureKey, FailureKind, ReportKey
from review_slm.training.plots import loss_plot_artifact


def _run_trainer(
    context: dg.AssetExecutionContext,
    rec: Recipe,
    stage_name: str,
    make_spec: Callable[[Recipe], JobSpec],
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    params: dict,
) -> tuple[str, TrainerReport, dict]:
    """Open the asset's MLflow run, launch the entrypoint with it, close the run whatever happens.

    Out of memory: relaunch with the micro-batch halved and accumulation doubled (same effective
    batch; the relaunch resumes from the last checkpoint) down to `resilience.min_micro_batch`.
    A classified failure (divergence, out of memory at the floor) fails the asset without retries;
    a crash (the process was killed) is left to the asset's retry policy, which resumes.
    Returns the run, the trainer's report, and its metadata with the retries made.
    """
    run_id = tracking.start_asset_run(context, params)
    attempts: list[str] = []
    try:
        while True:
            stage: StageSpec = getattr(rec, stage_name)
            attempts.append(f"{stage.per_device_batch_size}x{stage.gradient_accumulation_steps}")
            try:
                report = launcher.launch(context, make_spec(rec), tracking.trainer_env(run_id))
                break
            except TrainerFailed as failure:
                smaller = stage.halved_micro_batch() if failure.kind == FailureKind.OOM else None
                if smaller is None or smaller.per_device_batch_size < rec.resilience.min_micro_batch:
                    raise _failure(failure, attempts, rec, tracking, run_id) from None
                context.log.warning(
                    f"{failure} -> retrying with micro-batch {smaller.per_device_batch_size} x "
                    f"accumulation {smaller.gradient_accumulation_steps} (same effective batch "
                    f"{smaller.effective_batch})"
                )
                rec = rec.model_copy(update={stage_name: smaller})
    except Exception:
        tracking.set_tags(run_id, {"review_slm.micro_batch_attempts": " -> ".join(attempts)})
        tracking.end_run(run_id, failed=True)
        raise
    result = {
        **report.metadata,
        "oom_retries": len(attempts) - 1,
        "micro_batch_attempts": " -> ".join(attempts),
        ReportKey.RESUMED_FROM_STEP.value: report.resumed_from_step,  # a plain str: Dagster serialises no Enum label
    }
    tracking.set_tags(
        run_id,
        {
            "review_slm.micro_batch_attempts": result["micro_batch_attempts"],
            "review_slm.resumed_from_step": str(report.resumed_from_step),
        },
    )
    numeric: dict[str, float] = {
        k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    tracking.log_metrics(run_id, numeric)
    tracking.end_run(run_id)
    return run_id, report, result


def _failure(
    failure: TrainerFailed, attempts: list[str], rec: Recipe, tracking: MlflowTracking, run_id: str
) -> dg.Failure:
    """The asset's failure for a classified trainer failure: says what happened and, for OOM, what was tried."""
    details = {k: v for k, v in failure.details.items() if k not in set(FailureKey)}
    if failure.kind == FailureKind.OOM:
        description = (
            f"out of memory at every micro-batch tried (micro-batch x accumulation: {', '.join(attempts)}); "
            f"the floor is resilience.min_micro_batch={rec.resilience.min_micro_batch}. Last error: {failure}"
        )
    else:
        description = f"{failure.kind}: {failure}. Nothing was promoted."
    tracking.set_tags(
        run_id, {"review_slm.failure": failure.kind, **{f"review_slm.failure.{k}": str(v) for k, v in details.items()}}
    )
    tracking.log_text(run_id, description, "failure.txt")
    metadata = {
        "failure": failure.kind,
        "micro_batch_attempts": " -> ".join(attempts),
        "mlflow_run_id": run_id,
        **{k: str(v) if isinstance(v, float) else v for k, v in details.items() if v is not None},
    }
    return dg.Failure(description=description, metadata=metadata, allow_retries=False)


def _trainer_metadata(result: dict) -> dict:
    """What the trainer reported, as Dagster metadata (nested values as JSON)."""
    return {
        k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in result.items() if v is not None
    }


# A killed or preempted trainer is retried; the retry resumes from the last checkpoint of this
# iteration. Divergence and out-of-memory-at-the-floor raise `dg.Failure(allow_retries=False)`.
TRAINING_RETRY = dg.RetryPolicy(max_retries=2, delay=1)


@dataclass
class Trained:
    """One trainer run of `sft_adapter` or `dpo_model`: its MLflow run, its report and where it wrote."""

    run_id: str
    result: dict  # what the trainer reported, with the retries made: the asset's metadata
    scratch: str
    history: list[dict]
    memory_plan: str


class _Inputs(TypedDict, total=False):
    """The data files a training job reads (JobSpec's staged input files)."""

    train_file: str
    val_file: str
    pairs_file: str


def _train(
    context: dg.AssetExecutionContext,
    asset: Literal["sft_adapter", "dpo_model"],
    task: Task,
    stage_name: Stage,
    parent: ParentModel,
    layout: IterationArtifacts,
    recipe: TrainingRecipe,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    params: dict,
    adapter_dir: str | None = None,
    **inputs: Unpack[_Inputs],
) -> Trained:
    """The part `sft_adapter` and `dpo_model` share: a fresh scratch place, the typed job spec (rebuilt
    per attempt: an OOM retry shrinks the micro-batch), the trainer under MLflow, its loss history."""
    scratch = layout.scratch(asset)

    def make_spec(attempt: Recipe) -> JobSpec:
        return JobSpec(
            task=task,
            recipe=attempt,
            cache_dir=recipe.cache_dir,
            parent_model=parent.model_uri,
            output_dir=scratch,
            checkpoint_uri=layout.checkpoints(asset),
            adapter_dir=adapter_dir,
            **inputs,
        )

    plan = _check_memory_plan(context, recipe.load(), stage_name)
    params = {"recipe": recipe.load().label, "parent_model": parent.model_uri, **params}
    run_id, report, result = _run_trainer(context, recipe.load(), stage_name, make_spec, tracking, launcher, params)
    return Trained(run_id, result, scratch, report.loss_history, plan.markdown())


def _check_memory_plan(context: dg.AssetExecutionContext, rec: Recipe, stage_name: Stage) -> MemoryPlan:
    """Log the per-GPU memory plan; refuse, before any GPU time is spent, a CUDA launch that cannot fit the
    recipe's GPU (naming the settings to change)."""
    plan = plan_memory(rec, stage_name)
    context.log.info(plan.line())
    metadata = {"memory_plan": dg.MetadataValue.md(plan.markdown())}
    if plan.on_cuda and not plan.fits:
        raise dg.Failure(description=plan.refusal(), metadata=metadata, allow_retries=False)
    return plan


def _trained_metadata(trained: Trained, parent: ParentModel, tracking: MlflowTracking, stage: str) -> dict:
    # The loss headline first: the trainer's report repeats `first_loss` / `final_loss`, which keep this place.
    plot_url = tracking.artifact_url(trained.run_id, loss_plot_artifact(stage))
    return {
        **loss_metadata(trained.history, stage, plot_url),
        **_trainer_metadata(trained.result),
        "parent_model": parent.model_uri,
        "parent_iteration": parent.parent_iteration or "none (first iteration)",
        "mlflow_run_id": trained.run_id,
        "mlflow_run": dg.MetadataValue.url(tracking.run_url(trained.run_id)),
        "memory_plan": dg.MetadataValue.md(trained.memory_plan),
    }


@iteration_asset(
    group="training",
    kinds={"mlflow"},
    code_version="1",
    description="Resolve Version: the model this iteration starts from, i.e. what the last promoted earlier iteration "
    "deployed (MLflow registry), or the recipe's base model for the first iteration.",
)
def parent_model(
    context: dg.AssetExecutionContext, tracking: MlflowTracking, recipe: TrainingRecipe
) -> dg.Output[ParentModel]:
    key = context.partition_key
    rec = recipe.load()
    promoted = tracking.promoted_before(key)  # the N-1 champion: a registry lookup, the one edge outside the graph
    if promoted is None:
        parent = ParentModel(
            model_uri=rec.base_model, parent_iteration=None, registry_version=None, kind="recipe base", recipe=rec.label
        )
    else:
        parent = ParentModel(
            model_uri=promoted.source,
            parent_iteration=promoted.iteration,
            registry_version=promoted.version,
            kind="promoted model",
            recipe=rec.label,
        )
    context.log.info(f"iteration {key} starts from {parent.kind} {parent.model_uri}")
    return dg.Output(
        parent,
        metadata={
            "model_uri": parent.model_uri,
            "parent_iteration": parent.parent_iteration or "none (first iteration)",
            "registry_version": parent.registry_version or "none",
            "recipe": rec.label,
        },
    )


@iteration_asset(
    group="training",
    kinds={"pytorch", "huggingface", "mlflow"},
    code_version="1",
    retry_policy=TRAINING_RETRY,
    description="Supervised fine-tuning of the parent model on the gold train split with TRL SFTTrainer, "
    "assistant-only "
    "loss: a LoRA adapter (QLoRA 4-bit on CUDA) for a pretrained base, full weights for the random-weight embedded "
    "default. Runs the training entrypoint over Dagster Pipes.",
)
def sft_adapter(
    context: dg.AssetExecutionContext,
    gold_set: GoldSetManifest,
    parent_model: ParentModel,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.Output[SftPolicy]:
    layout = iteration(artifacts, context.partition_key)
    rec = recipe.load()
    params = {
        "parent_iteration": parent_model.parent_iteration,
        "finetuning": rec.finetuning,
        "lora_r": rec.lora.r,
        "lora_alpha": rec.lora.alpha,
        "curriculum": rec.curriculum,
        **{f"sft.{k}": v for k, v in rec.sft.model_dump().items()},
    }
    trained = _train(
        context,
        "sft_adapter",
        "sft",
        "sft",
        parent_model,
        layout,
        recipe,
        tracking,
        launcher,
        params,
        train_file=gold_set.train.uri,
        val_file=gold_set.val.uri,
    )
    uri = artifacts.promote_dir(artifacts.join(trained.scratch, TrainerOutputs.SFT_ADAPTER), layout.sft_adapter)
    return dg.Output(
        SftPolicy(policy_uri=uri, parent_model_uri=parent_model.model_uri, mlflow_run_id=trained.run_id),
        metadata={**_trained_metadata(trained, parent_model, tracking, "sft"), "uri": uri},
    )


class PreferencePairsConfig(dg.Config):
    min_quality_gap: float = 0.25
    reject_lazy: bool = True
    """Also pair every buggy prompt's gold review against "No issues found." (see `build_preference_pairs`)."""
    reject_noise: bool = True
    """Also pair every clean prompt's empty review against invented findings (see `build_preference_pairs`)."""


@iteration_asset(
    group="training",
    kinds={"pytorch", "huggingface"},
    code_version="1",
    description="The SFT model reviews training prompts; where the rubric finds its answer weaker than gold (lazy "
    "no-issues, missed or wrong findings, invalid format) the pair (chosen = gold, rejected = its answer) is kept. "
    "Merged with pairs from feedback on the reviewer's own PR comments (accepted / corrected / dismissed).",
)
def preference_pairs(
    context: dg.AssetExecutionContext,
    config: PreferencePairsConfig,
    sft_adapter: SftPolicy,
    gold_set: GoldSetManifest,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
    feedback: FeedbackSource,
) -> dg.Output[PreferencePairs]:
    layout = iteration(artifacts, context.partition_key)
    rec = recipe.load()
    if rec.preference_method == "grpo":
        # GRPO samples and scores its own answers (dpo_model reads the gold split): generating the SFT
        # model's answers here would cost a trainer run for pairs nobody reads. Recorded, not hidden.
        uri = artifacts.write_table(layout.pairs, [], tables.PAIRS)
        context.log.info(f"no preference pairs built: {rec.method} learns from its own samples, not from pairs")
        return dg.Output(
            PreferencePairs(pairs_uri=uri, pairs=0, prompts=0, sft_answers_uri=None),
            metadata={"prompts": 0, "pairs": 0, "skipped": f"{rec.method}: GRPO needs no pairs", "uri": uri},
        )
    train = sorted(artifacts.read_table(gold_set.train.uri), key=lambda r: r["id"])[: rec.generation.max_prompts]
    scratch = layout.scratch("preference_pairs")
    prompts = [{"id": r["id"], "messages": student_messages(r["path"], r["language"], r["diff_hunk"])} for r in train]
    request = GenerateRequest(
        name="sft",
        model=sft_adapter.parent_model_uri,
        adapter=sft_adapter.policy_uri,
        prompts_file=artifacts.write_table(artifacts.join(scratch, Scratch.PROMPTS), prompts, tables.PROMPTS),
        output_file=artifacts.join(scratch, Scratch.answers("sft")),
    )
    launcher.launch(context, JobSpec(task="generate", recipe=rec, cache_dir=recipe.cache_dir, generate=[request]), {})
    answers = {a["id"]: a["answer"] for a in artifacts.read_table(request.output_file)}
    outcome = build_preference_pairs(train, answers, config.min_quality_gap, config.reject_lazy, config.reject_noise)
    # Feedback on the reviewer's own comments: the same gates as mined reviews (secrets, budget, duplicates).
    malformed: Counter[str] = Counter()
    items = [item for repo in feedback.repos for item in feedback.items(repo, malformed)]
    fed = feedback_pairs(
        items,
        GateConfig(max_example_tokens=rec.max_example_tokens),
        tuple(recipe.languages),
        StudentTokenizer(rec, recipe.cache_dir).count_examples,
    )
    pairs = outcome.pairs + fed.pairs
    uri = artifacts.write_table(layout.pairs, pairs, tables.PAIRS)
    answers_uri = artifacts.write_table(
        layout.sft_answers, [{"id": i, "answer": a} for i, a in answers.items()], tables.ANSWERS
    )
    return dg.Output(
        PreferencePairs(pairs_uri=uri, pairs=len(pairs), prompts=len(train), sft_answers_uri=answers_uri),
        metadata={
            "prompts": len(train),
            "pairs": len(outcome.pairs) + len(fed.pairs),
            **{
                f"rejected_{kind}" if kind not in ("matched_gold", "no_answer") else kind: n
                for kind, n in sorted(outcome.kinds.items())
            },
            "pairs_on_clean_prompts": outcome.by_prompt["clean"],
            "pairs_on_buggy_prompts": outcome.by_prompt["buggy"],
            "feedback_comments": len(items),
            "feedback_pairs": len(fed.pairs),
            **{f"feedback_{kind}": fed.kinds.get(kind, 0) for kind in FEEDBACK_KINDS},
            "feedback_no_signal": fed.kinds.get("no_signal", 0),
            **{f"feedback_quarantined_{reason}": n for reason, n in sorted(fed.quarantined.items())},
            "feedback_secrets_redacted": fed.secrets_redacted,
            "feedback_malformed": sum(malformed.values()),
            **{f"feedback_malformed_{name}": n for name, n in sorted(malformed.items())},
            "uri": uri,
        },
    )


@iteration_asset(
    group="training",
    kinds={"pytorch", "huggingface", "mlflow"},
    code_version="1",
    retry_policy=TRAINING_RETRY,
    description="The recipe's preference method on the SFT policy: DPO with TRL DPOTrainer (reference = the frozen SFT "
    "policy, not the bare base), ORPO (reference-free), or GRPO (`sft+grpo`: TRL GRPOTrainer rewarded by the "
    "evaluation's rubric on the gold train prompts), then merged into full weights: the candidate model of this "
    "iteration.",
)
def dpo_model(
    context: dg.AssetExecutionContext,
    preference_pairs: PreferencePairs,
    sft_adapter: SftPolicy,
    parent_model: ParentModel,
    gold_set: GoldSetManifest,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.Output[CandidateModel]:
    layout = iteration(artifacts, context.partition_key)
    rec = recipe.load()
    method, stage = rec.preference_method, rec.preference_stage
    params = {"method": method, **{f"{stage}.{k}": v for k, v in getattr(rec, stage).model_dump().items()}}
    # DPO/ORPO learn from the preference pairs; GRPO samples its own answers to the gold train prompts.
    data = (
        _Inputs(train_file=gold_set.train.uri) if method == "grpo" else _Inputs(pairs_file=preference_pairs.pairs_uri)
    )
    trained = _train(
        context,
        "dpo_model",
        method,
        stage,
        parent_model,
        layout,
        recipe,
        tracking,
        launcher,
        params,
        adapter_dir=sft_adapter.policy_uri,
        **data,
    )
    uri = artifacts.promote_dir(artifacts.join(trained.scratch, TrainerOutputs.MERGED_MODEL), layout.candidate_model)
    # The preference-tuned LoRA adapter too: a server already running the parent model can load it
    # instead of rolling out the merged weights (KServe `lora_hot_load`). There is none when there were
    # no pairs, or with `finetuning: full`, whose policy is full weights, not an adapter.
    policy = artifacts.join(trained.scratch, TrainerOutputs.policy(method))
    is_adapter = artifacts.exists(artifacts.join(policy, TrainerOutputs.ADAPTER_MARKER))
    adapter_uri = artifacts.promote_dir(policy, layout.candidate_adapter) if is_adapter else None
    candidate = CandidateModel(
        model_uri=uri,
        adapter_uri=adapter_uri,
        parent_model_uri=parent_model.model_uri,
        method=method,
        mlflow_run_id=trained.run_id,
    )
    return dg.Output(
        candidate,
        metadata={
            **_trained_metadata(trained, parent_model, tracking, method),
            "model_uri": uri,
            "adapter_uri": adapter_uri
            or (
                "none (full fine-tuning: the policy is full weights)"
                if rec.finetuning == "full"
                else "none (no preference pairs)"
            ),
        },
    )
