"""The feedback flywheel: how developers treated the reviewer's own comments, as preference pairs.

The reviewer's inline comments (by the bot login, with the finding hidden in the body by
`core/finding_marker.py`) are judged by what people did with them:

- `accepted`: more 👍 than 👎, an acknowledging reply ("fixed", "thanks"), the thread resolved, or the
  commented line changed by a later commit (the comment is outdated), without a 👎 majority.
  Chosen: the finding; rejected: "No issues found.".
- `corrected`: a human reply that is not an acknowledgement, without a 👍 majority.
  Chosen: the human's reply, structured; rejected: the finding.
- `dismissed`: more 👎 than 👍 and no reply, or a reply saying it is a false positive.
  Chosen: "No issues found."; rejected: the finding.

Anything else (no reaction, no reply, unresolved) says nothing and makes no pair. The rows then go
through the same gates as mined reviews (`gate_feedback`): secret redaction on every field, empty or
binary hunk, wrong language, mostly-redacted hunks, duplicates, token budget.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from review_slm.core.finding_marker import parse_finding_marker
from review_slm.core.github_comments import is_bot
from review_slm.core.languages import detect_language
from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import render_review, student_messages
from review_slm.core.quality_gates import GateConfig, TokenCounter, gate_before_teacher
from review_slm.core.redaction import redact
from review_slm.core.schema import Finding, Review, ReviewRecord
from review_slm.core.scrub import scrub_record
from review_slm.core.structuring import structure_human_comment

log = logging.getLogger(__name__)

FEEDBACK_KINDS = ("accepted", "corrected", "dismissed")
_ACK = re.compile(
    r"^\W*(thanks|thank you|thx|done|fixed|good catch|nice catch|agreed|agree|will "
    r"do|yes|yep|ack|\+1|lgtm|addressed|updated)\b",
    re.IGNORECASE,
)
# A reply saying the finding is wrong is a dismissal, not a correction to learn as a finding.
_REBUTTAL = re.compile(
    r"\b(false positive|not a (bug|problem|leak|race|issue)|this is (fine|intended|intentional)|on purpose|by "
    r"design|wrong here)\b",
    re.IGNORECASE,
)
_PR_NUMBER = re.compile(r"/pulls/(\d+)$")


@dataclass
class FeedbackItem:
    """One inline comment of the reviewer and what happened to it."""

    repo: str
    comment_id: int
    pr_number: int | None
    path: str
    line: int
    diff_hunk: str
    finding: dict  # line, severity, category, comment, suggestion: what the model said
    thumbs_up: int = 0
    thumbs_down: int = 0
    replies: list[tuple[str, str]] = field(default_factory=list)  # (login, body) of humans, oldest first
    resolved: bool = False
    line_changed: bool = False  # a later commit changed the commented line: GitHub marks the comment outdated

    def signature(self) -> str:
        """Changes whenever new feedback arrives (a reaction, a reply, a resolution, a changed line): the
        sensor's unit of news."""
        return f"{self.thumbs_up}/{self.thumbs_down}/{len(self.replies)}/{int(self.resolved)}/{int(self.line_changed)}"


def _malformed(raw: dict, reactions) -> tuple[str, str] | None:
    """(field, what is wrong) when a comment of ours cannot be read as feedback, or None."""
    if not isinstance(raw.get("id"), int) or isinstance(raw.get("id"), bool):
        return "id", f"field 'id' must be an integer, got a {type(raw.get('id')).__name__}"
    if not isinstance(raw.get("path"), str) or not raw["path"]:
        return "path", "field 'path' is missing or not text"
    if not isinstance(raw.get("line") or raw.get("original_line"), int):
        return "line", "field 'line' must be an integer"
    if not isinstance(raw.get("diff_hunk", ""), str):
        return "diff_hunk", "field 'diff_hunk' is not text"
    if not isinstance(reactions, dict) or not all(
        isinstance(reactions.get(k, 0), int) and not isinstance(reactions.get(k, 0), bool) for k in ("+1", "-1")
    ):
        return "reactions", "field 'reactions' must count +1 / -1 as integers"
    return None


def _reply_order(raw: dict) -> tuple[str, int]:
    """Replies in the order they were written; an id that is not a number (hostile input) sorts first."""
    comment_id = raw.get("id")
    return str(raw.get("created_at") or ""), comment_id if isinstance(comment_id, int) else -1


