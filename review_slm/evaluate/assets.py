"""Evaluation: candidate vs base vs current champion on the frozen test split and the bug suite,
and the blocking promotion check."""

import dagster as dg

from review_slm.core import tables
from review_slm.core.judge import judge_requests, judge_scores
from review_slm.core.prompts import student_messages
from review_slm.evaluate.eval_sets import eval_items
from review_slm.evaluate.manifest import EvaluationManifest
from review_slm.evaluate.promotion_gate import with_judge
from review_slm.evaluate.report import evaluate
from review_slm.evaluate.report_metadata import eval_report_metadata, report_markdown, sample_records
from review_slm.gold.manifest import GoldSetManifest
from review_slm.partitions import iteration_asset, iteration_partitions, requires_iteration
from review_slm.resources.artifact_layout import Scratch, iteration
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.launcher import TrainingLauncher
from review_slm.resources.manifest_io import read_manifest
from review_slm.resources.teacher import Teacher
from review_slm.resources.teacher_cache import TeacherCache
from review_slm.resources.tracking import MlflowTracking
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm.train.manifest import CandidateModel
from review_slm.training.job_spec import GenerateRequest, JobSpec


class EvalReportConfig(dg.Config):
    regression_tolerance: float = 0.02
    """How much the gate's score may drop (and the no-issues rate rise) against the reference."""


@iteration_asset(
    group="evaluation",
    kinds={"pytorch", "mlflow"},
    code_version="1",
    description="Candidate vs base vs current champion on the frozen test split and the labelled bug suite: finding "
    "recall/precision (same file, line within 3), severity accuracy, format validity, no-issues rate on buggy diffs.",
)
def eval_report(
    context: dg.AssetExecutionContext,
    config: EvalReportConfig,
    dpo_model: CandidateModel,
    gold_set: GoldSetManifest,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
    teacher: Teacher,
) -> dg.Output[EvaluationManifest]:
    key = context.partition_key
    layout = iteration(artifacts, key)
    rec = recipe.load()
    items = eval_items(artifacts.read_table(gold_set.test.uri), tuple(recipe.languages))
    scratch = layout.scratch("eval_report")
    prompts = [{"id": i["id"], "messages": student_messages(i["path"], i["language"], i["diff_hunk"])} for i in items]
    prompts_file = artifacts.write_table(artifacts.join(scratch, Scratch.PROMPTS), prompts, tables.PROMPTS)

    models = {"candidate": dpo_model.model_uri, "base": rec.base_model}
    champion = tracking.promoted_before(key)
    if champion is not None:
        models["champion"] = champion.source
    requests = [
        GenerateRequest(
            name=name, model=ref, prompts_file=prompts_file, output_file=artifacts.join(scratch, Scratch.answers(name))
        )
        for name, ref in models.items()
    ]
    run_id = tracking.start_asset_run(
        context, {"recipe": rec.label, "eval_items": len(items), **{f"model.{k}": v for k, v in models.items()}}
    )
    try:
        launcher.launch(
            context,
            JobSpec(task="generate", recipe=rec, cache_dir=recipe.cache_dir, generate=requests),
            tracking.trainer_env(run_id),
        )
    except Exception:
        tracking.end_run(run_id, failed=True)  # never leave a run RUNNING in MLflow
        raise

    answers_by_model = {r.name: {a["id"]: a["answer"] for a in artifacts.read_table(r.output_file)} for r in requests}
    # The teacher, when one answers, is one more column: how far the student is from what it distils.
    # Through the teacher cache: evaluating the same partition again asks the teacher nothing.
    teacher_answers, teacher_absent = teacher.answer_prompts(
        prompts, progress=context.log.info, cache_factory=_teacher_cache(artifacts, key, context.run.run_id)
    )
    teacher_failed_items = len(prompts) - len(teacher_answers) if teacher_answers is not None else 0
    if teacher_answers is not None and not teacher_answers:
        teacher_answers, teacher_absent = None, f"every item failed: {teacher_absent}"
    if teacher_absent and teacher_absent != "no teacher model":
        context.log.warning(f"teacher column in this evaluation: {teacher_absent}")
    if teacher_answers is not None:
        answers_by_model["teacher"] = {a["id"]: a["answer"] for a in teacher_answers}
        artifacts.write_table(artifacts.join(scratch, Scratch.answers("teacher")), teacher_answers, tables.ANSWERS)

    # The teacher is scored on the items it answered; the ones it failed on are counted, not scored as wrong.
    evaluation = evaluate(items, answers_by_model, config.regression_tolerance, partial=("teacher",))
    judge_scores, judge_metadata = _judge(context, teacher, items, answers_by_model, artifacts, key)
    if rec.gate.use_judge:
        evaluation.decision = with_judge(
            evaluation.decision,
            judge_scores.get("candidate"),
            judge_scores.get(evaluation.reference),
            config.regression_tolerance,
        )
    tracking.log_metrics(
        run_id, {**evaluation.mlflow_metrics(), **{f"{m}/judge_score": v for m, v in judge_scores.items()}}
    )
    report = evaluation.report(
        key, models, config.regression_tolerance, champion.iteration if champion else None, run_id, answers_by_model
    )
    uri = artifacts.write_json(layout.eval_report, report)
    samples = sample_records(items, answers_by_model)
    samples_uri = artifacts.write_table(layout.eval_samples, samples, tables.EVAL_SAMPLES)
    tracking.log_text(run_id, report_markdown(key, evaluation), "eval_report.md")
    tracking.end_run(run_id)
    context.log.info(f"evaluation of {key}:\n{evaluation.table()}\ngate: {evaluation.decision.reason}")
    manifest = EvaluationManifest(
        report_uri=uri,
        gate=evaluation.decision,
        tolerance=config.regression_tolerance,
        candidate_score=evaluation.by_set["candidate"]["all"].score,
        champion_iteration=champion.iteration if champion else None,
        mlflow_run_id=run_id,
    )
    return dg.Output(
        manifest,
        metadata=eval_report_metadata(
            evaluation,
            samples=samples,
            samples_uri=samples_uri,
            report_uri=uri,
            teacher={
                "teacher_compared": "yes" if teacher_answers is not None else f"no: {teacher_absent}",
                "teacher_failed_items": teacher_failed_items,
            },
            judge=judge_metadata,
            mlflow_run_id=run_id,
            mlflow_run_url=tracking.run_url(run_id),
        ),
    )


