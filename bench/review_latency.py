"""Review latency of the champion: seconds per hunk and hunks per second, in-process vs the local endpoint.

In-process is what `review-slm review FILE.diff` does (the model folder loaded per call of up to 16
hunks, batched greedy generation); the endpoint is `make serve` (`python -m review_slm.serve`:
transformers serve on a CPU, vLLM with a CUDA GPU) asked through `review --endpoint`'s client, 4
requests in flight. The hunks are the labelled bug suite (24 Go / Python / YAML hunks), so both
paths review the same prompts; the share of valid reviews is printed beside the speed.

    .venv/bin/python bench/review_latency.py [--model DIR] [--hunks 24] [--repeat 3] [--max-new-tokens N] \
        [--skip-endpoint] [--skip-in-process] [--server-starts 1] [--server-threads K] [--cold-start]

Each path runs `--repeat` times; the median run is printed with the range of s/hunk (a shared
machine's load moves single runs by 2-3x).

The endpoint's per-hunk time has been seen to flip between ~0.08 and ~1.0 s from one server start to
the next. To tell a slower server from a longer answer, `--server-starts N` starts the server N times
and, for each start, also asks for the hunks one at a time and prints the completion tokens per hunk
and the milliseconds per token (the server's `usage`); `--server-threads K` runs the server with
OMP_NUM_THREADS=K (torch's intra-op threads).

Cold start (`--cold-start`): what a CI runner calling an endpoint pays before its first review: the
light install into a fresh virtual environment (`python -m venv` + `pip install` of this checkout,
what `make reviewer` and the Action do; from pip's cache when it is warm), then the first
`review-slm review examples/leaky_worker.diff --endpoint URL` from it, process start to exit; and on
the server's side, the seconds until it answers `GET /v1/models` and its first review (transformers
serve loads the weights on the first request).

--model defaults to the champion ($REVIEW_SLM_HOME/serving/champion, what `make run` deploys); a
real model on a CUDA machine: --model Qwen/Qwen2.5-Coder-1.5B-Instruct (or a merged champion).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from review_slm import settings
from review_slm.cli import endpoint_answerer, local_answerer
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.prompts import student_messages
from review_slm.evaluate.eval_sets import bug_suite_rows
from review_slm.reviewer.hunk_review import answer_hunks

ROOT = Path(__file__).parents[1]


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


def start_server(model: str, port: int, log: Path, threads: int | None = None) -> tuple[subprocess.Popen, float]:
    """The server and the seconds it took to answer `GET /v1/models`."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "review_slm.serve", "--model", model, "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.terminate()
    sys.exit(f"the server did not answer within 300 s; see {log}")


