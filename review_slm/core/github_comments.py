"""Parse one pull-request review comment, as the GitHub REST API returns it, into a `ReviewRecord`.

The same function reads live PyGithub results (`comment.raw_data`) and the bundled snapshot,
so the offline default exercises the real parsing path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.languages import detect_language
from review_slm.core.schema import RejectedRow, ReviewRecord, rejection_from_validation_error

_SUGGESTION = re.compile(r"```suggestion[^\n]*\n(.*?)```", re.DOTALL)
_PR_NUMBER = re.compile(r"/pulls?/(\d+)")


@dataclass(frozen=True)
class ParsedComment:
    record: ReviewRecord | None
    rejected: RejectedRow | None


def extract_suggestion(body: str) -> tuple[str, str]:
    """Split a comment into (prose, suggested replacement); GitHub suggestion blocks are the reviewer's fix."""
    suggestions = [m.group(1).rstrip("\n") for m in _SUGGESTION.finditer(body)]
    prose = _SUGGESTION.sub("", body).strip()
    return prose, "\n".join(suggestions)


def is_bot(user: dict | None, extra_bots: frozenset[str] = frozenset()) -> bool:
    if not user:
        return False
    login = str(user.get("login", ""))
    return user.get("type") == "Bot" or login.endswith("[bot]") or login.lower() in extra_bots


def parse_review_comment(raw: dict, repo: str, extra_bots: frozenset[str] = frozenset()) -> ParsedComment:
    source_id = str(raw.get("id", "?"))

    def reject(reason: str, field: str | None = None, detail: str = "") -> ParsedComment:
        return ParsedComment(None, RejectedRow(source="github", source_id=source_id, reason=reason, field=field, detail=detail))

    if "id" not in raw:
        return reject("malformed_id", "id", "comment has no id")
    if is_bot(raw.get("user")):
        return reject("bot", "user.login", str((raw.get("user") or {}).get("login")))
    if raw.get("in_reply_to_id"):
        return reject("reply", "in_reply_to_id", f"reply to {raw['in_reply_to_id']}")
    if raw.get("line") is None:
        return reject("outdated", "line", "comment no longer maps to a line of the diff")
    path = raw.get("path") or ""
    hunk = raw.get("diff_hunk") or ""
    language = detect_language(path, hunk)
    if language is None:
        return reject("unsupported_language", "path", path)
    prose, suggestion = extract_suggestion(raw.get("body") or "")
    pr_url = raw.get("html_url", "").split("#")[0]
    match = _PR_NUMBER.search(raw.get("pull_request_url", "") or pr_url)
    try:
        record = ReviewRecord(
            source="github",
            source_id=source_id,
            repo=repo,
            path=path,
            line=raw.get("line") or last_new_line(hunk),
            language=language,
            diff_hunk=hunk,
            body=prose or (raw.get("body") or ""),
            suggestion=suggestion,
            author=str((raw.get("user") or {}).get("login", "")),
            pr_number=int(match.group(1)) if match else None,
            pr_url=pr_url,
            created_at=raw.get("created_at") or "",
            updated_at=raw.get("updated_at") or "",
        )
    except ValidationError as err:
        return ParsedComment(None, rejection_from_validation_error("github", source_id, err))
    return ParsedComment(record, None)
