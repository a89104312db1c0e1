"""Parse pull-request review comments, as the GitHub REST API returns them, into `ReviewRecord`s.

The same functions read live PyGithub results and the bundled snapshot, so the offline default
exercises the real parsing path. Replies are not examples of their own: they attach to the first
comment of their thread (`ReviewRecord.thread`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.languages import detect_language
from review_slm.core.redaction import redact
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


def _is_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def shown_id(raw) -> str:
    """The comment's id as a rejected row names it: a hostile one (a list, a token-like string) shortened and
    redacted, since rejected rows reach tables, logs and metadata."""
    value = raw.get("id", "?") if isinstance(raw, dict) else "?"
    return str(value) if _is_number(value) else redact(str(value)[:100])[0]


def field_problem(raw) -> tuple[str, str | None, str] | None:
    """(reason, field, detail) when a comment's ids or fields have a type GitHub never sends, else None. A snapshot
    or a proxy can hand us anything: a wrong type is a rejected row, not a crash."""
    if not isinstance(raw, dict):
        return "malformed_comment", None, f"a {type(raw).__name__}, not an object"
    if "id" not in raw:
        return "malformed_id", "id", "comment has no id"
    for name in ("id", "in_reply_to_id"):
        value = raw.get(name)
        if (name == "id" or value is not None) and not _is_number(value):
            return f"malformed_{name}", name, f"'{name}' is a {type(value).__name__}, not a number"
    for name in ("path", "diff_hunk", "body", "html_url", "pull_request_url", "created_at", "updated_at"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            return f"malformed_{name}", name, f"'{name}' is a {type(raw[name]).__name__}, not text"
    if raw.get("line") is not None and not _is_number(raw["line"]):
        return "malformed_line", "line", f"'line' is a {type(raw['line']).__name__}, not a number"
    if raw.get("user") is not None and not isinstance(raw["user"], dict):
        return "malformed_user", "user", f"'user' is a {type(raw['user']).__name__}, not an object"
    return None


def parse_review_comment(
    raw: dict,
    repo: str,
    languages: tuple[str, ...],
    extra_bots: frozenset[str] = frozenset(),
    thread: tuple[str, ...] = (),
) -> ParsedComment:
    source_id = shown_id(raw)

    def reject(reason: str, field: str | None = None, detail: str = "") -> ParsedComment:
        return ParsedComment(
            None, RejectedRow(source="github", source_id=source_id, reason=reason, field=field, detail=detail)
        )

    problem = field_problem(raw)
    if problem:
        return reject(*problem)
    if is_bot(raw.get("user"), extra_bots):
        return reject("bot", "user.login", str((raw.get("user") or {}).get("login")))
    if raw.get("in_reply_to_id"):
        return reject("reply", "in_reply_to_id", f"reply to {raw['in_reply_to_id']}")
    if raw.get("line") is None:
        return reject("outdated", "line", "comment no longer maps to a line of the diff")
    path = raw.get("path") or ""
    hunk = raw.get("diff_hunk") or ""
    language = detect_language(path, hunk, languages)
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
            thread=list(thread),
        )
    except ValidationError as err:
        return ParsedComment(None, rejection_from_validation_error("github", source_id, err))
    return ParsedComment(record, None)


@dataclass
class ParsedThreads:
    records: list[ReviewRecord]
    rejected: list[RejectedRow]
    replies_attached: int


def _thread_root(comment_id: int, parent_of: dict[int, int]) -> int:
    seen = set()
    while comment_id in parent_of and comment_id not in seen:  # GitHub points at the root; be safe with chains
        seen.add(comment_id)
        comment_id = parent_of[comment_id]
    return comment_id


def parse_threads(
    raws: list[dict], repo: str, languages: tuple[str, ...], extra_bots: frozenset[str] = frozenset()
) -> ParsedThreads:
    """Parse a repository's comments, folding each reply into its thread's first comment.

    A reply whose root is not a kept comment (a bot's, an outdated one, or one not mined) is
    rejected as `orphan_reply`; bot replies are rejected as `bot`; a comment whose ids or fields have
    the wrong type (`field_problem`) as `malformed_<field>`. Every input comment ends up a record, an
    attached reply, or a rejected row.
    """
    rejected: list[RejectedRow] = []
    roots: list[dict] = []
    sound: list[dict] = []
    for raw in raws:
        problem = field_problem(raw)
        if problem:
            reason, name, detail = problem
            rejected.append(
                RejectedRow(source="github", source_id=shown_id(raw), reason=reason, field=name, detail=detail)
            )
        else:
            sound.append(raw)
    parent_of = {c["id"]: c["in_reply_to_id"] for c in sound if c.get("in_reply_to_id")}
    replies: dict[int | None, list[dict]] = {}
    for raw in sound:
        if raw.get("in_reply_to_id"):
            if is_bot(raw.get("user"), extra_bots):
                login = (raw.get("user") or {}).get("login")
                rejected.append(
                    RejectedRow(
                        source="github", source_id=str(raw["id"]), reason="bot", field="user.login", detail=str(login)
                    )
                )
                continue
            replies.setdefault(_thread_root(raw["id"], parent_of), []).append(raw)
        else:
            roots.append(raw)
    records: list[ReviewRecord] = []
    attached = 0
    for raw in roots:
        thread_raws = sorted(replies.pop(raw.get("id"), []), key=lambda r: (r.get("created_at") or "", r["id"]))
        thread = tuple(
            f"{(r.get('user') or {}).get('login', '')}: {(r.get('body') or '').strip()}" for r in thread_raws
        )
        parsed = parse_review_comment(raw, repo, languages, extra_bots, thread)
        if parsed.record:
            records.append(parsed.record)
            attached += len(thread_raws)
        elif parsed.rejected is not None:  # a comment is parsed into one of the two
            rejected.append(parsed.rejected)
            replies[raw.get("id")] = thread_raws  # its replies have nothing to attach to
    for root_id, orphans in replies.items():
        for r in orphans:
            rejected.append(
                RejectedRow(
                    source="github",
                    source_id=str(r["id"]),
                    reason="orphan_reply",
                    field="in_reply_to_id",
                    detail=f"thread root {root_id} is not a kept comment",
                )
            )
    return ParsedThreads(records, rejected, attached)