def one_at_a_time(url: str, hunks: list[Hunk], max_tokens: int) -> dict:
    """Each hunk alone (nothing else in flight): seconds, completion tokens, ms per token (median over hunks)."""
    seconds, tokens = [], []
    with httpx.Client(timeout=300) as client:
        for h in hunks:
            body = {
                "messages": student_messages(h.path, h.language, h.text),
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            started = time.perf_counter()
            response = client.post(f"{url}/v1/chat/completions", json=body)
            seconds.append(time.perf_counter() - started)
            response.raise_for_status()
            tokens.append(response.json()["usage"]["completion_tokens"])
    ms_per_token = [1000 * s / max(t, 1) for s, t in zip(seconds, tokens)]
    return {
        "s_per_hunk": statistics.median(seconds),
        "tokens": statistics.median(tokens),
        "ms_per_token": statistics.median(ms_per_token),
        "ms_range": f"{min(ms_per_token):.1f}-{max(ms_per_token):.1f}",
    }


def server_threads(pid: int) -> str:
    """Threads of the server process and the CPUs it may run on (from /proc), for the record."""
    try:
        status = dict(
            line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line
        )
    except OSError:
        return "?"
    return f"{status.get('Threads', '?').strip()} threads on CPUs {status.get('Cpus_allowed_list', '?').strip()}"


def light_install_seconds(venv: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(ROOT)], check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def first_review_seconds(venv: Path, url: str, max_tokens: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(venv / "bin" / "review-slm"),
            "review",
            str(ROOT / "examples" / "leaky_worker.diff"),
            "--endpoint",
            url,
            "--max-new-tokens",
            str(max_tokens),
        ],
        capture_output=True,
        text=True,
        cwd=venv,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"the first review from the light install failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds


def endpoint_runs(args, hunks: list[Hunk], venv: Path | None) -> tuple[list[dict], dict]:
    """Per server start: the batch figures (4 in flight), one-at-a-time figures, and the cold-start figures."""
    max_tokens = args.max_new_tokens or 192
    log = settings.home() / "serve-bench.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    starts, cold = [], {}
    for start in range(args.server_starts):
        port = free_port()
        server, ready = start_server(args.model, port, log, args.server_threads)
        url = f"http://127.0.0.1:{port}"
        try:
            first = time.perf_counter()
            answer_hunks(hunks[:1], endpoint_answerer(url, None, args.max_new_tokens))  # the server loads the weights
            first_s = time.perf_counter() - first
            if venv is not None and start == 0:
                cold.update(server_ready_s=ready, server_first_request_s=first_s)
                cold["first_review_s"] = first_review_seconds(venv, url, max_tokens)
            remote = endpoint_answerer(url, None, args.max_new_tokens)
            row = timed(remote, hunks, args.repeat)
            row.update(start=start + 1, ready_s=ready, first_s=first_s, threads=server_threads(server.pid))
            row["alone"] = one_at_a_time(url, hunks, max_tokens)
            starts.append(row)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return starts, cold


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(settings.home() / "serving" / "champion"))
    parser.add_argument("--hunks", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="default: the recipe's generation.max_new_tokens"
    )
    parser.add_argument("--skip-endpoint", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--server-starts", type=int, default=1, help="start the server this many times")
    parser.add_argument("--server-threads", type=int, default=None, help="OMP_NUM_THREADS for the server")
    parser.add_argument("--cold-start", action="store_true", help="time the light install and its first review")
    args = parser.parse_args()
    if not (Path(args.model) / "config.json").exists() and "/" not in args.model.strip("/"):
        sys.exit(f"no model at {args.model}: run an iteration first (`make run`) or pass --model")
    hunks = [Hunk(r) for r in bug_suite_rows(DEFAULT_LANGUAGES)][: args.hunks]
    rows = {}
    if not args.skip_in_process:
        # A first call of one hunk warms the caches (tokenizer files, torch kernels).
        local = local_answerer(Path(args.model), args.max_new_tokens)
        answer_hunks(hunks[:1], local)
        rows["in-process"] = timed(local, hunks, args.repeat)
    starts, cold = [], {}
    with tempfile.TemporaryDirectory(prefix="review-slm-light-") as tmp:
        venv = None
        if args.cold_start:
            venv = Path(tmp) / "venv"
            cold["light_install_s"] = light_install_seconds(venv)
        if not args.skip_endpoint:
            starts, cold_server = endpoint_runs(args, hunks, venv)
            cold.update(cold_server)
    threads = f"bench OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'default')}"
    print(f"model: {args.model}  ({threads}; server OMP_NUM_THREADS {args.server_threads or 'as make serve sets it'})")
    print(f"median of {args.repeat} runs; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'path':<12} {'hunks':>5} {'seconds':>8} {'s/hunk':>8} {'hunks/s':>8} {'valid':>6}  s/hunk range")
    for name, r in [*rows.items(), *((f"endpoint #{s['start']}", s) for s in starts)]:
        print(
            f"{name:<12} {r['hunks']:>5} {r['seconds']:>8.2f} {r['s_per_hunk']:>8.3f} {r['hunks_per_s']:>8.2f} "
            f"{r['valid']:>6.0%}  {r['range']}"
        )
    if starts:
        print("per server start, each hunk alone (medians over the hunks):")
        header = f"{'start':>5} {'ready s':>8} {'first s':>8} {'s/hunk':>8} {'tokens':>7} {'ms/token':>9}"
        print(f"{header}  ms/token range  server")
        for s in starts:
            a = s["alone"]
            print(
                f"{s['start']:>5} {s['ready_s']:>8.1f} {s['first_s']:>8.2f} {a['s_per_hunk']:>8.3f} "
                f"{a['tokens']:>7.0f} {a['ms_per_token']:>9.2f}  {a['ms_range']:<13}  {s['threads']}"
            )
    if "in-process" in rows and starts:
        ratio = statistics.median(s["s_per_hunk"] for s in starts) / rows["in-process"]["s_per_hunk"]
        print(f"endpoint / in-process time per hunk: {ratio:.2f}x")
    if cold:
        print("cold start (a CI runner calling an endpoint):")
        for key, label in (
            ("light_install_s", "light install (venv + pip install .)"),
            ("first_review_s", "first review from it, warm server (1 hunk, process start to exit)"),
            ("server_ready_s", "server: start to GET /v1/models"),
            ("server_first_request_s", "server: first request (loads the weights), 1 hunk"),
        ):
            if key in cold:
                print(f"  {label:<70} {cold[key]:>7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
