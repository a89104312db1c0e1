"""A public code-review dataset through `datasets`, mapped to `ReviewRecord`.

`dataset` is a hub id (pin it with `revision`), a local data file (.jsonl/.json/.parquet/.csv)
or a folder. The embedded default is the bundled file, read by the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import dagster as dg
from pydantic import ValidationError

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.github_comments import extract_suggestion
from review_slm.core.languages import detect_language, normalize_language
from review_slm.core.schema import RejectedRow, ReviewRecord, rejection_from_validation_error

BUNDLED_SUPPLEMENT = str(resources.files("review_slm.data") / "hf_supplement" / "code_review_supplement.jsonl")
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
_EXT = {"go": "go", "python": "py", "yaml": "yaml"}


@dataclass
class SupplementBatch:
    records: list[ReviewRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    rows_read: int = 0
    dataset: str = ""
    revision: str | None = None
    fingerprint: str = ""


class HFSupplementSource(dg.ConfigurableResource):
    dataset: str = BUNDLED_SUPPLEMENT
    revision: str | None = None
    split: str = "train"
    max_rows: int | None = None
    id_column: str = "id"
    diff_column: str = "patch"
    comment_column: str = "msg"
    language_column: str = "lang"
    path_column: str = "path"
    repo_column: str = "proj"

    def _load(self):
        import datasets

        path = Path(self.dataset)
        if path.is_file():
            builder = _BUILDERS.get(path.suffix)
            if builder is None:
                raise ValueError(f"supplement {self.dataset}: unsupported file type {path.suffix} (use one of {sorted(_BUILDERS)})")
            return datasets.load_dataset(builder, data_files=str(path), split=self.split)
        return datasets.load_dataset(self.dataset, revision=self.revision, split=self.split)

    def load(self) -> SupplementBatch:
        ds = self._load()
        if self.max_rows is not None:
            ds = ds.select(range(min(self.max_rows, len(ds))))
        batch = SupplementBatch(dataset=self.dataset, revision=self.revision, fingerprint=getattr(ds, "_fingerprint", ""))
        for index, row in enumerate(ds):
            batch.rows_read += 1
            record, rejected = self.map_row(row, index)
            if record:
                batch.records.append(record)
            else:
                batch.rejected.append(rejected)
        return batch

    def map_row(self, row: dict, index: int) -> tuple[ReviewRecord | None, RejectedRow | None]:
        source_id = str(row.get(self.id_column) or f"row-{index}")

        def reject(reason: str, column: str, detail: str) -> tuple[None, RejectedRow]:
            return None, RejectedRow(source="hf", source_id=source_id, reason=reason, field=column, detail=detail)

        for column in (self.diff_column, self.comment_column):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                what = "missing" if value is None else f"empty or not text ({type(value).__name__})"
                return reject(f"malformed_{column}", column, f"row {index}: '{column}' is {what}")
        diff = row[self.diff_column]
        declared = row.get(self.language_column)
        language = normalize_language(declared)
        path = row.get(self.path_column) or (f"unknown.{_EXT[language]}" if language else "")
        if language is None:
            language = detect_language(path, diff)
        if language is None:
            return reject("unsupported_language", self.language_column, f"row {index}: language {declared!r}, path {path!r}")
        prose, suggestion = extract_suggestion(row[self.comment_column])
        try:
            record = ReviewRecord(
                source="hf",
                source_id=source_id,
                repo=str(row.get(self.repo_column) or ""),
                path=path,
                line=last_new_line(diff),
                language=language,
                diff_hunk=diff,
                body=prose or row[self.comment_column],
                suggestion=suggestion,
            )
        except ValidationError as err:
            return None, rejection_from_validation_error("hf", source_id, err)
        return record, None
