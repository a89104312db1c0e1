"""The marker a posted finding carries: what the model said, hidden in the PR comment.

The reviewer writes it (`reviewer/pr_review.py`); the feedback source reads it back (`core/feedback.py`) to rebuild
the finding exactly and judge it by what people did with the comment. One module, so the two sides cannot drift.
"""

from __future__ import annotations

import json
import re

FINDING_MARKER_PREFIX = "<!-- review-slm-finding "
_FINDING_MARKER = re.compile(r"<!-- review-slm-finding (\{.*?\}) -->", re.DOTALL)


def finding_marker(finding: dict) -> str:
    """What the model said, hidden in the comment, so the feedback source can rebuild the finding exactly."""
    keep = {k: finding[k] for k in ("line", "severity", "category", "comment", "suggestion") if finding.get(k)}
    return f"{FINDING_MARKER_PREFIX}{json.dumps(keep, ensure_ascii=False, sort_keys=True).replace('-->', '--&gt;')} -->"


def parse_finding_marker(body: str) -> dict | None:
    match = _FINDING_MARKER.search(body or "")
    if not match:
        return None
    try:
        return json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
