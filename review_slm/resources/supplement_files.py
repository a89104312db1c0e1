"""Read a local supplement file row by row, so one bad row is quarantined instead of killing the file.

`datasets`' json/csv builders parse by pyarrow blocks: one invalid line, a non-UTF-8 byte or a raw NUL
aborts the whole file with 0 rows read and no line number (`ArrowInvalid ... in row 3`). These readers
use the standard library's json / csv and pyarrow's Parquet batches instead, so every problem comes out
as a `RawRow` that names the file, the line (or row) and the reason; hub datasets still stream through
`datasets` (their Parquet shards are written by a machine, and a failure there is raised, not skipped).

A blank line in JSONL is not a row (json Lines allows them); everything else is a row and is either
handed on as a dict or as a problem.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SURROGATE = re.compile(r"[\ud800-\udfff]")  # what `surrogateescape` leaves where bytes were not UTF-8


@dataclass(frozen=True)
class RawRow:
    where: str  # "supp.jsonl line 12": what a person opens to find the row
    index: int  # 0-based position among the file's rows
    row: dict | None
    reason: str = ""  # set when row is None: invalid_json, bad_encoding, not_an_object, row_too_large, unreadable_row
    detail: str = ""


def read_rows(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    readers = {".jsonl": _jsonl, ".json": _json, ".csv": _csv, ".parquet": _parquet}
    if path.suffix not in readers:
        raise ValueError(f"supplement {path}: unsupported file type {path.suffix!r} (use one of {sorted(readers)})")
    return readers[path.suffix](path, max_row_bytes)


def _jsonl(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    index = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            where = f"{path.name} line {line_no}"
            yield _parse_json_line(raw, where, index, max_row_bytes)
            index += 1


def _parse_json_line(raw: bytes, where: str, index: int, max_row_bytes: int) -> RawRow:
    if len(raw) > max_row_bytes:
        return RawRow(where, index, None, "row_too_large", f"{len(raw):,} bytes > {max_row_bytes:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return RawRow(
            where, index, None, "bad_encoding", f"invalid UTF-8 byte 0x{raw[err.start]:02x} at byte {err.start}"
        )
    try:
        row = json.loads(text)  # strict: a raw control character (NUL included) inside a string is an error
    except json.JSONDecodeError as err:
        return RawRow(where, index, None, "invalid_json", f"{err.msg} at column {err.colno}")
    except RecursionError:
        return RawRow(where, index, None, "invalid_json", "nested too deeply")
    if not isinstance(row, dict):
        return RawRow(where, index, None, "not_an_object", f"a JSON {type(row).__name__}, not an object")
    return RawRow(where, index, row)


def _json(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    """A `.json` file is a JSON array of objects, or JSON Lines (as `datasets`' json builder accepts)."""
    with path.open("rb") as handle:
        head = handle.read(1024).lstrip()
    if not head.startswith(b"["):
        yield from _jsonl(path, max_row_bytes)
        return
    try:
        rows = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        # One array is one document: there is no row to keep once it does not parse.
        raise ValueError(
            f"supplement {path}: not a valid JSON array ({err}); JSON Lines (.jsonl) isolates bad rows"
        ) from err
    for index, row in enumerate(rows):
        where = f"{path.name} item {index}"
        yield (
            RawRow(where, index, row)
            if isinstance(row, dict)
            else RawRow(where, index, None, "not_an_object", type(row).__name__)
        )


def _csv(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    csv.field_size_limit(max_row_bytes)  # a larger field is a csv.Error for that row, not a MemoryError
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        index = 0
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield RawRow(f"{path.name} line {start}", index, None, "unreadable_row", str(err))
                index += 1
                continue
            where = f"{path.name} line {start}"
            if None in row or None in row.values():
                yield RawRow(where, index, None, "unreadable_row", f"{len(reader.fieldnames or [])} columns expected")
            elif bad := next((k for k, v in row.items() if _SURROGATE.search(v)), None):
                yield RawRow(where, index, None, "bad_encoding", f"column {bad!r} is not valid UTF-8")
            else:
                yield RawRow(where, index, row)
            index += 1


def _parquet(path: Path, max_row_bytes: int) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        try:
            rows = batch.to_pylist()
        except Exception:  # e.g. invalid UTF-8 in a string column: find the row(s), keep the rest
            rows = []
            for i in range(batch.num_rows):
                try:
                    rows.append(batch.slice(i, 1).to_pylist()[0])
                except Exception as err:
                    rows.append(err)
        for row in rows:
            where = f"{path.name} row {index}"
            yield (
                RawRow(where, index, None, "unreadable_row", str(row))
                if isinstance(row, Exception)
                else RawRow(where, index, row)
            )
            index += 1