def _judge(
    context: dg.AssetExecutionContext,
    teacher: Teacher,
    items: list[dict],
    answers_by_model: dict[str, dict[str, str]],
    artifacts: ArtifactStore,
    key: str,
) -> tuple[dict[str, float], dict]:
    """Each compared model's judge score (core/judge.py) and the metadata: `<model>_judge_score` (0-1),
    `judge_failed_items`, and `judge` (the model, or why there is none)."""
    verdicts, why = teacher.judge(
        judge_requests(items, answers_by_model),
        cache_factory=_teacher_cache(artifacts, key, context.run.run_id),
        progress=context.log.info,
    )
    if verdicts is None:
        if why != "no judge model":
            context.log.warning(f"no judge scores in this evaluation: {why}")
        return {}, {"judge": f"no: {why}"}
    if why:
        context.log.warning(f"judge: {why}")
    scores = judge_scores(verdicts)
    answered = sum(len(a) for a in answers_by_model.values())
    return scores, {
        "judge": "yes",
        "judge_failed_items": answered - sum(len(v) for v in verdicts.values()),
        **{f"{model}_judge_score": score for model, score in scores.items()},
    }


def _teacher_cache(artifacts: ArtifactStore, key: str, run_id: str):
    def open_cache(model: str, digest: str) -> TeacherCache:
        return TeacherCache(artifacts, model, run_name=f"{key}-eval-{run_id[:8]}", digest=digest)

    return open_cache


@dg.asset_check(
    asset=eval_report,
    blocking=True,
    partitions_def=iteration_partitions,
    description="Promotion gate: no regression against the champion (the base for the first iteration) beyond the "
    "configured tolerance. Blocking: a failing candidate is never deployed and the champion stays.",
)
@requires_iteration
def no_regression_vs_champion(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    # The manifest from where the IO manager stored it, not as an input: see gold/checks.py's `_check`.
    gate = read_manifest(artifacts, context.partition_key, eval_report.key.to_user_string(), EvaluationManifest).gate
    return dg.AssetCheckResult(
        passed=gate.passed,
        metadata={
            "reference": gate.reference,
            "score_delta": gate.score_delta,
            "no_issues_delta": gate.no_issues_delta,
            "clean_accuracy_delta": gate.clean_accuracy_delta,
            "reason": gate.reason,
        },
    )
