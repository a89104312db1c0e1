"""Data-path throughput, measured side by side in one run.

Mode `gold` (default): the product's own path with the teacher off. N synthetic review records are
written as the `records` Parquet artifact of an iteration in a `LocalArtifactStore`, then
`stages.gold.build_gold_set` (the `gold_set` asset's code, with `HumanCommentTeacher` and the recipe's
token budget) reads them, runs every quality gate, splits, freezes the test
split and writes the splits and the quarantine as Parquet. Compared with the I/O floor: pyarrow
reading the same records Parquet and writing it back (pyarrow's defaults, best of 3). Prints rows/s, the
ratio to the floor (target: within 10x) and the cost per row at 10k vs 100k rows (target: linear,
ratio near 1). The token counter is a byte count by default (`--tokenizer real`: the recipe's own
`StudentTokenizer`, as the asset uses; offline only `--recipe tiny` has one, and its 1,024-token budget
makes most synthetic rows need it, so that run measures the tokenizer more than the gates).

Mode `teacher`: enrichment through the real `ollama` client against a local Ollama-compatible
server with a fixed latency and a fixed number of parallel slots; prints achieved / ideal
throughput (target: at least 0.8).

    python bench/data_throughput.py                       # gold set, 10k and 100k rows
    python bench/data_throughput.py --mode teacher --latency-ms 50 --capacity 8 --requests 400
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import string
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import results

from review_slm.core import tables
from review_slm.core.prompts import STUDENT_SYSTEM_PROMPT
from review_slm.core.quality_gates import GateConfig, apply_quality_gates, gate_before_teacher
from review_slm.core.recipe import Recipe, load_recipe
from review_slm.core.schema import ReviewRecord
from review_slm.gold.build import GoldLimits, build_gold_set
from review_slm.ingest.manifest import RecordsManifest
from review_slm.resources.artifact_layout import IterationArtifacts
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.student_tokenizer import StudentTokenizer
from review_slm.resources.teacher import HumanCommentTeacher, OllamaTeacher

WORDS = (
    "buffer channel context request handler retry timeout cache index worker queue lock config cluster pod "
    "volume secret token client server stream batch parser reader writer metric label selector probe"
).split()
ISSUES = [
    "The {a} is never closed when {b} returns an error, so every failed call leaks a {c}.",
    "This {a} is read without holding the {b}; under load two goroutines race on the {c}.",
    "If {a} times out we retry forever: bound the {b} and back off between attempts on the {c}.",
    "The {a} limit is missing, so one {b} can starve the whole {c} of memory.",
    "Swallowing the {a} error here hides why the {b} failed; wrap it and return it to the {c}.",
    "Building the {a} inside the loop is quadratic in the number of {b} entries of the {c}.",
]
LAZY = ["LGTM", "lgtm!", "+1", "Looks good to me."]


def _ident(rng: random.Random) -> str:
    return rng.choice(WORDS) + "".join(rng.choices(string.ascii_lowercase, k=4))


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """Review records with the mix the gates see in real data: mostly distinct hunks and comments,
    some lazy approvals, exact duplicates, secrets, empty hunks and malformed rows."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lines = [
            f" {_ident(rng)} := {_ident(rng)}({_ident(rng)}, {rng.randint(0, 999)})" for _ in range(rng.randint(4, 14))
        ]
        added = [f"+\t{_ident(rng)}.{rng.choice(WORDS).title()}({_ident(rng)})" for _ in range(rng.randint(1, 4))]
        hunk = f"@@ -{i},{len(lines)} +{i},{len(lines) + len(added)} @@\n" + "\n".join(lines[:2] + added + lines[2:])
        body = rng.choice(ISSUES).format(a=_ident(rng), b=_ident(rng), c=_ident(rng)) + f" See {_ident(rng)}."
        kind = rng.random()
        if kind < 0.06:
            body = rng.choice(LAZY)
        elif kind < 0.08 and rows:
            hunk, body = rows[-1]["diff_hunk"], rows[-1]["body"]  # an exact duplicate
        elif kind < 0.09:
            hunk += f'\n+\taws_key := "AKIA{"".join(rng.choices(string.ascii_uppercase + string.digits, k=16))}"'
        elif kind < 0.095:
            hunk = "   \n"
        rows.append(
            {
                "source": "github",
                "source_id": str(i),
                "repo": "bench/repo",
                "path": f"pkg/{_ident(rng)}.go",
                "line": len(lines) + 2,
                "language": "go",
                "diff_hunk": hunk,
                "body": body,
            }
        )
    return rows


def write_records(layout: IterationArtifacts, rows: list[dict]) -> list[RecordsManifest]:
    """The rows as one iteration's upstream artifacts, as `mined_reviews` writes them (every field; no supplement)."""
    mined = [ReviewRecord.model_validate(r).model_dump() for r in rows]
    return [
        RecordsManifest(
            source=source,
            records_uri=layout.store.write_table(layout.records(source), records, tables.RECORDS),
            rejected_uri=layout.store.write_table(layout.rejected(source), [], tables.REJECTED),
            records=len(records),
            rejected=0,
        )
        for source, records in (("mined_reviews", mined), ("hf_supplement", []))
    ]


