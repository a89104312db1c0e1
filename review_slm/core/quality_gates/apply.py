"""The gates in the order they run, and the two calls that run them.

The gates that need no answer run first, in `gate_before_teacher`, so the teacher is never paid for a row that is
then thrown away; `apply_quality_gates` runs the rest on the teacher's candidates (or, without `before_teacher`,
every gate). Every row is kept or quarantined with a reason, so `rows_in == rows_kept + rows_quarantined` holds and
every count has a name. A new gate is one `Gate` subclass, placed in the tuples below where it should run.
"""

from __future__ import annotations

from review_slm.core.gold import Candidate, GoldExample, QuarantinedRow, difficulty, example_id
from review_slm.core.hunk_comments import HunkMerge
from review_slm.core.quality_gates.config import GateConfig, TokenCounter
from review_slm.core.quality_gates.content import EmptyOrBinaryHunk, WrongLanguage
from review_slm.core.quality_gates.duplicates import Duplicates
from review_slm.core.quality_gates.gate import Gate, GateOutcome, GateRow, GateRun, SameRows, Verdict, run_gates
from review_slm.core.quality_gates.reasons import QuarantineReason
from review_slm.core.quality_gates.share_caps import CleanCap, LazyNegativeCap
from review_slm.core.quality_gates.teacher_answer import TeacherAnswered
from review_slm.core.quality_gates.template_poisoning import TemplatePoisoning
from review_slm.core.quality_gates.token_budget import TokenBudget
from review_slm.core.quality_gates.unredactable import MostlyRedactedAtIngest, SecretsRedacted, redacted_names
from review_slm.core.schema import RejectedRow, ReviewRecord

BEFORE_TEACHER: tuple[Gate, ...] = (
    SameRows(EmptyOrBinaryHunk(), WrongLanguage(), MostlyRedactedAtIngest()),
    Duplicates(),
    TokenBudget(prompt_alone=True),
)
AFTER_TEACHER: tuple[Gate, ...] = (
    SameRows(TeacherAnswered(), SecretsRedacted()),
    TokenBudget(),
    TemplatePoisoning(),
    LazyNegativeCap(),
    CleanCap(),  # after the lazy cap: its share is of the rows that one kept
)
# Every gate in one call: duplicates are judged on the redacted texts, and beside the budget (a row over it still
# counts as the first of its duplicates).
ALL_GATES: tuple[Gate, ...] = (
    SameRows(EmptyOrBinaryHunk(), WrongLanguage(), TeacherAnswered(), SecretsRedacted()),
    SameRows(TokenBudget(), Duplicates()),
    TemplatePoisoning(),
    LazyNegativeCap(),
    CleanCap(),
)


def gate_before_teacher(
    records: list[ReviewRecord], config: GateConfig, count_tokens: TokenCounter | None = None
) -> tuple[list[ReviewRecord], list[QuarantinedRow]]:
    """The records worth asking the teacher about, and the rows `BEFORE_TEACHER` quarantined; pass those to
    `apply_quality_gates(..., before_teacher=...)`, which then runs only `AFTER_TEACHER`."""
    out = GateOutcome()
    rows = run_gates(BEFORE_TEACHER, [GateRow.of(r) for r in records], GateRun(config, count_tokens, out))
    return [row.record for row in rows], out.quarantined


def apply_quality_gates(
    candidates: list[Candidate],
    upstream_rejects: list[RejectedRow],
    config: GateConfig,
    count_tokens: TokenCounter | None = None,
    before_teacher: list[QuarantinedRow] | None = None,
) -> GateOutcome:
    """The gold examples of the candidates that pass, and every row quarantined: upstream's, `before_teacher`'s,
    then the gates' in their order."""
    out = GateOutcome()
    out.quarantined += [
        QuarantinedRow(
            row_id=f"{rej.source}:{rej.source_id}",
            source=rej.source,
            reason=rej.reason,
            field=rej.field,
            detail=rej.detail,
        )
        for rej in upstream_rejects
    ]
    out.quarantined += before_teacher or []
    run = GateRun(config, count_tokens, out)
    gates = ALL_GATES if before_teacher is None else AFTER_TEACHER
    out.kept = gold_examples(run_gates(gates, [GateRow.of(c) for c in candidates], run), run)
    return out


def gold_examples(rows: list[GateRow], run: GateRun) -> list[GoldExample]:
    names = redacted_names(rows, run)
    examples = []
    for row in rows:
        rec, cand, review = row.record, row.candidate, row.review
        assert cand is not None and review is not None, "kept rows are answered candidates"
        examples.append(
            GoldExample(
                id=row.example_id,
                record_id=rec.record_id,
                source=rec.source,
                repo=names.get(rec.repo, rec.repo),
                path=names.get(rec.path, rec.path),
                language=rec.language,
                diff_hunk=row.hunk,
                human_comment=row.comment,
                review=review,
                teacher=cand.teacher,
                lazy=row.lazy,
                clean=rec.clean,
                difficulty=difficulty(row.hunk, review),
            )
        )
    return examples


def folded_rows(merge: HunkMerge) -> list[QuarantinedRow]:
    """The comments that joined another's example on their hunk (`merged_into_hunk`, naming the example), and
    those that repeated another there word for word on the same line (`duplicate`): every row still accounted for."""
    out = GateOutcome()
    for rec, into in merge.merged:
        joined = f"one of {len(into.comments)} comments on the hunk of example {example_id(into.record_id)}"
        out.quarantine(
            rec, Verdict(QuarantineReason.MERGED_INTO_HUNK, "diff_hunk", f"{joined} (record {into.record_id})")
        )
    for rec, first in merge.duplicates:
        detail = f"same line and comment as {first.record_id} on the same hunk"
        out.quarantine(rec, Verdict(QuarantineReason.DUPLICATE, "body", detail))
    return out.quarantined
