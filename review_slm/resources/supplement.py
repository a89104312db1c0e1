"""A public code-review dataset through `datasets`, mapped to `ReviewRecord` by a shape adapter.

`dataset` is a hub id (pin it with `revision`), a local data file (.jsonl/.json/.parquet/.csv)
or a folder. Rows are streamed (`datasets` IterableDataset), mapped and written one at a time, so a
million-row dataset never sits in memory. The embedded default is the bundled file, read by the
same code path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field, ValidationError

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.github_comments import extract_suggestion
from review_slm.core.languages import detect_language, normalize_language
from review_slm.core.schema import RejectedRow, ReviewRecord, rejection_from_validation_error
from review_slm.core.supplement_adapters import AdapterSpec, adapter_spec, extract_diff

BUNDLED_SUPPLEMENT = str(resources.files("review_slm.data") / "hf_supplement" / "code_review_supplement.jsonl")
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_EXT = {"go": "go", "python": "py", "yaml": "yaml"}


@dataclass
class SupplementInfo:
    """Filled in while streaming: what was read, from where, and a content fingerprint of the rows."""

    dataset: str
    revision: str | None
    adapter: str
    rows_read: int = 0
    fingerprint: str = ""


class HFSupplementSource(dg.ConfigurableResource):
    dataset: str = BUNDLED_SUPPLEMENT
    revision: str | None = None
    split: str = "train"
    adapter: Literal["codereviewer", "instruction", "critique"] = "codereviewer"
    columns: dict[str, str] = Field(default_factory=dict, description="column overrides by role: diff, comment, language, ...")
    max_rows: int | None = None

    def _stream(self):
        import datasets

        path = Path(self.dataset)
        if path.is_file():
            builder = _BUILDERS.get(path.suffix)
            if builder is None:
                raise ValueError(f"supplement {self.dataset}: unsupported file type {path.suffix} (use one of {sorted(_BUILDERS)})")
            return datasets.load_dataset(builder, data_files=str(path), split=self.split, streaming=True)
        return datasets.load_dataset(self.dataset, revision=self.revision, split=self.split, streaming=True)

    def iter_rows(self, info: SupplementInfo) -> Iterator[tuple[ReviewRecord | None, RejectedRow | None]]:
        """Mapped rows, one at a time; `info` holds the counts and fingerprint once the iterator is exhausted."""
        spec = adapter_spec(self.adapter, self.columns)
        digest = hashlib.sha256()
        for index, row in enumerate(self._stream()):
            if self.max_rows is not None and index >= self.max_rows:
                break
            digest.update(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False).encode())
            info.rows_read += 1
            yield self.map_row(row, index, spec)
        info.fingerprint = digest.hexdigest()[:16]

    def info(self) -> SupplementInfo:
        return SupplementInfo(dataset=self.dataset, revision=self.revision, adapter=self.adapter)

    def map_row(self, row: dict, index: int, spec: AdapterSpec | None = None) -> tuple[ReviewRecord | None, RejectedRow | None]:
        spec = spec or adapter_spec(self.adapter, self.columns)
        source_id = str((row.get(spec.id) if spec.id else None) or f"row-{index}")

        def reject(reason: str, column: str, detail: str) -> tuple[None, RejectedRow]:
            return None, RejectedRow(source="hf", source_id=source_id, reason=reason, field=column, detail=detail)

        for column in (spec.diff, spec.comment):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                what = "missing" if value is None else f"empty or not text ({type(value).__name__})"
                return reject(f"malformed_{column}", column, f"row {index}: '{column}' is {what}")
        diff = extract_diff(row[spec.diff], spec.diff_in_text)
        declared = row.get(spec.language) if spec.language else None
        language = normalize_language(declared)
        path = (row.get(spec.path) if spec.path else None) or (f"unknown.{_EXT[language]}" if language else "")
        if language is None:
            language = detect_language(path, diff)
        if language is None:
            return reject("unsupported_language", spec.language or spec.path or spec.diff, f"row {index}: language {declared!r}, path {path!r}")
        prose, suggestion = extract_suggestion(row[spec.comment])
        try:
            record = ReviewRecord(
                source="hf",
                source_id=source_id,
                repo=str((row.get(spec.repo) if spec.repo else None) or ""),
                path=path,
                line=last_new_line(diff),
                language=language,
                diff_hunk=diff,
                body=prose or row[spec.comment],
                suggestion=suggestion,
            )
        except ValidationError as err:
            return None, rejection_from_validation_error("hf", source_id, err)
        return record, None
