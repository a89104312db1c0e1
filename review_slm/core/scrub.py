"""Redact every text field of a raw comment or a review record before it is persisted.

A secret in a mined comment or a supplement row must not be written to the corpus, the raw records,
the teacher's prompts or cache, logs or metadata: so redaction happens where rows come in, on every
field that can reach a training example (hunk, comment, suggestion, thread replies, path, repo, id),
and the gold set's gates redact once more (teacher answers included).
"""

from __future__ import annotations

from review_slm.core.redaction import redact
from review_slm.core.schema import RejectedRow, ReviewRecord

_COMMENT_FIELDS = ("body", "diff_hunk", "path", "html_url", "pull_request_url")
_RECORD_FIELDS = ("source_id", "repo", "path", "body", "suggestion", "author", "pr_url")


def redact_comment(comment: dict) -> dict:
    """A GitHub review comment (trimmed API payload) with its text fields redacted."""
    out = dict(comment)
    path = comment.get("path")
    for name in _COMMENT_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = redact(out[name], path if name == "diff_hunk" and isinstance(path, str) else "")[0]
    return out


def scrub_record(record: ReviewRecord) -> tuple[ReviewRecord, list[str]]:
    """The record with every text field redacted, and the kinds found. Whether what is left is still worth
    a review (a hunk that was mostly a key is not) is the gold set's `secret_unredactable` gate."""
    updates, kinds = {}, []
    for name in ("diff_hunk", *_RECORD_FIELDS):
        updates[name], found = redact(getattr(record, name), record.path if name == "diff_hunk" else "")
        kinds += found
    thread = [redact(reply) for reply in record.thread]
    updates["thread"] = [text for text, _ in thread]
    kinds += [k for _, found in thread for k in found]
    if not kinds:
        return record, []
    return record.model_copy(update=updates), sorted(set(kinds))


def scrub_rejection(rejected: RejectedRow) -> RejectedRow:
    """A rejected row's id and detail quote the input: redacted too, since they go to logs and metadata."""
    return rejected.model_copy(
        update={"source_id": redact(rejected.source_id)[0], "detail": redact(rejected.detail)[0]}
    )
