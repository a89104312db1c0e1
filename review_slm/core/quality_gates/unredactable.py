"""Gates on secrets and PII. Records were redacted at ingest already; after the teacher this pass also covers its
answer and rows built by other paths. The detectors run only where one vectorised screen of every text says they
could find something (`core/secret_screen.py`): `redact` would find nothing in a text the screen cleared."""

from __future__ import annotations

from review_slm.core.prompts import render_review
from review_slm.core.quality_gates.gate import GateRow, GateRun, RowGate, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason
from review_slm.core.redaction import marker_share, redact, redacted_share
from review_slm.core.schema import Review
from review_slm.core.secret_screen import might_have_secrets

UNREDACTABLE = QuarantineReason.SECRET_UNREDACTABLE


def changed_lines(hunk: str) -> str:
    return "\n".join(line[1:] for line in hunk.splitlines() if line.startswith(("+", "-")))


class MostlyRedactedAtIngest(RowGate):
    """Before the teacher: a hunk whose changed lines are mostly the markers of secrets redacted at ingest."""

    reasons = (UNREDACTABLE,)

    def check(self, row: GateRow, run: GateRun) -> Verdict | None:
        config = run.config
        if config.redact_secrets and marker_share(changed_lines(row.record.diff_hunk)) > config.max_redacted_share:
            return Verdict(UNREDACTABLE, "diff_hunk", "secrets redacted at ingest are most of the changed lines")
        return None


class SecretsRedacted(RowGate):
    """Redacts secrets and PII in the hunk, what was said and the answer (the full review, paths included: the
    rendered answer has none); quarantines a row whose hunk or a finding would be mostly markers. A row gate that
    screens all its rows at once."""

    reasons = (UNREDACTABLE,)

    def check(self, row: GateRow, run: GateRun) -> Verdict | None:
        return self.judge([row], run).get(0)

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        if not run.config.redact_secrets or not rows:
            return {}
        review_json = [_answered(row).model_dump_json() for row in rows]
        n = len(rows)
        maybe = might_have_secrets([r.hunk for r in rows] + [r.comment for r in rows] + review_json)
        found = {}
        for i, row in enumerate(rows):
            verdict = self._redact(row, review_json[i], (maybe[i], maybe[n + i], maybe[2 * n + i]), run)
            if verdict is not None:
                found[i] = verdict
        return found

    def _redact(
        self, row: GateRow, review_json: str, screened: tuple[bool, bool, bool], run: GateRun
    ) -> Verdict | None:
        """`screened`: per hunk, comment and review, whether the screen flagged it."""
        rec, said, review, limit = row.record, row.comment, _answered(row), run.config.max_redacted_share
        hunk, kinds_hunk = redact(rec.diff_hunk, rec.path) if screened[0] else (rec.diff_hunk, [])
        comment, kinds_body = redact(said) if screened[1] else (said, [])
        redacted_review, kinds_review = redact(review_json) if screened[2] else (review_json, [])
        if marker_share(changed_lines(hunk)) > limit:
            kinds = ", ".join(kinds_hunk) or "secrets redacted at ingest"
            return Verdict(UNREDACTABLE, "diff_hunk", f"{kinds} would replace most of the changed lines")
        if not (kinds_hunk or kinds_body or kinds_review):
            row.hunk, row.comment = hunk, comment
            run.outcome.secrets_redacted += "<REDACTED" in rec.diff_hunk + said
            return None
        try:
            redacted = Review.model_validate_json(redacted_review)
        except ValueError as err:  # a marker can only replace a token, but an answer is untrusted: never crash on one
            return Verdict(UNREDACTABLE, "review", f"the answer does not parse once redacted: {err}")
        for i, (before, after) in enumerate(zip(review.findings, redacted.findings)):
            if redacted_share(before.comment, after.comment) > limit:
                return Verdict(
                    UNREDACTABLE,
                    f"review.findings.{i}.comment",
                    f"the finding is about the secret itself ({', '.join(kinds_review)})",
                )
        row.hunk, row.comment, row.review, row.answer = hunk, comment, redacted, render_review(redacted)
        run.outcome.secrets_redacted += 1
        return None


def _answered(row: GateRow) -> Review:
    assert row.review is not None, "redaction runs after `TeacherAnswered`"
    return row.review


def redacted_names(rows: list[GateRow], run: GateRun) -> dict[str, str]:
    """The repositories and paths of `rows` that a detector could find something in, with their redaction."""
    if not run.config.redact_secrets:
        return {}
    names = [text for row in rows for text in (row.record.repo, row.record.path)]
    return {text: redact(text)[0] for text, maybe in zip(names, might_have_secrets(names)) if maybe}
