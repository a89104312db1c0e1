"""Recognise lazy approvals ("LGTM", "No concerns, approving ✅", "I don't see any problems") and lazy
reviews (no findings).

Hand-written (no maintained library classifies review approvals): a comment is lazy when, once
lower-cased and stripped of emoji and punctuation, every clause of it is an approval or a "nothing
found" phrasing from the lists below, and it is short. One clause that says something else ("but
the lock is never released") makes it a real comment. `review_slm_tests/core/test_lazy.py` holds the
phrasings, lazy and not.
"""

from __future__ import annotations

import re
import unicodedata

from review_slm.core.schema import Review

NO_ISSUES = Review(findings=[], summary="No issues found.")
"""The lazy review: right for a clean diff, the collapse this product guards against on a buggy one."""

_ISSUE = (
    r"(?:issues?|problems?|concerns?|comments?|objections?|bugs?|red flags?|blockers?|complaints?|remarks?|"
    r"notes?|nits?)"
)
_QUIET = (
    r"(?:\s+(?:here|found|so far|from me|on my (?:side|end)|at all|"
    r"(?:with|in) (?:this|it|the)(?: (?:change|pr|diff|code))?))*"
)
_GOOD = r"(?:good|fine|great|ok|okay|correct|reasonable|solid|clean|sane|right|perfect|awesome)"
_CLAUSES = [
    r"/?lgtm|sgtm|lg|/approve|approved?|approving|(?:i )?approve(?: this)?|ship ?it|shipit|\+1|ack|done|nice(?: work| "
    r"one)?",
    r"thanks?(?: you)?|thx|ty|cool|great|perfect|awesome",
    rf"(?:this |that |it |everything |all |code |change |the change |the code )?(?:all )?(?:looks|seems|is) "
    rf"{_GOOD}(?: to (?:me|go))?(?: now)?",
    rf"{_GOOD}(?: by me| to (?:me|go|merge)| as is)?|all good|ready to (?:go|merge)|good to (?:go|merge|ship)|merge "
    rf"it|lets merge|let us merge",
    rf"no {_ISSUE}(?: or {_ISSUE})?{_QUIET}",
    rf"(?:i )?(?:do not|don't|dont|can't|cannot|didn't|did not|couldn't|could not)\s+(?:see|find|spot|notice|have)\s+"
    rf"(?:any(?:thing)?\s*)?(?:{_ISSUE}|wrong|to (?:flag|add|comment)|else)?{_QUIET}",
    rf"nothing(?: else)?(?: (?:to (?:flag|add|report|comment(?: on)?|change|fix)|stands out|jumps out|wrong|of "
    rf"note|major|blocking))?{_QUIET}",
]
_LAZY_CLAUSE = re.compile("^(?:" + "|".join(_CLAUSES) + ")$")
_SPLIT = re.compile(r"\s*(?:[,.;!:\n]|\band\b|\bso\b|-{1,2}|—)\s*")
_MAX_CHARS = 100  # a lazy approval is short; a long comment that merely opens with "LGTM" is not one


# The same filter as a str.translate table for ASCII, where it is one C call instead of a Python loop per character.
_ASCII_SYMBOLS = {c: None for c in range(128) if unicodedata.category(chr(c))[0] in ("S", "C") and chr(c) not in "+\n"}


def _normalise(text: str) -> str:
    # Emoji and symbols (✅ 👍 🚀 :shipit:-style shortcodes) carry no finding.
    if text.isascii():
        text = text.translate(_ASCII_SYMBOLS)
    else:
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("S", "C") or ch in "+\n")
    text = re.sub(r":[a-z0-9_+-]+:", " ", text.lower())
    text = text.replace("’", "'").replace("`", "'")
    return re.sub(r"[ \t]+", " ", text).strip()


def is_lazy_comment(body: str) -> bool:
    norm = _normalise(body)
    if not norm:
        return True
    if len(norm) > _MAX_CHARS:
        return False
    clauses = [c.strip(" '\"?()") for c in _SPLIT.split(norm)]
    clauses = [c for c in clauses if c]
    return not clauses or all(_LAZY_CLAUSE.match(c) for c in clauses)


def is_lazy_review(review: Review) -> bool:
    return not review.findings
