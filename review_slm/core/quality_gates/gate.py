"""What a quality gate is, and how an ordered tuple of them runs over the rows.

A gate judges the rows that reached it and returns a `Verdict` for each one it quarantines; the others go on to
the next gate. A `RowGate` judges each row on its own; the others (duplicates, token budget, template poisoning,
the caps) need the whole set. `SameRows(a, b, ...)` has several gates judge the same rows: a row gets the
verdict of the first one that rejects it, and they are quarantined in row order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from review_slm.core.gold import Candidate, GoldExample, QuarantinedRow, example_id
from review_slm.core.hunk_comments import human_comments_text
from review_slm.core.lazy import is_lazy_comment, is_lazy_review
from review_slm.core.quality_gates.config import GateConfig, TokenCounter
from review_slm.core.quality_gates.reasons import QuarantineReason
from review_slm.core.schema import Review, ReviewRecord


class Verdict(NamedTuple):
    reason: QuarantineReason
    field: str | None  # the row's field the reason is about
    detail: str


@dataclass(eq=False)
class GateRow:
    """A row on its way through the gates: the texts its example will hold (the hunk, what the humans said, the
    teacher's review and its rendering, the exact assistant text), redacted once `SecretsRedacted` passed it."""

    record: ReviewRecord
    candidate: Candidate | None  # None before the teacher was asked
    hunk: str
    comment: str
    review: Review | None = None  # set by `TeacherAnswered`
    answer: str = ""

    @classmethod
    def of(cls, row: ReviewRecord | Candidate) -> GateRow:
        if isinstance(row, Candidate):
            return cls(row.record, row, row.record.diff_hunk, human_comments_text(row.record))
        return cls(row, None, row.diff_hunk, human_comments_text(row))

    @cached_property
    def example_id(self) -> str:
        return example_id(self.record.record_id)

    @property
    def clean(self) -> bool:
        """A hunk reviewers let pass."""
        return self.record.clean

    @cached_property
    def lazy(self) -> bool:
        """A "no issues" answer to code someone commented on (a reviewed-and-passed hunk's is not lazy)."""
        assert self.review is not None
        return (
            is_lazy_review(self.review)
            and all(is_lazy_comment(c.body) for c in self.record.comments)
            and not self.record.clean
        )


@dataclass
class GateOutcome:
    kept: list[GoldExample] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    secrets_redacted: int = 0
    tokens_counted: int = 0

    def reason_counts(self) -> Counter[str]:
        return Counter(q.reason for q in self.quarantined)

    def quarantine(self, record: ReviewRecord, verdict: Verdict) -> None:
        self.quarantined.append(
            QuarantinedRow(
                row_id=record.record_id,
                source=record.source,
                reason=verdict.reason,
                field=verdict.field,
                detail=verdict.detail,
            )
        )


@dataclass
class GateRun:
    """What every gate of one run is given: the knobs, the token counter, and the outcome's counters."""

    config: GateConfig
    count_tokens: TokenCounter | None
    outcome: GateOutcome


class Gate(ABC):
    reasons: tuple[QuarantineReason, ...]  # every reason its verdicts give

    @property
    def name(self) -> str:
        return type(self).__name__

    @abstractmethod
    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        """Index in `rows` -> verdict for each row to quarantine, in the order they are quarantined."""


class RowGate(Gate):
    """A gate that judges each row on its own (and may rewrite the row it passes)."""

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        found = {}
        for i, row in enumerate(rows):
            verdict = self.check(row, run)
            if verdict is not None:
                found[i] = verdict
        return found

    @abstractmethod
    def check(self, row: GateRow, run: GateRun) -> Verdict | None: ...


class SameRows(Gate):
    """Gates that judge the same rows; a row gets the first rejecting gate's verdict, quarantined in row order.
    A `RowGate` is not asked about a row an earlier gate here rejected (its answer could not change the verdict)."""

    def __init__(self, *gates: Gate):
        self.gates = gates
        self.reasons = tuple(reason for gate in gates for reason in gate.reasons)

    @property
    def name(self) -> str:
        return " + ".join(gate.name for gate in self.gates)

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        found: dict[int, Verdict] = {}
        for gate in self.gates:
            if isinstance(gate, RowGate):
                open_rows = [i for i in range(len(rows)) if i not in found]
                for j, verdict in gate.judge([rows[i] for i in open_rows], run).items():
                    found[open_rows[j]] = verdict
            else:
                for i, verdict in gate.judge(rows, run).items():
                    found.setdefault(i, verdict)
        return dict(sorted(found.items()))


def run_gates(gates: Sequence[Gate], rows: list[GateRow], run: GateRun) -> list[GateRow]:
    """The rows every gate passed, in input order; the others quarantined in `run.outcome`, gate after gate."""
    for gate in gates:
        verdicts = gate.judge(rows, run)
        if not verdicts:
            continue
        for i, verdict in verdicts.items():
            run.outcome.quarantine(rows[i].record, verdict)
        rows = [row for i, row in enumerate(rows) if i not in verdicts]
    return rows
