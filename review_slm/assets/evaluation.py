"""Evaluation: candidate vs base vs current champion on the frozen test split and the bug suite,
and the blocking promotion check."""


import dagster as dg

from review_slm.assets.data import gold_set
from review_slm.assets.partitions import iteration_partitions
from review_slm.assets.training import dpo_model
from review_slm.core.eval_sets import eval_items
from review_slm.core.gate import promotion_decision
from review_slm.core.metrics import (
    EVAL_SETS,
    EvalMetrics,
    group_metric_metadata,
    markdown_table,
    metrics_by_group,
    metrics_by_set,
)
from review_slm.core.prompts import render_review, student_messages
from review_slm.core.scoring import score_answer
from review_slm.core.schema import Review
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.launcher import TrainingLauncher
from review_slm.resources.recipes import TrainingRecipe
from review_slm.resources.teacher import Teacher
from review_slm.resources.tracking import MlflowTracking


class EvalReportConfig(dg.Config):
    regression_tolerance: float = 0.02
    """How much the gate's score may drop (and the no-issues rate rise) against the reference."""


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="evaluation",
    kinds={"pytorch", "mlflow"},
    code_version="1",
    deps=[dpo_model, gold_set],
    description="Candidate vs base vs current champion on the frozen test split and the labelled bug suite: finding "
    "recall/precision (same file, line within 3), severity accuracy, format validity, no-issues rate on buggy diffs.",
)
def eval_report(
    context: dg.AssetExecutionContext,
    config: EvalReportConfig,
    tracking: MlflowTracking,
    launcher: TrainingLauncher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
    teacher: Teacher,
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    items = eval_items(artifacts.read_jsonl(artifacts.iteration_uri(key, "gold_set", "test.jsonl")))
    scratch = artifacts.scratch_uri(key, "eval_report")
    prompts = [{"id": i["id"], "messages": student_messages(i["path"], i["language"], i["diff_hunk"])} for i in items]
    prompts_file = artifacts.write_jsonl(artifacts.join(scratch, "prompts.jsonl"), prompts)

    models = {"candidate": artifacts.iteration_uri(key, "dpo_model", "model"), "base": rec.base_model}
    champion = tracking.promoted_before(key)
    if champion is not None:
        models["champion"] = champion.source
    spec = {
        "task": "generate",
        "recipe": rec.model_dump(mode="json"),
        "cache_dir": recipe.cache_dir,
        "generate": [{"name": name, "model": ref, "prompts_file": prompts_file, "output_file": artifacts.join(scratch, f"{name}.jsonl")}
                     for name, ref in models.items()],
    }
    run_id = tracking.start_asset_run(context, {"recipe": rec.label, "eval_items": len(items), **{f"model.{k}": v for k, v in models.items()}})
    try:
        launcher.launch(context, spec, tracking.trainer_env(run_id))
    except Exception:
        tracking.end_run(run_id, failed=True)  # never leave a run RUNNING in MLflow
        raise

    answers_by_model = {name: {a["id"]: a["answer"] for a in artifacts.read_jsonl(artifacts.join(scratch, f"{name}.jsonl"))}
                        for name in models}
    # The teacher, when one answers, is one more column: how far the student is from what it distils.
    teacher_answers, teacher_absent = teacher.answer_prompts(prompts, progress=context.log.info)
    if teacher_answers is None and teacher_absent != "no teacher model":
        context.log.warning(f"no teacher column in this evaluation: {teacher_absent}")
    if teacher_answers is not None:
        answers_by_model["teacher"] = {a["id"]: a["answer"] for a in teacher_answers}
        artifacts.write_jsonl(artifacts.join(scratch, "teacher.jsonl"), teacher_answers)
    by_set = {name: metrics_by_set(items, answers) for name, answers in answers_by_model.items()}
    results = {name: sets["all"].as_dict() for name, sets in by_set.items()}
    for name, sets in by_set.items():
        tracking.log_metrics(run_id, {f"{name}/{k}": v for k, v in sets["all"].as_dict().items()})
        tracking.log_metrics(run_id, {f"{name}/{s}/{k}": v for s, m in sets.items() if s != "all" for k, v in m.as_dict().items()})

    reference = "champion" if "champion" in results else "base"
    by_group = {name: metrics_by_group(items, answers) for name, answers in answers_by_model.items()}
    by_group_table = markdown_table({f"{name} {g}": m.as_dict() for name, groups in by_group.items()
                                     if name in ("candidate", reference)
                                     for g, m in groups.items() if g.startswith("lang_")})
    decision = promotion_decision(results["candidate"], results[reference], reference, config.regression_tolerance)
    table = markdown_table(results)
    by_set_table = markdown_table({f"{name} {s}": m.as_dict() for name, sets in by_set.items() for s, m in sets.items() if s != "all"})
    report = {
        "iteration": key,
        "models": models,
        "metrics": results,
        "metrics_by_set": {name: {s: m.as_dict() for s, m in sets.items()} for name, sets in by_set.items()},
        "metrics_by_group": {name: {g: m.as_dict() for g, m in groups.items()} for name, groups in by_group.items()},
        "gate": {"passed": decision.passed, "reference": reference, "tolerance": config.regression_tolerance,
                 "score_delta": decision.score_delta, "no_issues_delta": decision.no_issues_delta, "reason": decision.reason},
        "champion_iteration": champion.iteration if champion else None,
        "mlflow_run_id": run_id,
        "samples": [{"id": i["id"], "gold": i["review"], **{m: answers[i["id"]] for m, answers in answers_by_model.items() if i["id"] in answers}}
                    for i in items[:10]],
    }
    uri = artifacts.write_json(artifacts.iteration_uri(key, "eval_report", "report.json"), report)
    tracking.log_text(run_id, f"# Evaluation of {key}\n\n{table}\n\n## By evaluation set\n\n{by_set_table}\n\nGate: {decision.reason}\n",
                      "eval_report.md")
    tracking.end_run(run_id)
    context.log.info(f"evaluation of {key}:\n{table}\ngate: {decision.reason}")
    return dg.MaterializeResult(
        metadata={
            "eval_table": dg.MetadataValue.md(table),
            "eval_table_by_set": dg.MetadataValue.md(by_set_table),
            "eval_table_by_language": dg.MetadataValue.md(by_group_table),
            "samples": sample_table(items, answers_by_model["candidate"]),
            "items": len(items),
            # Stable numeric keys, the same in every iteration, so the UI's Plots chart them across partitions.
            **metric_metadata(by_set, reference),
            **group_metric_metadata("candidate", by_group["candidate"]),
            **group_metric_metadata("reference", by_group[reference]),
            "teacher_compared": "yes" if teacher_answers is not None else f"no: {teacher_absent}",
            "gate_reference": reference,
            "gate_passed": decision.passed,
            "gate_reason": decision.reason,
            "gate_score_delta": decision.score_delta,
            "uri": uri,
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
        }
    )


CHARTED_BY_SET = ("f1", "format_validity", "no_issues_rate_on_buggy", "clean_accuracy")


def metric_metadata(by_set: dict[str, dict[str, EvalMetrics]], reference: str) -> dict[str, float]:
    """`<model>_<metric>` over all items for every compared model, `reference_<metric>` for the gate's
    reference (base or champion), and `<model>_<set>_<metric>` per evaluation set for the candidate
    and the reference."""
    out: dict[str, float] = {}
    for name, sets in {**by_set, "reference": by_set[reference]}.items():
        out.update({f"{name}_{k}": v for k, v in sets["all"].as_dict().items() if k != "items"})
        if name in ("candidate", "reference"):
            out.update({f"{name}_{s}_{k}": getattr(m, k) for s, m in sets.items() if s != "all" for k in CHARTED_BY_SET})
    return out


SAMPLE_COLUMNS = ["item", "diff", "gold", "candidate", "verdict"]


def sample_table(items: list[dict], answers: dict[str, str], per_set: int = 6) -> dg.MetadataValue:
    """A few items of each evaluation set side by side: the hunk, the gold review, what the candidate said."""
    def cell(text: str, limit: int) -> str:
        return text if len(text) <= limit else text[: limit - 3] + "..."

    rows = []
    for name in EVAL_SETS:
        for item in [i for i in items if i["set"] == name][:per_set]:
            answer = answers.get(item["id"], "")
            verdict = score_answer(answer, Review.model_validate(item["review"]), hunk_path=item["path"])
            rows.append(dg.TableRecord({
                "item": item["id"], "diff": cell(item["diff_hunk"], 400), "gold": cell(render_review(Review.model_validate(item["review"])), 400),
                "candidate": cell(answer, 400), "verdict": verdict.kind + (f" ({verdict.error})" if verdict.error else ""),
            }))
    return dg.MetadataValue.table(rows, schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in SAMPLE_COLUMNS]))


@dg.asset_check(
    asset=eval_report,
    blocking=True,
    partitions_def=iteration_partitions,
    description="Promotion gate: no regression against the champion (the base for the first iteration) beyond the "
    "configured tolerance. Blocking: a failing candidate is never deployed and the champion stays.",
)
def no_regression_vs_champion(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    report = artifacts.read_json(artifacts.iteration_uri(context.partition_key, "eval_report", "report.json"))
    gate = report["gate"]
    return dg.AssetCheckResult(
        passed=gate["passed"],
        metadata={"reference": gate["reference"], "score_delta": gate["score_delta"],
                  "no_issues_delta": gate["no_issues_delta"], "reason": gate["reason"]},
    )
