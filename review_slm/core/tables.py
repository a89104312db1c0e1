"""The declared Arrow schemas of the tabular artifacts, and Parquet in and out of them.

Records, rejected rows, gold splits, the quarantine, preference pairs and model answers are Parquet
with these schemas: the data platform's native format (`datasets`, pandas, DuckDB and Spark read it
directly), typed, compressed, and read column by column. Writing through a declared schema makes a
row of the wrong shape fail at the writer, naming the column, instead of in a later reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

FINDING = pa.struct(
    [
        ("path", pa.string()),
        ("line", pa.int64()),
        ("severity", pa.string()),
        ("category", pa.string()),
        ("comment", pa.string()),
        ("suggestion", pa.string()),
    ]
)
REVIEW = pa.struct([("findings", pa.list_(FINDING)), ("summary", pa.string())])
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)

# core/schema.py ReviewRecord: one human review comment on one diff hunk.
RECORDS = pa.schema(
    [
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("line", pa.int64()),
        ("language", pa.string()),
        ("diff_hunk", pa.string()),
        ("body", pa.string()),
        ("suggestion", pa.string()),
        ("author", pa.string()),
        ("pr_number", pa.int64()),
        ("pr_url", pa.string()),
        ("created_at", pa.string()),
        ("updated_at", pa.string()),
        ("thread", pa.list_(pa.string())),
        ("clean", pa.bool_()),
    ]
)
# core/schema.py RejectedRow: an input row that could not become a record.
REJECTED = pa.schema(
    [
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("reason", pa.string()),
        ("field", pa.string()),
        ("detail", pa.string()),
    ]
)
# core/gold.py GoldExample: one row of a gold split.
GOLD = pa.schema(
    [
        ("id", pa.string()),
        ("record_id", pa.string()),
        ("source", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("language", pa.string()),
        ("diff_hunk", pa.string()),
        ("human_comment", pa.string()),
        ("review", REVIEW),
        ("teacher", pa.string()),
        ("lazy", pa.bool_()),
        ("clean", pa.bool_()),
        ("split", pa.string()),
        ("difficulty", pa.float64()),
    ]
)
# core/gold.py QuarantinedRow: a row the gates kept out, with its rule, field and why.
QUARANTINE = pa.schema(
    [
        ("row_id", pa.string()),
        ("source", pa.string()),
        ("reason", pa.string()),
        ("field", pa.string()),
        ("detail", pa.string()),
    ]
)
# core/pairing.py: a preference pair in TRL's conversational format.
PAIRS = pa.schema(
    [
        ("id", pa.string()),
        ("prompt", MESSAGES),
        ("chosen", MESSAGES),
        ("rejected", MESSAGES),
        ("rejected_kind", pa.string()),
        ("rejected_quality", pa.float64()),
    ]
)
# What a model answered to a prompt (generation output, the evaluation's per-model answers).
ANSWERS = pa.schema([("id", pa.string()), ("answer", pa.string())])
# evaluate/report_metadata.py sample_records: an evaluated item with each model's answer and its verdict.
EVAL_SAMPLES = pa.schema(
    [
        ("id", pa.string()),
        ("set", pa.string()),
        ("language", pa.string()),
        ("path", pa.string()),
        ("diff_hunk", pa.string()),
        ("gold", pa.string()),
        ("answers", pa.list_(pa.struct([("model", pa.string()), ("answer", pa.string()), ("verdict", pa.string())]))),
    ]
)
# What a model is asked (generation input).
PROMPTS = pa.schema([("id", pa.string()), ("messages", MESSAGES)])


def to_table(rows: Iterable[dict], schema: pa.Schema) -> pa.Table:
    """Rows as a table of `schema`; a missing column is null, an unknown one is an error (it would be lost)."""
    rows = list(rows)
    names = set(schema.names)
    for n, row in enumerate(rows):
        extra = set(row) - names
        if extra:
            raise ValueError(f"row {n}: columns {sorted(extra)} are not in the declared schema {schema.names}")
    return pa.Table.from_pylist(rows, schema=schema)


def write_parquet(where: str | Path | IO[bytes], rows: Iterable[dict], schema: pa.Schema) -> None:
    pq.write_table(to_table(rows, schema), where)


def read_parquet(where: str | Path | IO[bytes]) -> list[dict]:
    return pq.read_table(where).to_pylist()


@contextmanager
def parquet_writer(path: str | Path, schema: pa.Schema, batch_rows: int = 10_000) -> Iterator:
    """Write rows one at a time in constant memory: buffered into record batches of `batch_rows`."""
    batch: list[dict] = []
    with pq.ParquetWriter(str(path), schema) as writer:

        def write(row: dict) -> None:
            batch.append(row)
            if len(batch) >= batch_rows:
                writer.write_table(to_table(batch, schema))
                batch.clear()

        yield write
        if batch:
            writer.write_table(to_table(batch, schema))
