"""Planning a pull-request review: which hunks to review, where each finding lands, what is posted.

Pure logic (no network): `reviewer/github_pulls.py` fetches the pull request and posts the plan.

- A file's `patch` from `GET /pulls/{n}/files` is its hunks without the `---/+++` header; a binary
  file, or one whose diff GitHub will not show, has no patch and is listed as skipped with why.
- A finding can be commented inline only on a line of the hunk's new side (an added or context
  line, `side: RIGHT`); GitHub answers 422 for any other line, so such findings go into the body.
- Idempotency lives in a hidden marker in the review body: the head commit, the keys of the hunks
  the review covered, and a fingerprint of what it said. A hunk's key is its path and its lines
  without the `@@` header, so a hunk that only moved (lines added above it) is not reviewed again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from review_slm.core.diff_hunks import (
    HUNK_HEADER,
    DiffError,
    DiffHunk,
    enumerate_new_lines,
    hunk_lines,
    hunk_windows,
    parse_patch,
)
from review_slm.core.finding_marker import FINDING_MARKER_PREFIX, finding_marker
from review_slm.core.languages import describe_languages, detect_language
from review_slm.core.schema import Review, Severity, content_hash

SEVERITY_ORDER = [s.value for s in Severity]  # critical first
MARKER_PREFIX = "<!-- review-slm "
_MARKER = re.compile(r"<!-- review-slm (\{.*?\}) -->", re.DOTALL)


@dataclass(frozen=True)
class PrFile:
    """One entry of `GET /pulls/{n}/files`."""

    path: str
    status: str  # added, modified, removed, renamed, copied, changed, unchanged
    patch: str | None
    changes: int = 0
    previous_path: str | None = None


@dataclass(frozen=True)
class PrHunk:
    """What the model reviews in one prompt: a hunk, or one window of a long hunk (same rules in file mode and
    `--pr`)."""

    path: str
    language: str
    text: str
    key: str
    right_lines: frozenset[int]  # new-file lines the model was shown: the only lines a finding may be reported at
    window: str = ""  # "2/3" for the second of three windows of a long hunk

    @property
    def lines(self) -> str:
        """The new-file lines the unit covers, `40-53` (or the old side's position for a pure deletion)."""
        if self.right_lines:
            return f"{min(self.right_lines)}-{max(self.right_lines)}"
        header = HUNK_HEADER.match(self.text)
        return f"deleted lines at old line {header.group(1)}" if header else "?"

    def describe(self) -> dict:
        where = {"path": self.path, "lines": self.lines}
        return {**where, "window": self.window} if self.window else where


@dataclass
class HunkPlan:
    hunks: list[PrHunk] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}: nothing to review there, by design
    # {"path", "lines", "reason"}: a file in a reviewed language whose diff could not be read (an incomplete review)
    unreadable: list[dict] = field(default_factory=list)


@dataclass
class TokenBudget:
    """How a model counts a prompt: `line_costs(raw lines)` in its tokens, and `budget_for(path, language)` the
    tokens left for a hunk's lines in a prompt about that file (its context less the answer's room and the rest of
    the prompt). None of it where only lines can be counted (an endpoint)."""

    line_costs: Callable[[list[str]], list[int]]
    budget_for: Callable[[str, str], int]


def split_patch(patch: str) -> list[str]:
    """The hunks of one file's patch (GitHub's `patch` field starts at the first `@@`)."""
    return [h.text for h in parse_patch("file", patch)]


def hunk_key(path: str, hunk: str) -> str:
    body = [line for line in hunk_lines(hunk) if not HUNK_HEADER.match(line)]
    return content_hash("pr-hunk", path, *body)[:16]


def right_side_lines(hunk: str) -> frozenset[int]:
    return frozenset(number for _, number in enumerate_new_lines(hunk))


def plan_units(
    hunks: list[DiffHunk],
    max_hunk_lines: int,
    languages: tuple[str, ...],
    tokens: TokenBudget | None = None,
    plan: HunkPlan | None = None,
) -> HunkPlan:
    """Every hunk in a reviewed language as review units, a long one as windows that fit `max_hunk_lines` and the
    model's token budget (so no line is cut); files in other languages are listed as skipped."""
    plan = plan or HunkPlan()
    by_path: dict[str, list[DiffHunk]] = {}
    for hunk in hunks:
        by_path.setdefault(hunk.path, []).append(hunk)
    for path, file_hunks in by_path.items():
        language = detect_language(path, "\n".join(h.text for h in file_hunks), languages)
        if language is None:
            plan.skipped.append({"path": path, "reason": f"not {describe_languages(languages)}"})
            continue
        budget = tokens.budget_for(path, language) if tokens else None
        for hunk in file_hunks:
            windows = hunk_windows(hunk.text, max_hunk_lines, tokens.line_costs if tokens else None, budget)
            for i, text in enumerate(windows, 1):
                part = f"{i}/{len(windows)}" if len(windows) > 1 else ""
                plan.hunks.append(PrHunk(path, language, text, hunk_key(path, text), right_side_lines(text), part))
    return plan


