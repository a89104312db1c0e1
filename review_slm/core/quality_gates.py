"""The quality gates between teacher answers and the gold set.

The gates that need no answer (content, secrets left by ingest, duplicates, a prompt over budget) run
first, in `gate_before_teacher`, so the teacher is never paid for a row that is then thrown away.
Each gate is a named rule and its name is the quarantine reason, so
`rows_in == rows_kept + rows_quarantined` always holds and every count has a name:

| rule                       | quarantines a row when                                                      |
|----------------------------|-----------------------------------------------------------------------------|
| (upstream reason)          | mining / the supplement already rejected it (bot, outdated, malformed_x...) |
| `empty_or_binary_hunk`     | the hunk has no text lines, or is binary                                    |
| `wrong_language`           | its content is clearly another supported language than the declared one     |
| `teacher_invalid`          | the teacher's answer failed the findings schema twice                        |
| `teacher_failed`           | the teacher timed out or errored after its retries                          |
| `secret_unredactable`      | redacting secrets / PII would leave too little of the hunk or of a finding   |
| `over_token_budget`        | prompt + review is longer than the recipe allows, in student tokens          |
| `merged_into_hunk`         | its comment joined the example of another comment on the same hunk           |
| `duplicate`                | the same hunk and comment (whitespace-insensitive) came earlier             |
| `near_duplicate`           | MinHash Jaccard of the hunk and of the comment(s) with an earlier row both  |
|                            | reach the threshold (another comment on the same code is another example)   |
| `template_poisoning`       | its answer repeats a sentence skeleton seen across too many unrelated hunks |
| `lazy_negative_over_cap`   | a lazy "no issues" example beyond the configured share                      |
| `clean_over_cap`           | a reviewed-and-passed hunk (empty review) beyond `clean_share`              |

A clean example (a hunk reviewers let pass, `ReviewRecord.clean`) answers "No issues found." and is not lazy: lazy
is a no-issues answer to code someone commented on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from review_slm.core.diff_hunks import is_binary_or_empty
from review_slm.core.gold import Candidate, GoldExample, QuarantinedRow, difficulty, example_id
from review_slm.core.hunk_comments import HunkComments, HunkMerge, human_comments_text
from review_slm.core.languages import contradicting_language
from review_slm.core.lazy import is_lazy_comment, is_lazy_review
from review_slm.core.near_duplicates import find_near_duplicates
from review_slm.core.prompts import STUDENT_SYSTEM_PROMPT, render_review, student_user_prompt
from review_slm.core.redaction import marker_share, redact, redacted_share
from review_slm.core.schema import RejectedRow, Review, ReviewRecord, content_hash
from review_slm.core.secret_screen import might_have_secrets
from review_slm.core.templates import poisoned_skeletons, skeletons

# Chat framing (<|im_start|>role\n ... <|im_end|>\n) costs fewer tokens than this many bytes.
_FRAMING_BYTES = 64
_SPACE = re.compile(r"\s+")

TokenCounter = Callable[[list[tuple[str, str]]], list[int]]
"""Counts the student's tokens of (user prompt, assistant answer) pairs, chat template included."""


@dataclass(frozen=True)
class GateConfig:
    max_lazy_share: float = 0.15
    # Reviewed-and-passed hunks: probably, not surely, clean; too many and the student learns to stay quiet.
    clean_share: float = 0.1
    max_example_tokens: int = 2048
    redact_secrets: bool = True
    max_redacted_share: float = 0.8
    near_duplicate_threshold: float = 0.85
    # Several comments on one hunk become one example with every finding (core/hunk_comments.py); off, each stays
    # an example of its own (its hunk ends at its line) and the duplicate gates keep them apart by what was said.
    hunk_comments: HunkComments = "change"  # the recipe's: how far comments on one hunk merge (hunk_comments.py)
    # A skeleton may recur in answers to this many distinct hunks, or this share of the rows, whichever is larger.
    template_min_hunks: int = 8
    template_max_share: float = 0.02


