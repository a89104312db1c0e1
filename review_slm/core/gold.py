"""The gold set: structured reviews that passed every quality gate, split train / val / test.

Each gate is a named rule; a row it rejects is quarantined with that rule's reason, so
rows_in == rows_kept + rows_quarantined always holds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

from review_slm.core.diff_hunks import is_binary_or_empty
from review_slm.core.lazy import is_lazy_comment, is_lazy_review
from review_slm.core.prompts import render_review, student_user_prompt
from review_slm.core.schema import RejectedRow, Review, ReviewRecord, content_hash
from review_slm.core.secrets import redact


class GoldExample(BaseModel):
    id: str
    record_id: str
    source: str
    repo: str
    path: str
    language: str
    diff_hunk: str
    human_comment: str
    review: Review
    teacher: str
    lazy: bool
    split: str = ""
    difficulty: float = 0.0

    @property
    def hunk_key(self) -> str:
        return content_hash(self.path, self.diff_hunk)


class QuarantinedRow(BaseModel):
    row_id: str
    source: str
    reason: str
    field: str | None = None
    detail: str = ""


@dataclass
class Candidate:
    """A record with the teacher's answer (or the reason it has none)."""

    record: ReviewRecord
    review: Review | None
    teacher: str
    error: str = ""


@dataclass(frozen=True)
class GateConfig:
    max_lazy_share: float = 0.15
    max_example_chars: int = 6000
    redact_secrets: bool = True


@dataclass
class GateOutcome:
    kept: list[GoldExample] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    secrets_redacted: int = 0

    def reason_counts(self) -> Counter[str]:
        return Counter(q.reason for q in self.quarantined)


def _difficulty(example: GoldExample) -> float:
    weights = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0.5}
    hunk_lines = example.diff_hunk.count("\n") + 1
    return round(hunk_lines / 20 + sum(weights[f.severity] for f in example.review.findings), 3)


def apply_quality_gates(
    candidates: list[Candidate], upstream_rejects: list[RejectedRow], config: GateConfig
) -> GateOutcome:
    out = GateOutcome()
    for rej in upstream_rejects:
        out.quarantined.append(
            QuarantinedRow(row_id=f"{rej.source}:{rej.source_id}", source=rej.source, reason=rej.reason, field=rej.field, detail=rej.detail)
        )

    seen: set[str] = set()
    survivors: list[GoldExample] = []
    for cand in candidates:
        rec = cand.record

        def quarantine(reason: str, fld: str | None = None, detail: str = "") -> None:
            out.quarantined.append(QuarantinedRow(row_id=rec.record_id, source=rec.source, reason=reason, field=fld, detail=detail))

        if is_binary_or_empty(rec.diff_hunk):
            quarantine("empty_hunk", "diff_hunk", "no added, removed or context lines")
            continue
        if cand.review is None:
            quarantine("teacher_invalid", "review", cand.error)
            continue
        review, hunk, body = cand.review, rec.diff_hunk, rec.body
        if config.redact_secrets:
            hunk, kinds_hunk = redact(hunk)
            body, kinds_body = redact(body)
            review_text, kinds_review = redact(render_review(review))
            if kinds_hunk or kinds_body or kinds_review:
                review = Review.model_validate_json(review_text)
                out.secrets_redacted += 1
        size = len(student_user_prompt(rec.path, rec.language, hunk)) + len(render_review(review))
        if size > config.max_example_chars:
            quarantine("over_token_budget", "diff_hunk", f"{size} chars > {config.max_example_chars}")
            continue
        key = content_hash(rec.path, hunk, render_review(review))
        if key in seen:
            quarantine("duplicate", "diff_hunk", "same file, hunk and review as an earlier row")
            continue
        seen.add(key)
        example = GoldExample(
            id=content_hash(rec.record_id)[:16],
            record_id=rec.record_id,
            source=rec.source,
            repo=rec.repo,
            path=rec.path,
            language=rec.language,
            diff_hunk=hunk,
            human_comment=body,
            review=review,
            teacher=cand.teacher,
            lazy=is_lazy_review(review) and is_lazy_comment(rec.body),
        )
        example.difficulty = _difficulty(example)
        survivors.append(example)

    # Lazy negatives poisoned the seed model: keep at most max_lazy_share of the kept rows,
    # choosing which ones by hash so the choice is stable across reruns.
    lazy = sorted((e for e in survivors if e.lazy), key=lambda e: e.id)
    non_lazy = [e for e in survivors if not e.lazy]
    share = config.max_lazy_share
    allowed = int(share * len(non_lazy) / (1 - share)) if share < 1 else len(lazy)
    for example in lazy[allowed:]:
        out.quarantined.append(
            QuarantinedRow(row_id=example.record_id, source=example.source, reason="lazy_negative_over_cap", field="review",
                           detail=f"lazy share capped at {share:.0%}")
        )
    kept_ids = {e.id for e in lazy[:allowed]} | {e.id for e in non_lazy}
    out.kept = [e for e in survivors if e.id in kept_ids]
    return out


def split_of(hunk_key: str, val_share: float = 0.1, test_share: float = 0.1) -> str:
    """Stable split from the content hash of (path, hunk): the same hunk never straddles splits."""
    bucket = int(hunk_key[:8], 16) / 0xFFFFFFFF
    if bucket < test_share:
        return "test"
    if bucket < test_share + val_share:
        return "val"
    return "train"


def assign_splits(examples: list[GoldExample], frozen_test_keys: set[str] | None) -> None:
    """Without a frozen test split, hash decides. With one, its hunks stay test and new rows never join it."""
    for ex in examples:
        split = split_of(ex.hunk_key)
        if frozen_test_keys is not None:
            if ex.hunk_key in frozen_test_keys:
                split = "test"
            elif split == "test":
                split = "val"
        ex.split = split


def to_jsonl(rows: list[BaseModel]) -> str:
    return "".join(json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in rows)