def plan_hunks(
    files: list[PrFile], max_hunk_lines: int, languages: tuple[str, ...], tokens: TokenBudget | None = None
) -> HunkPlan:
    """Every reviewable hunk of the pull request, and every file left out with the reason."""
    plan = HunkPlan()
    hunks: list[DiffHunk] = []
    for f in files:
        if f.status == "removed":
            plan.skipped.append({"path": f.path, "reason": "deleted"})
            continue
        if f.patch is None and f.changes == 0:
            plan.skipped.append({"path": f.path, "reason": "binary file"})  # GitHub omits `patch` for binary files
            continue
        if f.patch is not None and "\x00" in f.patch:
            plan.skipped.append({"path": f.path, "reason": "binary file"})
            continue
        try:
            if f.patch is None:  # ... and for diffs too large to show
                raise DiffError("diff too large for GitHub to show")
            file_hunks = parse_patch(f.path, f.patch)
        except DiffError as err:
            left_out = {"path": f.path, "reason": str(err)}
            if detect_language(f.path, "", languages) is None:
                plan.skipped.append(left_out)
            else:
                plan.unreadable.append({"path": f.path, "lines": "all", "reason": str(err)})
            continue
        if not file_hunks:
            reason = "renamed, content unchanged" if f.status == "renamed" else "no content change"
            plan.skipped.append({"path": f.path, "reason": reason})
        hunks += file_hunks
    return plan_units(hunks, max_hunk_lines, languages, tokens, plan)


def at_least(severity: str, minimum: str) -> bool:
    return SEVERITY_ORDER.index(severity) <= SEVERITY_ORDER.index(minimum)


_CODE_SHAPE = re.compile(r"[(){}\[\]=:;<>]|^\s{2,}\S", re.MULTILINE)


def is_code(suggestion: str) -> bool:
    """A ```suggestion block replaces lines when applied, so prose advice must not become one.

    Code-shaped: has brackets, operators or indentation, and is not a sentence ending in a period.
    """
    text = suggestion.strip()
    if not text:
        return False
    sentence = text.endswith(".") and len(text.split()) > 5 and "\n" not in text
    return bool(_CODE_SHAPE.search(text)) and not sentence


def inline_range(finding: dict, hunk: PrHunk) -> tuple[int, int] | None:
    """(start_line, line) where the finding can be commented inline, or None when it cannot.

    A code suggestion of k lines replaces k lines starting at `line` (how GitHub applies a
    multi-line suggestion), so the comment spans them when all are on the hunk's new side.
    """
    line = finding["line"]
    if line not in hunk.right_lines:
        return None
    suggestion = finding.get("suggestion") or ""
    span = len(suggestion.rstrip("\n").split("\n")) if is_code(suggestion) else 1
    end = line + span - 1
    if span > 1 and all(n in hunk.right_lines for n in range(line, end + 1)):
        return line, end
    return line, line


def comment_body(finding: dict) -> str:
    text = f"**{finding['severity']}** · {finding['category']}: {finding['comment']}"
    suggestion = (finding.get("suggestion") or "").strip("\n")
    if is_code(suggestion):
        text += f"\n\n```suggestion\n{suggestion}\n```"
    elif suggestion:
        text += f"\n\nSuggestion: {suggestion}"
    return f"{text}\n\n{finding_marker(finding)}"


@dataclass
class Placement:
    """Where each finding of a review goes, the same in file mode and `--pr`."""

    findings: list[dict] = field(default_factory=list)  # at a line the model was shown: reported at that line
    outside_diff: list[dict] = field(default_factory=list)  # at any other line: reported without a position
    invalid: list[dict] = field(default_factory=list)  # units whose answer was not a review: {path, lines, error...}
    summaries: list[str] = field(default_factory=list)
    unanswered_keys: set[str] = field(default_factory=set)  # keys of the units in `invalid`: not covered by a review

    @property
    def summary(self) -> str:
        if self.summaries:
            return " ".join(dict.fromkeys(self.summaries))
        return "No issues found." if not (self.outside_diff or self.invalid) else ""


def place_findings(reviewed: list[tuple[PrHunk, Review | None, str, str]], min_severity: str) -> Placement:
    """Each finding at or above `min_severity` placed: at its line (with `end_line`, the last line of a multi-line
    code suggestion) when that line is a new-side line of the unit the model was shown, else in `outside_diff` with
    the reason, never at a line the change did not touch. `reviewed` holds (unit, review or None, why not, raw
    answer) per unit."""
    placed = Placement()
    for hunk, review, error, raw in reviewed:
        if review is None:
            placed.invalid.append({**hunk.describe(), "error": error, "answer": raw[:200]})
            placed.unanswered_keys.add(hunk.key)
            continue
        if review.summary and review.findings:
            placed.summaries.append(review.summary)
        for f in review.findings:
            finding = f.model_dump(mode="json")
            if not at_least(finding["severity"], min_severity):
                continue
            span = inline_range(finding, hunk)
            if span is None:
                finding["reason"] = f"line {finding['line']} is not a new-side line of the hunk (lines {hunk.lines})"
                placed.outside_diff.append(finding)
            else:
                finding["end_line"] = span[1]
                placed.findings.append(finding)
    return placed