@dataclass
class GateOutcome:
    kept: list[GoldExample] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    secrets_redacted: int = 0
    tokens_counted: int = 0

    def reason_counts(self) -> Counter[str]:
        return Counter(q.reason for q in self.quarantined)


@dataclass
class _Row:
    candidate: Candidate
    hunk: str
    comment: str
    review: Review
    answer: str  # the rendered review, the exact assistant text


def _quarantine(out: GateOutcome, cand: Candidate | ReviewRecord, reason: str, fld: str | None, detail: str) -> None:
    rec = cand.record if isinstance(cand, Candidate) else cand
    out.quarantined.append(
        QuarantinedRow(row_id=rec.record_id, source=rec.source, reason=reason, field=fld, detail=detail)
    )


def _content_problem(rec: ReviewRecord) -> tuple[str, str, str] | None:
    """(reason, field, detail) when the hunk itself is not worth a review, whoever writes it."""
    if is_binary_or_empty(rec.diff_hunk):
        return "empty_or_binary_hunk", "diff_hunk", "no text lines, or a binary file"
    other = contradicting_language(rec.language, rec.diff_hunk)
    if other:
        return "wrong_language", "language", f"declared {rec.language}, content is {other}"
    return None


def _duplicates(pairs: list[tuple[str, str]], ids: list[str], threshold: float) -> dict[int, tuple[str, str]]:
    """index -> (reason, detail) for exact (whitespace-insensitive) and MinHash near duplicates of an earlier
    (hunk, comment) pair, the hunk and what was said compared apart; the first one wins."""
    near = find_near_duplicates([hunk for hunk, _ in pairs], threshold, said=[comment for _, comment in pairs])
    seen: dict[str, str] = {}
    found: dict[int, tuple[str, str]] = {}
    for i, (hunk, comment) in enumerate(pairs):
        exact = content_hash(_SPACE.sub(" ", hunk).strip(), _SPACE.sub(" ", comment).strip().lower())
        if exact in seen:
            found[i] = ("duplicate", f"same hunk and comment as {seen[exact]}")
            continue
        seen[exact] = ids[i]
        if i in near:
            j, similarity = near[i]
            found[i] = ("near_duplicate", f"Jaccard ≈{similarity:.2f} with {ids[j]}")
    return found


def folded_rows(merge: HunkMerge) -> list[QuarantinedRow]:
    """The comments that joined another's example on their hunk (`merged_into_hunk`, naming the example), and
    those that repeated another there word for word on the same line (`duplicate`): every row still accounted for."""
    out = GateOutcome()
    for rec, into in merge.merged:
        joined = f"one of {len(into.comments)} comments on the hunk of example {example_id(into.record_id)}"
        _quarantine(out, rec, "merged_into_hunk", "diff_hunk", f"{joined} (record {into.record_id})")
    for rec, first in merge.duplicates:
        _quarantine(out, rec, "duplicate", "body", f"same line and comment as {first.record_id} on the same hunk")
    return out.quarantined


def gate_before_teacher(
    records: list[ReviewRecord], config: GateConfig, count_tokens: TokenCounter | None = None
) -> tuple[list[ReviewRecord], list[QuarantinedRow]]:
    """The gates that need no teacher answer, run before anyone pays for one: empty/binary hunk, wrong
    language, a hunk that is mostly redacted secrets, exact and near duplicates, and a prompt that alone
    is over the token budget. Returns the records worth asking about and the rows quarantined here;
    `apply_quality_gates(..., before_teacher=those rows)` then skips these gates."""
    out = GateOutcome()
    rows = []
    for rec in records:
        problem = _content_problem(rec)
        if problem:
            _quarantine(out, rec, *problem)
        elif config.redact_secrets and marker_share(_changed(rec.diff_hunk)) > config.max_redacted_share:
            _quarantine(
                out, rec, "secret_unredactable", "diff_hunk", "secrets redacted at ingest are most of the changed lines"
            )
        else:
            rows.append(rec)
    said = [(r.diff_hunk, human_comments_text(r)) for r in rows]
    dups = _duplicates(said, [r.record_id for r in rows], config.near_duplicate_threshold)
    for i in sorted(dups):
        _quarantine(out, rows[i], dups[i][0], "diff_hunk", dups[i][1])
    rows = [r for i, r in enumerate(rows) if i not in dups]
    too_long = _over_budget([(r.path, r.language, r.diff_hunk, "") for r in rows], config, count_tokens, out)
    kept = [r for i, r in enumerate(rows) if i not in too_long]
    for i in too_long:
        _quarantine(
            out,
            rows[i],
            "over_token_budget",
            "diff_hunk",
            f"the prompt alone is {too_long[i]} tokens > {config.max_example_tokens}",
        )
    return kept, out.quarantined


