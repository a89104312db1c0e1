"""Wall time of full iterations of the `tiny` recipe on this machine, against the 3-minute budget,
and what each iteration's candidate learned (format validity, F1, no-issues rate on buggy diffs, clean-diff
accuracy and false findings per clean hunk, from eval_report).

Runs exactly what `make run` runs (`review-slm iteration next` + `dagster asset materialize`) twice
in fresh DAGSTER_HOME / REVIEW_SLM_HOME folders: iteration 1 is cold (builds the tiny model and
tokenizer, creates the MLflow database), iteration 2 starts from iteration 1's champion. Prints each
step's duration from Dagster's own step stats and the ratio of the wall time to the budget.

With `--baseline PATH` (a checkout of other code, e.g. a git worktree of main) the same iterations also
run with PATH's `review_slm` first on PYTHONPATH, in folders of their own, interleaved (baseline
iteration 1, this code's iteration 1, baseline iteration 2, ...) so a busy machine slows both alike;
the tables then put each step side by side with the ratio new / baseline.

    .venv/bin/python bench/iteration_time.py [--iterations 2] [--budget-s 180] [--recipe tiny-grpo] [--json PATH]
        [--baseline /work/wt-base]
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
GATE_CHECK = "eval_report: no_regression_vs_champion"


def run_iteration(env: dict[str, str]) -> tuple[str, float]:
    # The code's own folder as the working directory too: `dagster -m` puts the working directory first on
    # sys.path, and the trainer's `python -m` inherits it, so another folder's review_slm would win over PYTHONPATH.
    code = env["PYTHONPATH"].split(os.pathsep)[0]
    key = subprocess.run(
        [BIN / "review-slm", "iteration", "next"], env=env, check=True, capture_output=True, text=True, cwd=code
    ).stdout.strip()
    started = time.perf_counter()
    proc = subprocess.run(
        [BIN / "dagster", "asset", "materialize", "-m", "review_slm.definitions", "--select", "*", "--partition", key],
        env=env,
        capture_output=True,
        text=True,
        cwd=code,
    )
    elapsed = time.perf_counter() - started
    # A candidate the promotion gate refuses fails the run by design (the blocking check stops the deploy): that is
    # a measured outcome (eval_report's gate_passed says so, deployed_endpoint takes 0 s), not a broken iteration.
    refused = GATE_CHECK in proc.stdout + proc.stderr and "DagsterAssetCheckFailedError" in proc.stdout + proc.stderr
    if proc.returncode != 0 and not refused:
        sys.exit(f"iteration {key} failed:\n{proc.stderr[-3000:]}")
    return key, elapsed


def step_times(dagster_home: str, key: str) -> dict[str, float]:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
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
    import dagster as dg

    instance = dg.DagsterInstance.from_config(dagster_home)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("eval_report"), asset_partitions=[key]), limit=1
    ).records
    metadata = records[0].asset_materialization.metadata if records else {}
    return {k: metadata[k].value for k in LEARNING if k in metadata}


def environment(work: Path, recipe: str, code: Path) -> dict[str, str]:
    """Fresh Dagster and review-slm homes under `work`, running the `review_slm` package of `code`."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(work / "dagster"),
        "REVIEW_SLM_HOME": str(work / "home"),
        "REVIEW_SLM_RECIPE": recipe,
        "PYTHONPATH": os.pathsep.join([str(code), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    Path(env["DAGSTER_HOME"]).mkdir(parents=True)
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return env


def ratio(new: float, old: float) -> str:
    return f"{new / old:.2f}" if old else ""


def print_tables(rows: dict[str, list], iterations: int, budget_s: float) -> None:
    """Per-step seconds and what each candidate learned, each side's column next to the other's."""
    names = list(rows)
    columns = [(name, i) for i in range(iterations) for name in names]
    compare = "baseline" in rows

    def header(first: str) -> None:
        cells = []
        for i in range(iterations):
            cells += [f"{name} {rows[name][i][0]}" for name in names] + (["new / baseline"] if compare else [])
        print(f"\n| {first} | " + " | ".join(cells) + " |")
        print("|---|" + "---|" * len(cells))

    header("step")
    for step in [*steps_of(rows), None]:
        cells = []
        for i in range(iterations):
            values = {name: (rows[name][i][1] if step is None else rows[name][i][2].get(step, 0.0)) for name in names}
            cells += [f"{v:.1f} s" for v in values.values()]
            if compare:
                cells.append(ratio(values["new"], values["baseline"]))
        print(f"| {'**wall time**' if step is None else step} | " + " | ".join(cells) + " |")
    header("candidate")
    for metric in LEARNING:
        cells = []
        for i in range(iterations):
            cells += [str(rows[name][i][3].get(metric, "")) for name in names]
            if compare:
                same = rows["new"][i][3].get(metric) == rows["baseline"][i][3].get(metric)
                cells.append("same" if same else "differs")
        print(f"| {metric} | " + " | ".join(cells) + " |")
    for name, i in columns:
        key, seconds = rows[name][i][0], rows[name][i][1]
        print(f"{name} {key}: {seconds:.1f} s = {seconds / budget_s:.2f} x the {budget_s:.0f} s budget")
    if compare:
        for i in range(iterations):
            new, old = rows["new"][i][1], rows["baseline"][i][1]
            print(f"iteration {i + 1}: new / baseline = {new / old:.2f} ({new:.1f} s vs {old:.1f} s)")


def steps_of(rows: dict[str, list]) -> list[str]:
    return list(dict.fromkeys(step for runs in rows.values() for _, _, times, _ in runs for step in times))


def payload(rows: dict[str, list], recipe: str, budget_s: float) -> dict:
    """The same tables for `--json`: one column per side and iteration."""
    columns = [(name, i) for i in range(len(next(iter(rows.values())))) for name in rows]
    step_rows = []
    for step in [*steps_of(rows), None]:
        row: dict = {"step": "wall time" if step is None else step}
        for name, i in columns:
            key, seconds, times, _ = rows[name][i]
            row[f"{name} {key}"] = round(seconds if step is None else times.get(step, 0.0), 1)
        step_rows.append(row)
    metric_rows = [
        {"metric": metric, **{f"{name} {rows[name][i][0]}": rows[name][i][3].get(metric, "") for name, i in columns}}
        for metric in LEARNING
    ]
    summary: dict = {"recipe": recipe, "budget_s": budget_s}
    summary.update({f"{name}_{rows[name][i][0]}_wall_s": round(rows[name][i][1], 1) for name, i in columns})
    tables = {"step seconds (Dagster step stats)": step_rows, "what the candidate learned (eval_report)": metric_rows}
    return results.results("iteration_time", tables=tables, summary=summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=180.0)
    parser.add_argument(
        "--recipe", default="tiny", help="REVIEW_SLM_RECIPE of the iterations (e.g. tiny-grpo for sft+grpo)"
    )
    results.add_json_option(parser)
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with (its review_slm is run)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="review-slm-bench-"))
    runs = {"new": environment(work / "new", args.recipe, Path(__file__).resolve().parents[1])}
    if args.baseline:
        runs = {"baseline": environment(work / "baseline", args.recipe, args.baseline.resolve()), **runs}
    code = ", ".join(f"{name}: {env['PYTHONPATH']}" for name, env in runs.items())
    print(f"machine: {os.cpu_count()} CPUs; work dir {work}; code {code}")
    rows: dict[str, list] = {name: [] for name in runs}
    for _ in range(args.iterations):
        for name, env in runs.items():
            key, seconds = run_iteration(env)
            learned = learning(env["DAGSTER_HOME"], key)
            rows[name].append((key, seconds, step_times(env["DAGSTER_HOME"], key), learned))
            print(f"{name} {key}: {seconds:.1f} s, " + ", ".join(f"{k} {v}" for k, v in learned.items()), flush=True)
    print_tables(rows, args.iterations, args.budget_s)
    results.write(args.json, payload(rows, args.recipe, args.budget_s))


if __name__ == "__main__":
    main()
