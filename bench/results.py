"""The benches' JSON output: what `--json PATH` writes, and what the docs' benchmark page is generated from.

One file per run: the bench, the command that reproduces it, when and where it ran, its tables (a title and
rows of column -> value, in print order) and a summary (the figures its last line names). The docs render
every file under bench/results/ as it is (docs/hooks/generated.py), so a bench's table in the docs changes
only when its JSON is measured again.

    payload = results("iteration_time", tables={"steps": [...]}, summary={"wall_s": 170.0})
    write(args.json, payload)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

Row = dict[str, object]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON (bench/results/)"
    )


def results(bench: str, tables: dict[str, list[Row]], summary: dict[str, object] | None = None) -> dict:
    return {
        "bench": bench,
        "command": " ".join(["python", *(_repo_relative(a) for a in sys.argv)]),
        "measured_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.machine(),
            "system": platform.system(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 1),  # other work on the machine slows the timings
        },
        "tables": tables,
        "summary": summary or {},
    }


def write(path: Path | None, payload: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"figures written to {path}")


def _repo_relative(arg: str) -> str:
    """bench/x.py rather than /home/someone/checkout/bench/x.py: the command must read the same on any machine."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(arg).resolve().relative_to(root)) if os.path.isabs(arg) or Path(arg).exists() else arg
    except ValueError:
        return arg
