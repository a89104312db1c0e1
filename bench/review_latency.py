"""Review latency of the champion: seconds per hunk and hunks per second, in-process vs the local endpoint.

In-process is what `review-slm review FILE.diff` does (the model folder loaded per call of up to 16
hunks, batched greedy generation); the endpoint is `make serve` (`python -m review_slm.serve`:
transformers serve on a CPU, vLLM with a CUDA GPU) asked through `review --endpoint`'s client, 4
requests in flight. The hunks are the labelled bug suite (24 Go / Python / YAML hunks), so both
paths review the same prompts; the share of valid reviews is printed beside the speed.

    .venv/bin/python bench/review_latency.py [--model DIR] [--hunks 24] [--repeat 3] [--max-new-tokens N] \
        [--skip-endpoint]

Each path runs `--repeat` times; the median run is printed with the range of s/hunk (a shared
machine's load moves single runs by 2-3x).

--model defaults to the champion ($REVIEW_SLM_HOME/serving/champion, what `make run` deploys); a
real model on a CUDA machine: --model Qwen/Qwen2.5-Coder-1.5B-Instruct (or a merged champion).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from review_slm import settings
from review_slm.cli import endpoint_answerer, local_answerer
from review_slm.core.eval_sets import bug_suite_rows
from review_slm.core.hunk_review import answer_hunks


class Hunk:
    def __init__(self, row: dict):
        self.path, self.language, self.text = row["path"], row["language"], row["diff_hunk"]


def timed(answer, hunks: list[Hunk], repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        results = answer_hunks(hunks, answer)
        seconds = time.perf_counter() - started
        runs.append(
            {
                "hunks": len(hunks),
                "seconds": seconds,
                "s_per_hunk": seconds / len(hunks),
                "hunks_per_s": len(hunks) / seconds,
                "valid": sum(r is not None for r, _e, _raw in results) / len(hunks),
            }
        )
    runs.sort(key=lambda r: r["seconds"])
    median = dict(runs[len(runs) // 2])
    median["range"] = f"{runs[0]['s_per_hunk']:.3f}-{runs[-1]['s_per_hunk']:.3f}"
    return median


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "review_slm.serve", "--model", model, "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(1)
    proc.terminate()
    sys.exit(f"the server did not answer within 300 s; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(settings.home() / "serving" / "champion"))
    parser.add_argument("--hunks", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="default: the recipe's generation.max_new_tokens"
    )
    parser.add_argument("--skip-endpoint", action="store_true")
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").exists() and "/" not in args.model.strip("/"):
        sys.exit(f"no model at {args.model}: run an iteration first (`make run`) or pass --model")
    hunks = [Hunk(r) for r in bug_suite_rows()][: args.hunks]
    # A first call of one hunk warms the caches (tokenizer files, torch kernels) for both paths alike.
    local = local_answerer(Path(args.model), args.max_new_tokens)
    answer_hunks(hunks[:1], local)
    rows = {"in-process": timed(local, hunks, args.repeat)}
    if not args.skip_endpoint:
        port = free_port()
        log = settings.home() / "serve-bench.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        server = start_server(args.model, port, log)
        try:
            remote = endpoint_answerer(f"http://127.0.0.1:{port}", None, args.max_new_tokens)
            answer_hunks(hunks[:1], remote)  # the server loads its weights on the first request after a reset
            rows["endpoint"] = timed(remote, hunks, args.repeat)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"model: {args.model}  (torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')})")
    print(f"median of {args.repeat} runs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'path':<12} {'hunks':>5} {'seconds':>8} {'s/hunk':>8} {'hunks/s':>8} {'valid':>6}  s/hunk range")
    for name, r in rows.items():
        print(
            f"{name:<12} {r['hunks']:>5} {r['seconds']:>8.2f} {r['s_per_hunk']:>8.3f} {r['hunks_per_s']:>8.2f} "
            f"{r['valid']:>6.0%}  {r['range']}"
        )
    if "endpoint" in rows:
        print(
            f"endpoint / in-process time per hunk: "
            f"{rows['endpoint']['s_per_hunk'] / rows['in-process']['s_per_hunk']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
