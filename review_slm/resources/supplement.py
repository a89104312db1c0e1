"""A public code-review dataset through `datasets`, mapped to `ReviewRecord` by a shape adapter.

`dataset` is a hub id (pin it with `revision`), a local data file (.jsonl/.json/.parquet/.csv)
or a folder. Rows are streamed, mapped and written one at a time, so a million-row dataset never sits
in memory: hub ids and folders through `datasets` (IterableDataset), local files row by row
(`supplement_files.py`) so that one bad line is quarantined instead of aborting the file. The embedded
default is the bundled file, read by the same code path as any local file.

Every row read is either mapped or rejected with its place (file and line, or row), field and reason:
`rows_read == rows_mapped + rows_rejected`. Hostile values are ordinary input: a number or a list
where text belongs, a NUL, text that is not UTF-8, a row over `max_row_bytes`. A repeated id is made
unique (`<id>~<row>`), so two rows never share a record id downstream.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, ValidationError

from review_slm.core.clean_hunks import CLEAN_BODY
from review_slm.core.diff_hunks import last_new_line
from review_slm.core.github_comments import extract_suggestion
from review_slm.core.languages import DEFAULT_LANGUAGES, EXTENSIONS, detect_language, normalize_language
from review_slm.core.schema import RejectedRow, ReviewRecord, rejection_from_validation_error
from review_slm.core.scrub import scrub_record, scrub_rejection
from review_slm.core.supplement_adapters import AdapterSpec, adapter_spec, clean_label, extract_diff
from review_slm.resources.supplement_files import RawRow, read_rows

BUNDLED_SUPPLEMENT = str(resources.files("review_slm.data") / "hf_supplement" / "code_review_supplement.jsonl")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class SupplementInfo:
    """Filled in while streaming: what was read, from where, and a content fingerprint of the rows."""

    dataset: str
    revision: str | None
    adapter: str
    rows_read: int = 0
    rows_mapped: int = 0
    rows_rejected: int = 0
    duplicate_ids_renamed: int = 0
    rows_redacted: int = 0
    fingerprint: str = ""


class HFSupplementSource(dg.ConfigurableResource):
    dataset: str = BUNDLED_SUPPLEMENT
    revision: str | None = None
    split: str = "train"
    adapter: Literal["codereviewer", "instruction", "critique"] = "codereviewer"
    columns: dict[str, str] = Field(
        default_factory=dict, description="column overrides by role: diff, comment, language, ..."
    )
    max_rows: int | None = None
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES), description="the languages reviewed (REVIEW_SLM_LANGUAGES)"
    )

    max_row_bytes: int = Field(default=1_000_000, description="a larger row is rejected unread (row_too_large)")

    def _stream(self) -> Iterator[RawRow]:
        path = Path(self.dataset)
        if path.is_file():
            yield from read_rows(path, self.max_row_bytes)
            return
        import datasets

        stream = datasets.load_dataset(self.dataset, revision=self.revision, split=self.split, streaming=True)
        index = 0
        try:
            for index, row in enumerate(stream):
                yield RawRow(f"row {index}", index, row)
        except Exception as err:  # a broken shard cannot be skipped row by row: fail loudly, naming where
            raise RuntimeError(
                f"supplement {self.dataset}@{self.revision or 'main'}: streaming failed after row {index}: {err}"
            ) from err

    def iter_rows(self, info: SupplementInfo) -> Iterator[tuple[ReviewRecord | None, RejectedRow | None]]:
        """Mapped rows, one at a time; `info` holds the counts and fingerprint once the iterator is exhausted."""
        spec = adapter_spec(self.adapter, self.columns)
        digest = hashlib.sha256()
        seen_ids: set[str] = set()
        for raw in self._stream():
            if self.max_rows is not None and raw.index >= self.max_rows:
                break
            info.rows_read += 1
            if raw.row is None:
                digest.update(f"{raw.reason}:{raw.where}".encode())
                result = (
                    None,
                    RejectedRow(
                        source="hf",
                        source_id=f"row-{raw.index}",
                        reason=raw.reason,
                        detail=f"{raw.where}: {raw.detail}",
                    ),
                )
            else:
                digest.update(
                    json.dumps(raw.row, sort_keys=True, default=str, ensure_ascii=False).encode(
                        "utf-8", "surrogatepass"
                    )
                )
                result = self.map_row(raw.row, raw.index, spec, where=raw.where)
            record, rejected = result
            if record is not None:
                record, kinds = scrub_record(record)  # before anything is persisted or sent to the teacher
                info.rows_redacted += bool(kinds)
                result = record, None
                if record.source_id in seen_ids:
                    record.source_id = f"{record.source_id}~{raw.index}"
                    info.duplicate_ids_renamed += 1
                seen_ids.add(record.source_id)
            else:
                assert rejected is not None  # map_row gives a record or a rejection
                result = None, scrub_rejection(rejected)
            info.rows_mapped += record is not None
            info.rows_rejected += record is None
            yield result
        info.fingerprint = digest.hexdigest()[:16]

    def info(self) -> SupplementInfo:
        return SupplementInfo(dataset=self.dataset, revision=self.revision, adapter=self.adapter)

    # C901: one check per way a dataset row can be malformed, each its own reject reason, in order
    def map_row(  # noqa: C901
        self, row: dict, index: int, spec: AdapterSpec | None = None, where: str = ""
    ) -> tuple[ReviewRecord | None, RejectedRow | None]:
        spec = spec or adapter_spec(self.adapter, self.columns)
        where = where or f"row {index}"
        raw_id = row.get(spec.id) if spec.id else None
        id_ok = raw_id is None or (isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool))
        source_id = str(raw_id).strip() if id_ok and raw_id is not None and str(raw_id).strip() else f"row-{index}"

        def reject(reason: str, column: str | None, detail: str) -> tuple[None, RejectedRow]:
            return None, RejectedRow(
                source="hf", source_id=source_id[:200], reason=reason, field=column, detail=f"{where}: {detail}"
            )

        if not id_ok:
            return reject(
                f"malformed_{spec.id}", spec.id, f"'{spec.id}' is a {type(raw_id).__name__}, not text or a number"
            )
        clean, bad_label = clean_label(row, spec)
        if bad_label:
            return reject(f"malformed_{bad_label}", bad_label, f"'{bad_label}' is not a yes-no label")
        comment = row.get(spec.comment)
        if clean and isinstance(comment, str) and comment.strip():
            return reject("clean_label_with_comment", spec.comment, "labelled as needing no comment, yet has one")
        for column in (spec.diff,) if clean else (spec.diff, spec.comment):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                what = "missing" if value is None else f"empty or not text ({type(value).__name__})"
                return reject(f"malformed_{column}", column, f"'{column}' is {what}")
        for column in (spec.language, spec.path, spec.repo):
            value = row.get(column) if column else None
            if value is not None and not isinstance(value, str):
                return reject(f"malformed_{column}", column, f"'{column}' is a {type(value).__name__}, not text")
        for column in filter(None, (spec.id, spec.diff, spec.comment, spec.language, spec.path, spec.repo)):
            value = row.get(column)
            if isinstance(value, str) and "\x00" in value:
                return reject("nul_byte", column, f"'{column}' contains a NUL character")
            if isinstance(value, str) and _SURROGATE.search(value):
                return reject("bad_encoding", column, f"'{column}' is not valid UTF-8 (a lone surrogate)")
        comment = CLEAN_BODY if clean else row[spec.comment]
        size = len(row[spec.diff].encode("utf-8")) + len(comment.encode("utf-8"))
        if size > self.max_row_bytes:
            return reject("row_too_large", spec.diff, f"{size:,} bytes > {self.max_row_bytes:,}")
        diff = extract_diff(row[spec.diff], spec.diff_in_text)
        declared = row.get(spec.language) if spec.language else None
        language = normalize_language(declared, tuple(self.languages))
        path = ((row.get(spec.path) if spec.path else None) or "").strip()
        path = path or (f"unknown.{EXTENSIONS[language]}" if language else "")
        if language is None:
            language = detect_language(path, diff, tuple(self.languages))
        if language is None:
            return reject(
                "unsupported_language", spec.language or spec.path or spec.diff, f"language {declared!r}, path {path!r}"
            )
        prose, suggestion = extract_suggestion(comment)
        try:
            record = ReviewRecord(
                source="hf",
                source_id=source_id,
                repo=((row.get(spec.repo) if spec.repo else None) or "").strip(),
                path=path,
                line=last_new_line(diff),
                language=language,
                diff_hunk=diff,
                body=prose or comment,
                suggestion=suggestion,
                clean=clean,
            )
        except ValidationError as err:
            rejected = rejection_from_validation_error("hf", source_id, err)
            rejected.detail = f"{where}: {rejected.detail}"
            return None, rejected
        return record, None
