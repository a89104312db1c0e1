"""Wall time of full iterations of the `tiny` recipe on this machine, against the 3-minute budget,
and what each iteration's candidate learned (format validity, F1, no-issues rate on buggy diffs, clean-diff
accuracy and false findings per clean hunk, from eval_report).

Runs exactly what `make run` runs (`review-slm iteration next` + `dagster asset materialize`) twice
in fresh DAGSTER_HOME / REVIEW_SLM_HOME folders: iteration 1 is cold (builds the tiny model and
tokenizer, creates the MLflow database), iteration 2 starts from iteration 1's champion. Prints each
step's duration from Dagster's own step stats and the ratio of the wall time to the budget.

    .venv/bin/python bench/iteration_time.py [--iterations 2] [--budget-s 180] [--recipe tiny-grpo] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results

BIN = Path(sys.executable).parent


def run_iteration(env: dict[str, str]) -> tuple[str, float]:
    key = subprocess.run(
        [BIN / "review-slm", "iteration", "next"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    started = time.perf_counter()
    proc = subprocess.run(
        [BIN / "dagster", "asset", "materialize", "-m", "review_slm.definitions", "--select", "*", "--partition", key],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"iteration {key} failed:\n{proc.stderr[-3000:]}")
    return key, elapsed


def step_times(dagster_home: str, key: str) -> dict[str, float]:
    os.environ["DAGSTER_HOME"] = dagster_home
    import dagster as dg

    instance = dg.DagsterInstance.get()
    run = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": key}), limit=1)[0]
    return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run.run_id)}


LEARNING = (
    "candidate_format_validity",
    "candidate_test_f1",
    "candidate_f1",
    "candidate_no_issues_rate_on_buggy",
    "candidate_clean_accuracy",
    "candidate_false_findings_per_clean",
    "reference_format_validity",
    "reference_f1",
    "gate_passed",
)


def learning(dagster_home: str, key: str) -> dict:
    """What the candidate of the iteration learned: eval_report's numeric metadata (stable keys)."""
    os.environ["DAGSTER_HOME"] = dagster_home
    import dagster as dg

    instance = dg.DagsterInstance.get()
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("eval_report"), asset_partitions=[key]), limit=1
    ).records
    metadata = records[0].asset_materialization.metadata if records else {}
    return {k: metadata[k].value for k in LEARNING if k in metadata}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=180.0)
    parser.add_argument(
        "--recipe", default="tiny", help="REVIEW_SLM_RECIPE of the iterations (e.g. tiny-grpo for sft+grpo)"
    )
    results.add_json_option(parser)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-slm-bench-"))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(work / "dagster"),
        "REVIEW_SLM_HOME": str(work / "home"),
        "REVIEW_SLM_RECIPE": args.recipe,
    }
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    print(f"machine: {os.cpu_count()} CPUs; work dir {work}")
    rows = []
    for _ in range(args.iterations):
        key, seconds = run_iteration(env)
        rows.append((key, seconds, step_times(env["DAGSTER_HOME"], key)))
        print(
            f"{key}: {seconds:.1f} s, " + ", ".join(f"{k} {v}" for k, v in learning(env["DAGSTER_HOME"], key).items()),
            flush=True,
        )
    steps = list(rows[0][2])
    print("\n| step | " + " | ".join(k for k, _, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for step in steps:
        print(f"| {step} | " + " | ".join(f"{r[2].get(step, 0):.1f} s" for r in rows) + " |")
    print("| **wall time** | " + " | ".join(f"**{s:.1f} s**" for _, s, _ in rows) + " |")
    print("\n| candidate | " + " | ".join(k for k, _, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    learned = [learning(env["DAGSTER_HOME"], k) for k, _, _ in rows]
    for name in LEARNING:
        print(f"| {name} | " + " | ".join(str(m.get(name, "")) for m in learned) + " |")
    for key, seconds, _ in rows:
        print(f"{key}: {seconds:.1f} s = {seconds / args.budget_s:.2f} x the {args.budget_s:.0f} s budget")
    step_rows = [{"step": step, **{k: round(r.get(step, 0), 1) for k, _, r in rows}} for step in steps]
    step_rows.append({"step": "wall time", **{k: round(s, 1) for k, s, _ in rows}})
    step_rows.append(
        {"step": f"wall time / {args.budget_s:.0f} s budget", **{k: round(s / args.budget_s, 2) for k, s, _ in rows}}
    )
    metric_rows = [{"metric": name, **{k: m.get(name, "") for (k, _, _), m in zip(rows, learned)}} for name in LEARNING]
    payload = results.results(
        "iteration_time",
        tables={
            "step seconds (Dagster step stats)": step_rows,
            "what the candidate learned (eval_report)": metric_rows,
        },
        summary={"recipe": args.recipe, "budget_s": args.budget_s, **{f"{k}_wall_s": round(s, 1) for k, s, _ in rows}},
    )
    results.write(args.json, payload)


if __name__ == "__main__":
    main()