def count_bytes(pairs: list[tuple[str, str]]) -> list[int]:
    """A stand-in token counter: UTF-8 bytes of the framed example, an upper bound of a byte-level BPE's tokens."""
    system = len(STUDENT_SYSTEM_PROMPT.encode()) + 64
    return [system + len(prompt.encode()) + len(answer.encode()) for prompt, answer in pairs]


def build_gold(
    layout: IterationArtifacts, sources: list[RecordsManifest], recipe: Recipe, tokenizer: str, cache_dir: str
) -> dict:
    """What the `gold_set` asset runs with the teacher off, from the records Parquet to the splits and quarantine
    (loading the student's tokenizer from the model cache included)."""
    count_tokens = StudentTokenizer(recipe, cache_dir).count_examples if tokenizer == "real" else count_bytes
    build = build_gold_set(
        layout,
        sources,
        recipe=recipe,
        gates=GateConfig(max_example_tokens=recipe.max_example_tokens),
        limits=GoldLimits(max_duplicate_share=0.01, min_kept_rows=20, min_test_rows=5),
        teacher=HumanCommentTeacher(),
        count_tokens=count_tokens,
        open_cache=lambda model, digest: None,
        run_id="bench",
        info=lambda _: None,
        warn=lambda _: None,
        error=print,
    )
    return {
        "kept": len(build.outcome.kept),
        "quarantined": len(build.outcome.quarantined),
        "token_counted": build.outcome.tokens_counted,
        **build.outcome.reason_counts(),
    }


def io_floor(records_uri: str, out_dir: Path) -> None:
    """pyarrow alone, with its defaults: read the records Parquet and write it back."""
    import pyarrow.parquet as pq

    table = pq.read_table(records_uri)
    pq.write_table(table, out_dir / "floor.parquet")


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def bench_gold(sizes: list[int], recipe_name: str, tokenizer: str, repeats: int) -> dict:
    recipe = load_recipe(recipe_name)
    per_row = {}
    table = []
    print(
        f"recipe {recipe.label}: token budget {recipe.max_example_tokens}, {tokenizer} token counter; "
        f"best of {repeats} gold builds, floor best of 3"
    )
    cache_dir = tempfile.mkdtemp(prefix="bench-model-cache-")
    if tokenizer == "real":  # the model cache is filled once, as on a real machine; loading from it is timed
        StudentTokenizer(recipe, cache_dir).count_examples([("warm", "up")])
    print(f"{'rows':>8} {'gold set s':>11} {'rows/s':>9} {'I/O floor s':>12} {'ratio':>6}   kept / quarantined")
    for n in sizes:
        rows = synthetic_rows(n)
        gold_times, floor_s = [], float("inf")
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                layout = IterationArtifacts(LocalArtifactStore(root=tmp), "bench")
                sources = write_records(layout, rows)
                records_uri = sources[0].records_uri
                floor_s = min([floor_s, *(timed(io_floor, records_uri, Path(tmp))[0] for _ in range(3))])
                gold_s, counts = timed(build_gold, layout, sources, recipe, tokenizer, cache_dir)
                gold_times.append(gold_s)
        gold_s = min(gold_times)
        per_row[n] = gold_s / n
        print(
            f"{n:>8} {gold_s:>11.2f} {n / gold_s:>9.0f} {floor_s:>12.3f} {gold_s / floor_s:>5.1f}x   "
            f"{counts['kept']} / {counts['quarantined']}  "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if k not in ('kept', 'quarantined'))})"
        )
        table.append(
            {
                "rows": n,
                "gold_set_s": round(gold_s, 2),
                "rows_per_s": round(n / gold_s),
                "io_floor_s": round(floor_s, 3),
                "ratio_to_floor": round(gold_s / floor_s, 1),
                "kept": counts["kept"],
                "quarantined": counts["quarantined"],
            }
        )
    summary = {"recipe": recipe.label, "tokenizer": tokenizer, "repeats": repeats}
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"cost per row at {large} vs {small} rows: {per_row[large] / per_row[small]:.2f} (1.00 = linear)")
        summary[f"cost_per_row_{large}_vs_{small}"] = round(per_row[large] / per_row[small], 2)
    return results.results("data_throughput", {"gold set vs the pyarrow I/O floor": table}, summary)