@dataclass
class PlannedReview:
    body: str
    comments: list[dict]  # PyGithub `create_review(comments=...)` items
    findings: list[dict]  # every finding at a line of the diff kept after --min-severity, with `end_line`
    outside_diff: list[dict]
    fingerprint: str


def render_marker(head_sha: str, hunk_keys: list[str], fingerprint: str) -> str:
    payload = json.dumps(
        {"head": head_sha, "hunks": sorted(set(hunk_keys)), "fingerprint": fingerprint}, sort_keys=True
    )
    return f"{MARKER_PREFIX}{payload} -->"


def parse_marker(body: str | None) -> dict | None:
    match = _MARKER.search(body or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) and "head" in data else None


def inline_comment(finding: dict) -> dict:
    comment = {"path": finding["path"], "line": finding["end_line"], "side": "RIGHT", "body": comment_body(finding)}
    if finding["end_line"] != finding["line"]:
        comment.update(start_line=finding["line"], start_side="RIGHT")
    return comment


def plan_review(placed: Placement, head_sha: str, covered_keys: list[str], notes: list[str]) -> PlannedReview:
    """One review: inline comments where the line is in the diff, the rest (and notes) in the body.

    `covered_keys` are the keys of every hunk this review answers for (the ones reviewed now and the ones unchanged
    since an earlier review), written into the marker.
    """
    comments = sorted((inline_comment(f) for f in placed.findings), key=lambda c: (c["path"], c["line"]))
    invalid = [
        f"`{i['path']}` lines {i['lines']}: the model's answer was not a valid review ({i['error']})"
        for i in placed.invalid
    ]
    body = review_body(placed.summaries, placed.outside_diff, invalid, notes, len(comments))
    fingerprint = content_hash(body, json.dumps(comments, sort_keys=True))[:16]
    return PlannedReview(
        f"{body}\n\n{render_marker(head_sha, covered_keys, fingerprint)}",
        comments,
        placed.findings,
        placed.outside_diff,
        fingerprint,
    )


def outside_line(finding: dict) -> str:
    where = f"`{finding['path']}` line {finding['line']}"
    return f"- {where} ({finding['severity']}, {finding['category']}): {finding['comment']}"


def review_body(summaries: list[str], outside: list[dict], invalid: list[str], notes: list[str], inline: int) -> str:
    parts = ["### review-slm"]
    parts.append(" ".join(dict.fromkeys(summaries)) if summaries else ("No issues found." if not outside else ""))
    parts.append(f"{inline} inline comment(s).")
    if outside:
        parts.append(
            "**Findings on lines outside the hunk they were found in** (not commented inline):\n"
            + "\n".join(outside_line(f) for f in outside)
        )
    if invalid:
        parts.append("**Not reviewed:**\n" + "\n".join(f"- {i}" for i in invalid))
    if notes:
        parts.append("**Notes:**\n" + "\n".join(f"- {n}" for n in notes))
    return "\n\n".join(p for p in parts if p)


@dataclass
class PriorReview:
    """A review this reviewer posted earlier (found by its marker)."""

    id: int
    head: str
    hunks: frozenset[str]
    fingerprint: str


@dataclass
class Decision:
    to_review: list[PrHunk]  # hunks the model must (re)review
    covered_keys: list[str]  # every current hunk's key: the new review answers for all of them
    replaces: PriorReview | None  # an earlier review of the same head commit


def decide(hunks: list[PrHunk], prior: list[PriorReview], head_sha: str) -> Decision:
    """Which hunks to review: on the same head, the same ones as that head's review (to compare);
    on a new head, only hunks no earlier review covered (new or changed)."""
    same_head = [p for p in prior if p.head == head_sha]
    earlier = frozenset().union(*(p.hunks for p in prior if p.head != head_sha))
    to_review = [h for h in hunks if h.key not in earlier]
    return Decision(to_review, [h.key for h in hunks], max(same_head, key=lambda p: p.id) if same_head else None)


def move_to_body(plan: PlannedReview, rejected: list[dict], why: str) -> PlannedReview:
    """The plan with `rejected` comments taken out of the inline list and quoted in the body, saying why."""
    keep = [c for c in plan.comments if c not in rejected]
    moved = "\n".join(
        f"- `{c['path']}` line {c['line']}: {c['body'].split(FINDING_MARKER_PREFIX)[0].strip()}" for c in rejected
    )
    body, marker = plan.body.rsplit("\n\n", 1)
    body += f"\n\n**Moved out of the diff view** ({why}):\n{moved}"
    return PlannedReview(f"{body}\n\n{marker}", keep, plan.findings, plan.outside_diff, plan.fingerprint)
