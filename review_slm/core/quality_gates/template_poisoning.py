"""Template poisoning: the same sentence skeleton in the answers to many unrelated diffs.

The seed pipeline's teacher answered thousands of diffs with "Consider adding error handling to
improve robustness." and friends; the student learned the template instead of the diff. A sentence's
skeleton drops what is specific to a diff (identifiers, code spans, quoted strings, numbers, paths),
so "`foo` is never closed" and "`bar` is never closed" share one. A skeleton that appears in the
answers to more distinct hunks than the configured limit marks every answer containing it.
Answers without findings are left to the lazy and clean caps.
"""

from __future__ import annotations

import re
from collections import defaultdict

from review_slm.core.quality_gates.gate import Gate, GateRow, GateRun, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason
from review_slm.core.schema import content_hash

# One pass, first alternative wins: code spans, quoted strings, path-like or dotted/snake names
# (a/b.go, pkg.Func, snake_case), camelCase / PascalCase names, numbers.
_SPECIFIC = re.compile(
    r"(?P<code>`[^`]*`)|(?P<str>\"[^\"]*\"|'[^']*')|(?P<id>\b[\w./-]*[./_][\w./-]*\b|\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z]+[A-Z]\w*\b)"
    r"|(?P<n>\b\d+(?:\.\d+)?\b)"
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")

MIN_WORDS = 5  # shorter sentences ("Nice catch.") repeat naturally


def skeleton(sentence: str) -> str:
    s = _SPECIFIC.sub(lambda m: f"<{m.lastgroup}>", sentence)
    return " ".join(s.lower().split()).strip(" .!?")


def skeletons(text: str) -> set[str]:
    return {sk for part in _SENTENCES.split(text) if len((sk := skeleton(part)).split()) >= MIN_WORDS}


def poisoned_skeletons(answers: list[tuple[str, str]], max_hunks_per_skeleton: int) -> dict[str, int]:
    """`answers` are (hunk key, answer text). Returns the skeletons found in the answers to more than
    `max_hunks_per_skeleton` distinct hunks, with that count."""
    hunks: dict[str, set[str]] = defaultdict(set)
    for hunk_key, text in answers:
        for sk in skeletons(text):
            hunks[sk].add(hunk_key)
    return {sk: len(keys) for sk, keys in hunks.items() if len(keys) > max_hunks_per_skeleton}


class TemplatePoisoning(Gate):
    reasons = (QuarantineReason.TEMPLATE_POISONING,)

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        config = run.config
        limit = max(config.template_min_hunks, int(config.template_max_share * len(rows)))
        answers = {
            i: " ".join([*(f.comment for f in row.review.findings), row.review.summary])
            for i, row in enumerate(rows)
            if row.review is not None and row.review.findings
        }
        poisoned = poisoned_skeletons([(content_hash(rows[i].hunk), text) for i, text in answers.items()], limit)
        if not poisoned:
            return {}
        found = {}
        for i, text in answers.items():
            hit = skeletons(text) & poisoned.keys()
            if hit:
                sk = sorted(hit)[0]
                found[i] = Verdict(
                    QuarantineReason.TEMPLATE_POISONING,
                    "review",
                    f"'{sk}' answers {poisoned[sk]} unrelated hunks (limit {limit})",
                )
        return found