def collect_feedback(
    raws: list[dict], repo: str, bot_login: str, resolved_ids: set[int], malformed: Counter[str] | None = None
) -> list[FeedbackItem]:
    """The reviewer's root comments in `raws` (GitHub review-comment JSON) with their reactions, human
    replies and resolution. Replies by any bot (the reviewer included) are not feedback. A comment of ours
    that cannot be read is left out and counted in `malformed` by the field at fault."""
    items: dict[int, FeedbackItem] = {}
    for raw in raws:
        if (raw.get("user") or {}).get("login") != bot_login or raw.get("in_reply_to_id"):
            continue
        finding = parse_finding_marker(raw.get("body", ""))
        line = raw.get("line") or raw.get("original_line")
        if finding is None or not line:
            continue  # not a finding of ours
        reactions = raw.get("reactions") or {}
        match = _PR_NUMBER.search(str(raw.get("pull_request_url") or ""))
        problem = _malformed(raw, reactions)
        if problem:
            # One hostile comment never takes down the iteration: named (id, field, why), counted, left out.
            log.warning(f"{repo}: feedback comment {repr(raw.get('id'))[:40]} left out: {problem[1]}")
            if malformed is not None:
                malformed[problem[0]] += 1
            continue
        items[raw["id"]] = FeedbackItem(
            repo=repo,
            comment_id=raw["id"],
            pr_number=int(match.group(1)) if match else None,
            path=raw["path"],
            line=line,
            line_changed=not raw.get("line"),
            diff_hunk=raw.get("diff_hunk", ""),
            finding=finding,
            thumbs_up=int(reactions.get("+1", 0)),
            thumbs_down=int(reactions.get("-1", 0)),
            resolved=raw["id"] in resolved_ids,
        )
    for raw in sorted(raws, key=_reply_order):
        root = items.get(raw.get("in_reply_to_id") or 0)  # 0: no comment has it
        if root is not None and not is_bot(raw.get("user")) and (raw.get("user") or {}).get("login") != bot_login:
            root.replies.append(((raw.get("user") or {}).get("login", ""), raw.get("body", "")))
    return list(items.values())


def judge(item: FeedbackItem) -> str | None:
    """`accepted`, `corrected`, `dismissed`, or None when people said nothing."""
    substantive = [body for _, body in item.replies if body.strip() and not _ACK.match(body.strip())]
    if any(_REBUTTAL.search(body) for body in substantive):
        return "dismissed"
    acknowledged = any(_ACK.match(body.strip()) for _, body in item.replies)
    if substantive and item.thumbs_up <= item.thumbs_down:
        return "corrected"
    settled = item.resolved or item.line_changed  # resolved, or the code under the comment was changed
    if item.thumbs_up > item.thumbs_down or acknowledged or (settled and item.thumbs_down <= item.thumbs_up):
        return "accepted"
    if item.thumbs_down > item.thumbs_up:
        return "dismissed"
    return None


def _finding_review(item: FeedbackItem) -> Review:
    f = item.finding
    finding = Finding(
        path=item.path,
        line=item.line,
        severity=f["severity"],
        category=f["category"],
        comment=f["comment"],
        suggestion=f.get("suggestion", ""),
    )
    return Review(findings=[finding], summary=f"{finding.severity.capitalize()} {finding.category} issue")


@dataclass
class FeedbackOutcome:
    pairs: list[dict] = field(default_factory=list)
    kinds: Counter[str] = field(
        default_factory=Counter
    )  # accepted / corrected / dismissed / no_signal / not_reviewable
    quarantined: Counter[str] = field(default_factory=Counter)  # gate reason -> rows
    secrets_redacted: int = 0


def feedback_pairs(
    items: list[FeedbackItem],
    config: GateConfig,
    languages: tuple[str, ...],
    count_tokens: TokenCounter | None = None,
) -> FeedbackOutcome:
    """Preference pairs from judged feedback, after the gates mined reviews pass."""
    out = FeedbackOutcome()
    records: list[tuple[ReviewRecord, FeedbackItem, str]] = []
    for item in items:
        kind = judge(item)
        language = detect_language(item.path, item.diff_hunk, languages)
        if kind is None or language is None:
            out.kinds["no_signal" if kind is None else "not_reviewable"] += 1
            continue
        # The record's body is the text that becomes the chosen answer, so the gates judge that text.
        body = (
            next(b for _, b in item.replies if b.strip() and not _ACK.match(b.strip()))
            if kind == "corrected"
            else item.finding["comment"]
        )
        record = ReviewRecord(
            source="github",
            source_id=f"feedback-{item.repo}-{item.comment_id}",
            repo=item.repo,
            path=item.path,
            line=item.line,
            language=language,
            diff_hunk=item.diff_hunk or " ",
            body=body,
            pr_number=item.pr_number,
        )
        record, found = scrub_record(record)
        out.secrets_redacted += bool(found)
        records.append((record, item, kind))
    kept, quarantined = gate_before_teacher([r for r, _, _ in records], config, count_tokens)
    out.quarantined.update(q.reason for q in quarantined)
    kept_ids = {r.record_id for r in kept}
    for record, item, kind in records:
        if record.record_id not in kept_ids:
            continue
        # The model's own finding is untrusted text too: redacted like everything else.
        finding = {k: redact(v)[0] if isinstance(v, str) else v for k, v in item.finding.items()}
        item = FeedbackItem(**{**item.__dict__, "finding": finding})
        ours = render_review(_finding_review(item))
        if kind == "accepted":
            chosen, rejected = ours, render_review(NO_ISSUES)
        elif kind == "dismissed":
            chosen, rejected = render_review(NO_ISSUES), ours
        else:
            chosen, rejected = render_review(structure_human_comment(record)), ours
        out.kinds[kind] += 1
        out.pairs.append(
            {
                "id": record.record_id,
                "prompt": student_messages(record.path, record.language, record.diff_hunk),
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "rejected_kind": f"feedback_{kind}",
                "rejected_quality": 0.0,
            }
        )
    return out
