"""Recognise lazy approvals ("LGTM", "+1", "no issues found") and lazy reviews (no findings)."""

from __future__ import annotations

import re

from review_slm.core.schema import Review

_LAZY = re.compile(
    r"^(/?lgtm|/approve|looks (good|fine|great)( to me)?|lg|\+1|ship ?it|:shipit:|ack|thanks?( you)?|"
    r"done|nice|approved?|no (issues|problems|concerns)( found)?|looks fine|fine by me|sgtm|"
    r"nothing to add|all good|:\+1:|👍)$"
)


def _normalise(text: str) -> str:
    text = re.sub(r"[!.,:;~]+$", "", text.strip().lower())
    return re.sub(r"\s+", " ", text).strip()


def is_lazy_comment(body: str) -> bool:
    norm = _normalise(body)
    if not norm:
        return True
    return bool(_LAZY.match(norm)) or (norm.startswith(("lgtm", "looks good")) and len(norm) < 40)


def is_lazy_review(review: Review) -> bool:
    return not review.findings