class FixedLatencyOllama(BaseHTTPRequestHandler):
    """/api/tags and /api/chat, `capacity` chats at a time, each taking `latency_s` (set by `serve_teacher`)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    slots: threading.Semaphore
    latency_s: float
    answer = json.dumps(
        {
            "findings": [
                {
                    "path": "a.go",
                    "line": 3,
                    "severity": "high",
                    "category": "resource-leak",
                    "comment": "The body is never closed.",
                    "suggestion": "",
                }
            ],
            "summary": "Leak.",
        }
    )

    def log_message(self, *args):
        """Quiet."""

    def _reply(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(
            {
                "models": [
                    {
                        "model": "bench",
                        "name": "bench",
                        "digest": "sha256:bench",
                        "size": 1,
                        "modified_at": "2026-11-01T00:00:00Z",
                        "details": {},
                    }
                ]
            }
        )

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.slots:
            time.sleep(self.latency_s)
        # The review restates the human comment, as a teacher does: answers differ as the rows do.
        user = request["messages"][-1]["content"]
        comment = user.split("<human_comment>\n", 1)[-1].split("\n</human_comment>", 1)[0].strip() or "Looks fine."
        answer = json.loads(self.answer)
        answer["findings"][0]["comment"], answer["summary"] = comment, comment[:60]
        self._reply(
            {
                "model": "bench",
                "created_at": "2026-11-21T00:00:00Z",
                "done": True,
                "message": {"role": "assistant", "content": json.dumps(answer)},
            }
        )


def serve_teacher(latency_s: float, capacity: int, port_queue) -> None:
    """In its own process, like a real Ollama: its request handling must not compete for our GIL."""
    FixedLatencyOllama.slots = threading.Semaphore(capacity)
    FixedLatencyOllama.latency_s = latency_s
    server = ThreadingHTTPServer(("127.0.0.1", 0), FixedLatencyOllama)
    port_queue.put(server.server_port)
    server.serve_forever()


def bench_teacher(latency_s: float, capacity: int, requests: int) -> dict:
    """Throughput of the enrichment, and what the teacher is paid per row the gold set keeps: the cheap gates
    and one question per distinct prompt run before it (the order before issue 11 asked about every row)."""
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_teacher, args=(latency_s, capacity, ports), daemon=True)
    server.start()
    rows = [ReviewRecord.model_validate(r) for r in synthetic_rows(requests, seed=1)]
    teacher = OllamaTeacher(host=f"http://127.0.0.1:{ports.get(timeout=30)}", model="bench", concurrency=capacity)
    config = GateConfig(max_example_tokens=1_000_000)
    try:
        worth_asking, before_teacher = gate_before_teacher(rows, config)
        elapsed, (candidates, report) = timed(teacher.enrich, worth_asking)
    finally:
        server.terminate()
    outcome = apply_quality_gates(candidates, [], config, before_teacher=before_teacher)
    kept = len(outcome.kept)
    ideal = capacity / latency_s
    achieved = report.teacher_calls / elapsed
    print(
        f"{report.teacher_calls} teacher calls, {capacity} parallel slots at {latency_s * 1000:.0f} ms: "
        f"{achieved:.1f} req/s achieved vs {ideal:.1f} ideal = {achieved / ideal:.2f} (target >= 0.8)"
    )
    print(
        f"{len(rows)} rows in, {len(before_teacher)} quarantined before the teacher, "
        f"{report.teacher_prompts_distinct} distinct "
        f"prompts asked, {kept} kept: {report.teacher_calls / kept:.3f} teacher calls per kept row "
        f"(every row asked, as before: {len(rows) / kept:.3f})"
    )
    row = {
        "rows": len(rows),
        "quarantined_before_teacher": len(before_teacher),
        "distinct_prompts_asked": report.teacher_prompts_distinct,
        "kept": kept,
        "teacher_calls_per_kept_row": round(report.teacher_calls / kept, 3),
        "if_every_row_were_asked": round(len(rows) / kept, 3),
    }
    summary = {
        "slots": capacity,
        "latency_ms": latency_s * 1000,
        "achieved_req_per_s": round(achieved, 1),
        "ideal_req_per_s": round(ideal, 1),
        "achieved_over_ideal": round(achieved / ideal, 2),
    }
    return results.results("data_throughput_teacher", {"teacher calls": [row]}, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["gold", "teacher"], default="gold")
    parser.add_argument("--sizes", default="10000,100000", help="gold mode: comma-separated row counts")
    parser.add_argument(
        "--recipe", default="qwen2.5-coder-1.5b-qlora", help="gold mode: the recipe whose token budget the gates use"
    )
    parser.add_argument(
        "--tokenizer",
        choices=["bytes", "real"],
        default="bytes",
        help="gold mode: count tokens as UTF-8 bytes, or with the recipe's StudentTokenizer (offline: tiny only)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="gold mode: gold builds per size, the best one reported")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--capacity", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    results.add_json_option(parser)
    args = parser.parse_args()
    if args.mode == "gold":
        payload = bench_gold([int(s) for s in args.sizes.split(",")], args.recipe, args.tokenizer, args.repeats)
    else:
        payload = bench_teacher(args.latency_ms / 1000, args.capacity, args.requests)
    results.write(args.json, payload)


if __name__ == "__main__":
    main()
