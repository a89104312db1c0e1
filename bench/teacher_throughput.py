"""Teacher throughput over a fleet: how close `OpenAITeacher.enrich` comes to what the fleet can serve.

A local fleet stand-in (review_slm_tests/resources/fleet_standin.py, OpenAI-compatible on 127.0.0.1)
of `--replicas` replicas, each answering up to `--capacity` requests at once in `--latency` seconds
(continuous batching: a full batch as fast as one request; more wait in its queue). The last replica
is down at first: it answers 503 and 500 in turn for `--fail-for` seconds, as a restarting vLLM does.
The teacher enriches `--prompts` distinct records through the real code path (probe, estimate, fleet,
validation), and the bench prints:

- achieved / ideal throughput: prompts per second over the run vs replicas x capacity / latency
  (the ideal counts the failing replica as serving from the start: what its outage costs is included);
- requests per kept row: requests sent (retries included) / rows with a valid review;
- requests answered and failed per replica.

    .venv/bin/python bench/teacher_throughput.py [--prompts 3000] [--replicas 3] [--capacity 16] [--latency 0.5]
        [--fail-for 2] [--concurrency 64] [--through-asset]

Targets (issue 20): achieved / ideal >= 0.9, requests per kept row <= 1.05.

`--through-asset`: the same fleet behind the real `gold_set` asset, end to end. `--prompts` synthetic review
records (bench/data_throughput.py's mix: lazy approvals, duplicates, secrets, empty hunks among them) are
written as an iteration's `mined_reviews` records Parquet (and an empty `hf_supplement`) in a throw-away
REVIEW_SLM_HOME; REVIEW_SLM_TEACHER_URL names the replicas, and `gold_set` is materialized with the
definitions' own resources (the teacher chosen from the environment). Prints the asset's wall time and where
it went (before the teacher, the enrichment, after it), achieved / ideal over the whole materialization and
over the enrichment alone (prompts asked / seconds), requests per kept row, rows lost (every row in is kept or
quarantined) and prompts answered twice. Target (issue 20): achieved / ideal >= 0.7 through the asset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the stand-ins live in review_slm_tests/

import results  # noqa: E402

from review_slm.resources.openai_teacher import OpenAITeacher  # noqa: E402
from review_slm_tests.resources.fleet_standin import ReplicaState, fleet_standin, restating  # noqa: E402
from review_slm_tests.resources.test_teacher import rec  # noqa: E402

PARTITION = "iter-0001"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--capacity", type=int, default=16, help="requests one replica processes at once")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request (per batch)")
    parser.add_argument("--fail-for", type=float, default=2.0, help="seconds the last replica answers 503/500")
    parser.add_argument("--concurrency", type=int, default=64, help="the teacher's requests in flight")
    parser.add_argument("--through-asset", action="store_true", help="through the gold_set asset, end to end")
    results.add_json_option(parser)
    args = parser.parse_args()

    # Through the asset, each prompt gets its own review: one answer for all is quarantined as template poisoning.
    answers = restating if args.through_asset else None
    states = [
        ReplicaState(capacity=args.capacity, latency_s=args.latency, answer_for=answers) for _ in range(args.replicas)
    ]
    states[-1].fail_for_s = args.fail_for
    print(
        f"fleet: {args.replicas} replicas x capacity {args.capacity} / latency {args.latency}s, "
        f"the last one down for {args.fail_for}s; {args.prompts} prompts, {args.concurrency} in flight"
    )
    if args.through_asset:
        return through_asset(args, states)
    records = [rec(i, f"close the response body {i}") for i in range(args.prompts)]
    with fleet_standin(states) as urls:
        teacher = OpenAITeacher(urls=urls, model=states[0].model, concurrency=args.concurrency)
        started = time.monotonic()
        candidates, report = teacher.enrich(records, progress=lambda line: None)
        seconds = time.monotonic() - started
    kept = sum(c.review is not None for c in candidates)
    ideal = args.replicas * args.capacity / args.latency
    achieved = args.prompts / seconds
    print(
        f"wall: {seconds:.1f}s (probe rate {report.teacher_probe_rate_per_s}/s, estimate "
        f"{report.teacher_estimated_seconds}s)"
    )
    print(
        f"throughput: achieved {achieved:.1f}/s, ideal {ideal:.1f}/s, achieved/ideal {achieved / ideal:.3f} "
        f"(target >= 0.9)"
    )
    print(
        f"requests: {report.teacher_calls} for {kept} kept rows = {report.teacher_calls / max(kept, 1):.3f} "
        f"per kept row (target <= 1.05); rows lost {args.prompts - kept}; prompts answered twice "
        f"{answered_twice(states)}"
    )
    print_replicas(urls, states)
    summary = {
        "replicas": args.replicas,
        "capacity": args.capacity,
        "latency_s": args.latency,
        "failing_replica_down_s": args.fail_for,
        "in_flight": args.concurrency,
        "prompts": args.prompts,
        "wall_s": round(seconds, 1),
        "achieved_per_s": round(achieved, 1),
        "ideal_per_s": round(ideal, 1),
        "achieved_over_ideal": round(achieved / ideal, 3),
        "requests_per_kept_row": round(report.teacher_calls / max(kept, 1), 3),
        "rows_lost": args.prompts - kept,
        "prompts_answered_twice": answered_twice(states),
        "probe_estimate_s": report.teacher_estimated_seconds,
    }
    tables = {"replicas": replica_rows(urls, states)}
    results.write(args.json, results.results("teacher_throughput", tables, summary))


def replica_rows(urls: list[str], states: list[ReplicaState]) -> list[dict]:
    rows = []
    for i, state in enumerate(states):
        answered = sum(state.answered.values())
        failing = " (down at first)" if state.fail_for_s else ""
        rows.append(
            {"replica": f"{i + 1}{failing}", "answered": answered, "failed": state.posts - answered, "peak": state.peak}
        )
    return rows


def answered_twice(states: list[ReplicaState]) -> int:
    return sum(n > 1 for s in states for n in s.answered.values())


def print_replicas(urls: list[str], states: list[ReplicaState]) -> None:
    for url, state in zip(urls, states, strict=True):
        answered = sum(state.answered.values())
        print(
            f"  {url}: answered {answered}, failed {state.posts - answered}, "
            f"peak processing {state.peak}/{state.capacity}"
        )


def through_asset(args: argparse.Namespace, states: list[ReplicaState]) -> None:
    """`gold_set` materialized with the definitions' resources, the teacher being the fleet named in the environment."""
    from bench.data_throughput import synthetic_rows, write_records

    with tempfile.TemporaryDirectory(prefix="bench-teacher-asset-") as tmp, fleet_standin(states) as urls:
        os.environ["REVIEW_SLM_HOME"] = str(Path(tmp) / "home")
        os.environ["REVIEW_SLM_TEACHER_URL"] = ",".join(urls)
        os.environ["REVIEW_SLM_TEACHER_MODEL"] = states[0].model
        os.environ["REVIEW_SLM_TEACHER_CONCURRENCY"] = str(args.concurrency)
        import dagster as dg

        from review_slm import definitions
        from review_slm.gold.assets import gold_set
        from review_slm.resources.artifact_layout import iteration

        resources = definitions.local_resources()
        if not isinstance(resources["teacher"], OpenAITeacher):
            raise SystemExit(f"the definitions chose {type(resources['teacher']).__name__}, not the fleet")
        write_records(iteration(resources["artifacts"], PARTITION), synthetic_rows(args.prompts))
        warm_s = fill_model_cache(resources["recipe"])
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("iteration", [PARTITION])
            started = time.monotonic()
            result = dg.materialize([gold_set], partition_key=PARTITION, instance=instance, resources=resources)
            seconds = time.monotonic() - started
            phases = step_phases(instance, result.run_id)
    (event,) = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    enrich_s = meta["teacher_seconds"]
    asked = meta["teacher_prompts_to_ask"]
    ideal = args.replicas * args.capacity / args.latency
    before = phases["enriching"] - phases["step_start"]
    after = phases["step_end"] - phases["enriching"] - enrich_s
    print(
        f"the student's tokenizer built into the empty model cache before timing (once per home, as a first "
        f"iteration does): {warm_s:.1f}s"
    )
    print(
        f"gold_set: {seconds:.1f}s wall = Dagster run {seconds - (phases['step_end'] - phases['step_start']):.1f}s "
        f"+ before the teacher {before:.1f}s (read, merge, cheap gates, token counts) + enrichment {enrich_s:.1f}s "
        f"(probe rate {meta['teacher_probe_rate_per_s']}/s, estimate {meta['teacher_estimated_seconds']}s) "
        f"+ after it {after:.1f}s (gates, freeze, Parquet writes, train tokens)"
    )
    print(
        f"throughput: {asked} prompts asked; ideal {ideal:.1f}/s; achieved/ideal through the asset "
        f"{asked / seconds / ideal:.3f} (target >= 0.7), over the enrichment alone {asked / enrich_s / ideal:.3f}"
    )
    lost = meta["rows_in"] - meta["rows_kept"] - meta["rows_quarantined"]
    reasons = {k.removeprefix("quarantined_"): v for k, v in meta.items() if k.startswith("quarantined_")}
    print(
        f"requests: {meta['teacher_calls']} for {meta['rows_kept']} kept rows = {meta['teacher_calls_per_kept_row']} "
        f"per kept row; teacher failures {meta['teacher_failures']}, invalid {meta['teacher_invalid']}"
    )
    print(
        f"rows: {meta['rows_in']} in = {meta['rows_kept']} kept + {meta['rows_quarantined']} quarantined {reasons}; "
        f"rows lost {lost}; prompts answered twice {answered_twice(states)}"
    )
    print_replicas(urls, states)


def fill_model_cache(recipe) -> float:
    """Seconds to build the recipe's student tokenizer into the model cache, which a real home has after its first
    iteration; loading it from there stays in the timed materialization."""
    from review_slm.resources.student_tokenizer import StudentTokenizer

    started = time.monotonic()
    StudentTokenizer(recipe.load(), recipe.cache_dir).count_examples([("warm", "up")])
    return time.monotonic() - started


def step_phases(instance, run_id: str) -> dict[str, float]:
    """When gold_set's step started, logged "enriching ..." (the teacher's work begins) and ended (event timestamps)."""
    phases = {}
    for entry in instance.all_logs(run_id):
        if entry.is_dagster_event and entry.dagster_event_type in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            phases["step_start" if entry.dagster_event_type == "STEP_START" else "step_end"] = entry.timestamp
        elif entry.user_message.startswith("enriching "):
            phases["enriching"] = entry.timestamp
    return phases


if __name__ == "__main__":
    main()
