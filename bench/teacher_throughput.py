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
        [--fail-for 2] [--concurrency 64]

Targets (issue 20): achieved / ideal >= 0.9, requests per kept row <= 1.05.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the stand-ins live in review_slm_tests/

from review_slm.resources.openai_teacher import OpenAITeacher  # noqa: E402
from review_slm_tests.resources.fleet_standin import ReplicaState, fleet_standin  # noqa: E402
from review_slm_tests.resources.test_teacher import rec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--capacity", type=int, default=16, help="requests one replica processes at once")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request (per batch)")
    parser.add_argument("--fail-for", type=float, default=2.0, help="seconds the last replica answers 503/500")
    parser.add_argument("--concurrency", type=int, default=64, help="the teacher's requests in flight")
    args = parser.parse_args()

    states = [ReplicaState(capacity=args.capacity, latency_s=args.latency) for _ in range(args.replicas)]
    states[-1].fail_for_s = args.fail_for
    records = [rec(i, f"close the response body {i}") for i in range(args.prompts)]
    with fleet_standin(states) as urls:
        teacher = OpenAITeacher(urls=urls, model=states[0].model, concurrency=args.concurrency)
        started = time.monotonic()
        candidates, report = teacher.enrich(records, progress=lambda line: None)
        seconds = time.monotonic() - started
    kept = sum(c.review is not None for c in candidates)
    ideal = args.replicas * args.capacity / args.latency
    achieved = args.prompts / seconds
    answered_twice = sum(n > 1 for s in states for n in s.answered.values())
    print(
        f"fleet: {args.replicas} replicas x capacity {args.capacity} / latency {args.latency}s, "
        f"the last one down for {args.fail_for}s; {args.prompts} prompts, {args.concurrency} in flight"
    )
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
        f"per kept row (target <= 1.05); rows lost {args.prompts - kept}; prompts answered twice {answered_twice}"
    )
    for url, state in zip(urls, states):
        answered = sum(state.answered.values())
        print(
            f"  {url}: answered {answered}, failed {state.posts - answered}, "
            f"peak processing {state.peak}/{state.capacity}"
        )


if __name__ == "__main__":
    main()
