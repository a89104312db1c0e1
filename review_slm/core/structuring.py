"""Deterministic structuring of a human comment into a `Review`, used when no teacher answers.

It is the honest fallback of the embedded default: the finding is the human's own words, with
severity and category read from them, so nothing is invented. The answer is kept compact (the
comment's first sentence, a one-line summary, a suggestion only when it is short): a long free-text
answer is what a small student loops on and never closes.
"""

from __future__ import annotations

import re

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.lazy import NO_ISSUES, is_lazy_comment
from review_slm.core.schema import Category, Finding, Review, ReviewRecord, Severity

SEVERITY_ORDER = Severity.__members__  # critical first
MAX_COMMENT_CHARS = 80
MAX_SUGGESTION_CHARS = 160  # a one- or two-line fix; a longer one is left to the human's thread
NO_COMMENT = "Apply the suggested change."

# First match wins; ordered from the most specific vocabulary to the most generic.
_CATEGORY_RULES: list[tuple[str, str]] = [
    (r"secret|token|password|credential|inject|rbac|privileged|cve|xss|auth|tls|escape|sanitiz", "security"),
    (r"race|mutex|lock|goroutine|deadlock|concurren|atomic|channel|thread|async", "concurrency"),
    (r"leak|close\(|not closed|defer|unclosed|context manager|cleanup|dangling|\bclose\b", "resource-leak"),
    (r"\berr\b|error|except|panic|recover|raise|swallow|ignored|unchecked|retry", "error-handling"),
    (
        r"probe|resources?:|limits|requests|replicas|selector|label|namespace|image|crd|helm|manifest|pod|kube",
        "kubernetes-config",
    ),
    (r"slow|perf|alloc|o\(n|quadratic|cache|memory|cpu|latency|n\+1|copy", "performance"),
    (r"test|assert|coverage|mock|fixture", "testing"),
    (r"doc|comment|typo|readme|docstring|spelling", "docs"),
    (r"nit|naming|rename|style|format|lint|unused|import|readab|consistent", "style"),
]
_SEVERITY_RULES: list[tuple[str, str]] = [
    (
        r"secret|credential|token|password|inject|privileged|remote code|rce|data loss|nil pointer|panic|crash",
        "critical",
    ),
    (r"race|leak|deadlock|security|vulnerab|corrupt|wrong|bug|broken|never|always fails|overflow", "high"),
    (r"nit|typo|naming|style|format|minor|cosmetic", "low"),
    (r"^\s*(why|what|should|could|can|do|does|is|are)\b.*\?\s*$", "info"),
]
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)  # suggestion blocks included: they are the `suggestion` field
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def _first_rule(rules: list[tuple[str, str]], text: str, default: str) -> str:
    lowered = text.lower()
    for pattern, label in rules:
        if re.search(pattern, lowered, re.MULTILINE):
            return label
    return default


def compact_comment(body: str) -> str:
    """The comment's first sentence without code blocks, cut at a word boundary."""
    text = " ".join(_CODE_BLOCK.sub(" ", body).split())
    first = _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    if len(first) > MAX_COMMENT_CHARS:
        first = first[:MAX_COMMENT_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return first or NO_COMMENT


def _finding(record: ReviewRecord) -> Finding:
    suggestion = record.suggestion if len(record.suggestion) <= MAX_SUGGESTION_CHARS else ""
    return Finding(
        path=record.path,
        line=record.line or last_new_line(record.diff_hunk) or 0,
        severity=Severity(_first_rule(_SEVERITY_RULES, record.body, "medium")),
        category=Category(_first_rule(_CATEGORY_RULES, record.body, "correctness")),
        comment=compact_comment(record.body),
        suggestion=suggestion,
    )


def structure_human_comment(record: ReviewRecord) -> Review:
    """One finding per human comment on the hunk (`record.comments`), each at its own line; an approval
    without a suggestion is no finding."""
    if record.clean:  # reviewed and passed: its body says where the label comes from, it is no finding
        return NO_ISSUES.model_copy(deep=True)
    findings = [_finding(c) for c in record.comments if not (is_lazy_comment(c.body) and not c.suggestion)]
    if not findings:
        return NO_ISSUES.model_copy(deep=True)
    # One line that says what kind of problem this is; the comment already says what it is. No final
    # period: `."}` would then end both the comment and the whole answer, and a small model mixes them up.
    # Several findings: their number and the most severe kind, under the template gate's five words (a longer
    # fixed sentence would recur across hunks and be quarantined as a template).
    worst = min(findings, key=lambda f: list(SEVERITY_ORDER).index(f.severity))
    if len(findings) == 1:
        return Review(findings=findings, summary=f"{worst.severity.capitalize()} {worst.category} issue")
    return Review(findings=findings, summary=f"{len(findings)} issues: {worst.severity} {worst.category}")
