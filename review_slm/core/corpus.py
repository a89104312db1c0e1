"""Rules of the mined-comment corpus: what a comment is reduced to, when a re-delivered one is new,
an edit, or a duplicate, and how far back the next fetch must reach so nothing is missed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Literal

from review_slm.core.redaction import redact
from review_slm.core.schema import content_hash
from review_slm.core.scrub import redact_comment

# What the parser reads; the rest of GitHub's payload (reactions, _links, node ids...) is not kept.
KEPT_FIELDS = (
    "id",
    "in_reply_to_id",
    "path",
    "line",
    "diff_hunk",
    "body",
    "html_url",
    "pull_request_url",
    "created_at",
    "updated_at",
    "commit_id",
    # Where the comment was written: which hunks reviewers commented on, and which commit they last looked at
    # (core/clean_hunks.py).
    "original_commit_id",
    "original_line",
)

Change = Literal["new", "updated", "duplicate"]


def trim_comment(raw: dict) -> dict:
    """The fields the parser reads, with secrets redacted: the corpus is persisted, so it must hold none."""
    kept = {k: raw[k] for k in KEPT_FIELDS if k in raw}
    user = raw.get("user")
    user = user if isinstance(user, dict) else {}
    kept["user"] = {"login": user.get("login", ""), "type": user.get("type", "")}
    return redact_comment(kept)


def corpus_key(comment) -> int | str:
    """The comment's id; for an id GitHub never sends (missing, a list, text, a bool) or an entry that is not an
    object, a key from its content, so it is stored and then rejected with its reason by the parser instead of
    crashing the miner."""
    cid = comment.get("id") if isinstance(comment, dict) else None
    if isinstance(cid, int) and not isinstance(cid, bool):
        return cid
    return "unkeyed-" + content_hash(json.dumps(comment, sort_keys=True, default=repr))[:16]


def trim_any(raw):
    """`trim_comment` for whatever a page holds: an entry that is not an object is kept as it is, for the parser
    to reject (`malformed_comment`); it is redacted like any text."""
    if isinstance(raw, dict):
        return trim_comment(raw)
    return redact(raw)[0] if isinstance(raw, str) else raw


def updated_at(comment) -> str:
    """When GitHub says the comment last changed; "" when it does not say it as text (hostile input)."""
    value = comment.get("updated_at") if isinstance(comment, dict) else None
    return value if isinstance(value, str) else ""


def classify_change(existing: dict | None, incoming: object) -> Change:
    """A comment seen before is an edit only if GitHub says it changed since; otherwise the overlap re-delivered it."""
    if existing is None:
        return "new"
    if updated_at(incoming) > (existing.get("updated_at") or ""):
        return "updated"
    return "duplicate"


def overlap_since(cursor: str, overlap_s: int = 1) -> str | None:
    """The `since` for the next fetch: a little before the cursor, because comments sharing the
    cursor's second may not all have been on the last page; the duplicates this re-delivers are skipped."""
    if not cursor:
        return None
    moment = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(seconds=overlap_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