def _changed(hunk: str) -> str:
    return "\n".join(line[1:] for line in hunk.splitlines() if line[:1] in "+-")


def _scrub(
    cand: Candidate, config: GateConfig, review_json: str = "", screened: tuple[bool, bool, bool] = (True, True, True)
) -> tuple[_Row | None, str, str, bool]:
    """Redact secrets and PII everywhere; returns (row, field, detail, redacted) with row None when unredactable.
    Records were redacted at ingest already; this pass also covers the teacher's answer and catches rows
    built by other paths. A hunk whose changed lines are mostly markers (now or from ingest) is quarantined.
    `screened`: per hunk, comment and `review_json`, whether `might_have_secrets` flagged it; `redact` would find
    nothing in a text it cleared, so it is not run there."""
    rec, review = cand.record, cand.review
    assert review is not None  # only answered candidates are scrubbed
    answered_review = review
    answer = render_review(review)
    said = human_comments_text(rec)
    if not config.redact_secrets:
        return _Row(cand, rec.diff_hunk, said, review, answer), "", "", False
    hunk, kinds_hunk = redact(rec.diff_hunk, rec.path) if screened[0] else (rec.diff_hunk, [])
    comment, kinds_body = redact(said) if screened[1] else (said, [])
    # The full review (paths included) is redacted: the rendered student answer has no paths.
    review_json = review_json or review.model_dump_json()
    redacted_review, kinds_review = redact(review_json) if screened[2] else (review_json, [])
    if marker_share(_changed(hunk)) > config.max_redacted_share:
        kinds = ", ".join(kinds_hunk) or "secrets redacted at ingest"
        return None, "diff_hunk", f"{kinds} would replace most of the changed lines", True
    if not (kinds_hunk or kinds_body or kinds_review):
        return _Row(cand, hunk, comment, review, answer), "", "", "<REDACTED" in rec.diff_hunk + said
    try:
        review = Review.model_validate_json(redacted_review)
    except ValueError as err:  # a marker can only replace a token, but an answer is untrusted: never crash on one
        return None, "review", f"the answer does not parse once redacted: {err}", True
    new_answer = render_review(review)
    for i, (before, after) in enumerate(zip(answered_review.findings, review.findings)):
        if redacted_share(before.comment, after.comment) > config.max_redacted_share:
            return (
                None,
                f"review.findings.{i}.comment",
                f"the finding is about the secret itself ({', '.join(kinds_review)})",
                True,
            )
    return _Row(cand, hunk, comment, review, new_answer), "", "", True


_DIGITS = re.compile(r"\d+")
_EMPTY_PROMPT_BYTES = len(student_user_prompt("", "", "").encode())


def _prompt_bytes_bound(path: str, language: str, hunk: str) -> int:
    """At least len(student_user_prompt(path, language, hunk).encode()), without rendering it: each line gains a
    number column and a space (a line number is at most the header's start plus the line count, so its width at
    most the longest digit run's plus the count's plus one), and fencing makes a '<' or '>' a 3-byte '‹' / '›'."""
    lines = len(hunk.splitlines())
    width = max(map(len, _DIGITS.findall(hunk)), default=0) + len(str(lines)) + 1
    return (
        _EMPTY_PROMPT_BYTES
        + len(path.encode())
        + len(language.encode())
        + len(hunk.encode())
        + lines * (width + 1)
        + 2 * (hunk.count("<") + hunk.count(">"))
    )


