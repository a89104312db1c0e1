"""The two record shapes everything else speaks: a mined review comment and a structured review.

Pydantic gives us validation errors that name the field, and the JSON schema of `Review`
is what the teacher is constrained to (Ollama structured outputs).
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class Category(str, Enum):
    concurrency = "concurrency"
    resource_leak = "resource-leak"
    error_handling = "error-handling"
    security = "security"
    correctness = "correctness"
    performance = "performance"
    kubernetes_config = "kubernetes-config"
    style = "style"
    testing = "testing"
    docs = "docs"


# Every language the project knows; which of them a deployment reviews is `REVIEW_SLM_LANGUAGES`
# (core/languages.py), checked where records are made, not by the schema.
Language = Literal["go", "python", "yaml", "rust", "java", "typescript", "javascript"]


class Finding(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)

    path: str
    line: int = Field(ge=0)
    severity: Severity
    category: Category
    comment: str = Field(min_length=1)
    suggestion: str = ""


class Review(BaseModel):
    """What a reviewer model answers: an empty `findings` list is a valid answer for a clean diff."""

    model_config = ConfigDict(extra="forbid")

    findings: list[Finding]
    summary: str


class ReviewRecord(BaseModel):
    """One human review comment on one diff hunk, whatever the source (GitHub, HF dataset), or a hunk that reviewers
    let pass (`clean`)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["github", "hf"]
    source_id: str = Field(min_length=1)
    repo: str
    path: str = Field(min_length=1)
    line: int | None = None
    language: Language
    diff_hunk: str = Field(min_length=1)
    body: str = Field(min_length=1)
    suggestion: str = ""
    author: str = ""
    pr_number: int | None = None
    pr_url: str = ""
    created_at: str = ""
    updated_at: str = ""
    thread: list[str] = Field(default_factory=list, description="later replies in the thread, as 'login: body'")
    # Reviewed and passed: a hunk of a reviewed pull request that drew no comment, or a row its dataset labels as
    # needing none. Its gold answer is the empty review, and `body` says where the label comes from, not a finding.
    clean: bool = False
    # The gold stage folds the other comments on this hunk into one record (core/hunk_comments.py), so the teacher
    # sees them together and the example carries every finding. Never stored: the records table has one comment a row.
    also_on_hunk: list[ReviewRecord] = Field(default_factory=list, exclude=True)

    @property
    def record_id(self) -> str:
        return f"{self.source}:{self.source_id}"

    @property
    def comments(self) -> list[ReviewRecord]:
        """Every human comment on this hunk (this one and those folded in), by line, then as mined."""
        return sorted([self, *self.also_on_hunk], key=lambda r: r.line or 0)


class RejectedRow(BaseModel):
    """An input row that could not become a record: kept (never dropped) so the counts add up."""

    source: str
    source_id: str
    reason: str
    field: str | None = None
    detail: str = ""

    def describe(self) -> str:
        where = f" field '{self.field}'" if self.field else ""
        return f"{self.source} record {self.source_id}{where}: {self.reason} ({self.detail})"


def rejection_from_validation_error(source: str, source_id: str, err: ValidationError) -> RejectedRow:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    return RejectedRow(
        source=source,
        source_id=source_id,
        reason=f"malformed_{field.split('.')[0]}" if field else "malformed",
        field=field,
        detail=first.get("msg", str(err)),
    )


def content_hash(*parts: str) -> str:
    """Stable across processes and machines (unlike hash()): used for dedupe, splits and caches."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
