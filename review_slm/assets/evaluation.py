"""Evaluation: candidate vs base vs current champion on the frozen test split and the bug suite,
and the blocking promotion check."""


import json
from importlib import resources

import dagster as dg

from review_slm.assets.data import gold_set
from review_slm.assets.partitions import iteration_partitions
from review_slm.assets.training import dpo_model
from review_slm.core.gate import promotion_decision
from review_slm.core.metrics import compute_metrics, markdown_table
from review_slm.core.prompts import student_messages
from review_slm.core.schema import Review
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.launcher import TrainingLauncher
from review_slm.resources.recipes import TrainingRecipe
from review_slm.resources.tracking import MlflowTracking

BUG_SUITE = resources.files("review_slm.data") / "bug_suite" / "bug_suite.jsonl"


def eval_items(test_rows: list[dict]) -> list[dict]:
    """Frozen test split + the labelled bug suite (which includes clean diffs)."""
    items = [{"id": f"test:{r['id']}", "set": "test", "path": r["path"], "language": r["language"],
              "diff_hunk": r["diff_hunk"], "review": r["review"]} for r in test_rows]
    for line in BUG_SUITE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            items.append({"id": f"bugs:{r['id']}", "set": "bug_suite", "path": r["path"], "language": r["language"],
                          "diff_hunk": r["diff_hunk"], "review": r["review"]})
    return items


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
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    items = eval_items(artifacts.read_jsonl(artifacts.iteration_uri(key, "gold_set", "test.jsonl")))
    scratch = artifacts.scratch_uri(key, "eval_report")
    prompts_file = artifacts.write_jsonl(artifacts.join(scratch, "prompts.jsonl"),
                                         [{"id": i["id"], "messages": student_messages(i["path"], i["language"], i["diff_hunk"])} for i in items])

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

    golds = [Review.model_validate(i["review"]) for i in items]
    results: dict[str, dict[str, float]] = {}
    answers_by_model: dict[str, dict[str, str]] = {}
    for name in models:
        answers = {a["id"]: a["answer"] for a in artifacts.read_jsonl(artifacts.join(scratch, f"{name}.jsonl"))}
        answers_by_model[name] = answers
        results[name] = compute_metrics([answers.get(i["id"], "") for i in items], golds).as_dict()
        tracking.log_metrics(run_id, {f"{name}/{k}": v for k, v in results[name].items()})

    reference = "champion" if "champion" in results else "base"
    decision = promotion_decision(results["candidate"], results[reference], reference, config.regression_tolerance)
    table = markdown_table(results)
    report = {
        "iteration": key,
        "models": models,
        "metrics": results,
        "gate": {"passed": decision.passed, "reference": reference, "tolerance": config.regression_tolerance,
                 "score_delta": decision.score_delta, "no_issues_delta": decision.no_issues_delta, "reason": decision.reason},
        "champion_iteration": champion.iteration if champion else None,
        "mlflow_run_id": run_id,
        "samples": [{"id": i["id"], "gold": i["review"], **{m: answers_by_model[m].get(i["id"], "") for m in models}} for i in items[:10]],
    }
    uri = artifacts.write_json(artifacts.iteration_uri(key, "eval_report", "report.json"), report)
    tracking.log_text(run_id, f"# Evaluation of {key}\n\n{table}\n\nGate: {decision.reason}\n", "eval_report.md")
    tracking.end_run(run_id)
    context.log.info(f"evaluation of {key}:\n{table}\ngate: {decision.reason}")
    return dg.MaterializeResult(
        metadata={
            "eval_table": dg.MetadataValue.md(table),
            "items": len(items),
            "candidate_score": results["candidate"]["score"],
            f"{reference}_score": results[reference]["score"],
            "gate_reference": reference,
            "gate_passed": decision.passed,
            "gate_reason": decision.reason,
            "uri": uri,
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(tracking.run_url(run_id)),
        }
    )


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