def _over_budget(
    rows: list[tuple[str, str, str, str]], config: GateConfig, count_tokens: TokenCounter | None, out: GateOutcome
) -> dict[int, int]:
    """Token counts of the (path, language, hunk, answer) rows over the budget. A byte-level BPE token is at
    least one byte, so a row with fewer bytes than the budget fits without asking the tokenizer."""
    system_bytes = len(STUDENT_SYSTEM_PROMPT.encode()) + _FRAMING_BYTES
    maybe: list[tuple[int, str, str]] = []
    for i, (path, language, hunk, answer) in enumerate(rows):
        answer_bytes = len(answer.encode())
        if system_bytes + _prompt_bytes_bound(path, language, hunk) + answer_bytes <= config.max_example_tokens:
            continue  # fits without rendering the prompt
        prompt = student_user_prompt(path, language, hunk)
        if system_bytes + len(prompt.encode()) + answer_bytes > config.max_example_tokens:
            maybe.append((i, prompt, answer))
    if not maybe:
        return {}
    if count_tokens is None:
        raise ValueError(
            f"{len(maybe)} rows may exceed max_example_tokens={config.max_example_tokens}: a token counter is required"
        )
    counts = count_tokens([(prompt, answer) for _, prompt, answer in maybe])
    out.tokens_counted += len(maybe)
    return {i: n for (i, _, _), n in zip(maybe, counts) if n > config.max_example_tokens}


def apply_quality_gates(
    candidates: list[Candidate],
    upstream_rejects: list[RejectedRow],
    config: GateConfig,
    count_tokens: TokenCounter | None = None,
    before_teacher: list[QuarantinedRow] | None = None,
) -> GateOutcome:
    """All gates. With `before_teacher` (what `gate_before_teacher` quarantined), the content and duplicate
    gates already ran on these candidates and are not run again; the token budget is (answer included)."""
    out = GateOutcome()
    for rej in upstream_rejects:
        out.quarantined.append(
            QuarantinedRow(
                row_id=f"{rej.source}:{rej.source_id}",
                source=rej.source,
                reason=rej.reason,
                field=rej.field,
                detail=rej.detail,
            )
        )
    out.quarantined += before_teacher or []

    # Row by row: content, teacher answer, secrets; the secret detectors only where one vectorised screen of
    # every hunk, comment and answer says they could find something.
    answered = [c for c in candidates if c.review is not None]
    review_json = {id(c): c.review.model_dump_json() for c in answered if c.review} if config.redact_secrets else {}
    screened: dict[int, tuple[bool, bool, bool]] = {}
    if config.redact_secrets and answered:
        n = len(answered)
        maybe = might_have_secrets(
            [c.record.diff_hunk for c in answered]
            + [human_comments_text(c.record) for c in answered]
            + list(review_json.values())
        )
        screened = {id(c): (maybe[i], maybe[n + i], maybe[2 * n + i]) for i, c in enumerate(answered)}
    rows: list[_Row] = []
    for cand in candidates:
        problem = None if before_teacher is not None else _content_problem(cand.record)
        if problem:
            _quarantine(out, cand, *problem)
            continue
        if cand.review is None:
            _quarantine(out, cand, cand.failure or "teacher_invalid", "review", cand.error)
            continue
        row, fld, detail, redacted = _scrub(
            cand, config, review_json.get(id(cand), ""), screened.get(id(cand), (True, True, True))
        )
        out.secrets_redacted += redacted and row is not None
        if row is None:
            _quarantine(out, cand, "secret_unredactable", fld, detail)
            continue
        rows.append(row)

    # Budget, exact and near duplicates: over the surviving rows, in input order (the first one wins).
    too_long = _over_budget(
        [(r.candidate.record.path, r.candidate.record.language, r.hunk, r.answer) for r in rows],
        config,
        count_tokens,
        out,
    )
    dups = (
        {}
        if before_teacher is not None
        else _duplicates(
            [(r.hunk, r.comment) for r in rows],
            [r.candidate.record.record_id for r in rows],
            config.near_duplicate_threshold,
        )
    )
    survivors: list[tuple[_Row, str]] = []
    for i, row in enumerate(rows):
        if i in too_long:
            _quarantine(
                out,
                row.candidate,
                "over_token_budget",
                "diff_hunk",
                f"{too_long[i]} tokens > {config.max_example_tokens}",
            )
        elif i in dups:
            _quarantine(out, row.candidate, dups[i][0], "diff_hunk", dups[i][1])
        else:
            survivors.append((row, content_hash(row.hunk)))

    # Template poisoning: across the answers that say something (lazy answers are the lazy cap's business).
    limit = max(config.template_min_hunks, int(config.template_max_share * len(survivors)))
    texts = [
        (key, " ".join([*(f.comment for f in row.review.findings), row.review.summary]))
        for row, key in survivors
        if row.review.findings
    ]
    poisoned = poisoned_skeletons(texts, limit)
    examples: list[GoldExample] = []
    names = [text for row, _ in survivors for text in (row.candidate.record.repo, row.candidate.record.path)]
    maybe_names = (
        {text for text, maybe in zip(names, might_have_secrets(names)) if maybe} if config.redact_secrets else set()
    )

    def scrub(text):
        return redact(text)[0] if text in maybe_names else text

    for row, _key in survivors:
        rec = row.candidate.record
        if row.review.findings and poisoned:
            hit = skeletons(" ".join([*(f.comment for f in row.review.findings), row.review.summary])) & poisoned.keys()
            if hit:
                sk = sorted(hit)[0]
                _quarantine(
                    out,
                    row.candidate,
                    "template_poisoning",
                    "review",
                    f"'{sk}' answers {poisoned[sk]} unrelated hunks (limit {limit})",
                )
                continue
        examples.append(
            GoldExample(
                id=example_id(rec.record_id),
                record_id=rec.record_id,
                source=rec.source,
                repo=scrub(rec.repo),
                path=scrub(rec.path),
                language=rec.language,
                diff_hunk=row.hunk,
                human_comment=row.comment,
                review=row.review,
                teacher=row.candidate.teacher,
                lazy=is_lazy_review(row.review)
                and all(is_lazy_comment(c.body) for c in rec.comments)
                and not rec.clean,
                clean=rec.clean,
                difficulty=difficulty(row.hunk, row.review),
            )
        )

    # Lazy negatives poisoned the seed model: keep at most max_lazy_share of the kept rows, and clean examples at most
    # clean_share, choosing which ones by hash so the choice is stable across reruns.
    dropped: set[int] = set()  # by object, not by `id`: two rows that share a record id must not drop each other
    for flag, share, reason, what in (
        ("lazy", config.max_lazy_share, "lazy_negative_over_cap", "lazy share"),
        ("clean", config.clean_share, "clean_over_cap", "clean (reviewed-and-passed) share"),
    ):
        capped = sorted((e for e in examples if getattr(e, flag) and id(e) not in dropped), key=lambda e: e.id)
        others = len(examples) - len(dropped) - len(capped)
        allowed = int(share * others / (1 - share)) if share < 1 else len(capped)
        for example in capped[allowed:]:
            out.quarantined.append(
                QuarantinedRow(
                    row_id=example.record_id,
                    source=example.source,
                    reason=reason,
                    field="review",
                    detail=f"{what} capped at {share:.0%}",
                )
            )
            dropped.add(id(example))
    out.kept = [e for e in examples if id(e) not in dropped]
    return out
