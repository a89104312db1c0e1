"""Reviewed and passed: the hunks of a reviewed pull request that drew no comment, as candidate clean examples.

A hunk nobody commented on is probably, not surely, clean, so the rules lean towards leaving a hunk out:

- a hunk is commented when a review comment on its file sits on one of its new-side lines, by `line` (at head) or
  `original_line` (where it was written); a comment that cannot be placed (neither is a number) takes its whole
  file out;
- a hunk touched after the reviewers' last look is not what they passed. Detecting it per hunk would need the
  patch at every reviewed commit; we compare once per pull request instead: when the newest commented commit
  (`original_commit_id` of the newest comment) is not the head, every file the compare from it to head changes is
  left out (one API call, and only for pull requests pushed to after review). No comment carrying a commit id:
  the pull request gives nothing, as nothing says what was reviewed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from review_slm.core.diff_hunks import enumerate_new_lines, parse_patch
from review_slm.core.languages import detect_language
from review_slm.core.schema import ReviewRecord, content_hash

CLEAN_BODY = "(no comment: reviewed and passed)"
"""The `body` of a clean record: where its label comes from. Never a finding: its gold answer is the empty review."""


@dataclass
class PassedHunks:
    records: list[ReviewRecord] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> hunks (or files) not taken as clean


def _number(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reviewed_commit(comments: list[dict]) -> str | None:
    """The commit of the newest comment (`original_commit_id`): the reviewers' last look at the pull request."""
    dated = [c for c in comments if isinstance(c.get("original_commit_id"), str) and c["original_commit_id"]]
    return max(dated, key=lambda c: str(c.get("created_at") or ""))["original_commit_id"] if dated else None


def passed_hunks(
    repo: str,
    number: int,
    head_sha: str,
    files: list[dict],
    comments: list[dict],
    changed_after_review: set[str],
    languages: tuple[str, ...],
    pr_url: str = "",
) -> PassedHunks:
    """The clean records of one pull request. `files`: `GET /pulls/{n}/files` entries (filename, patch) at
    `head_sha`; `comments`: its review comments; `changed_after_review`: the files changed from the reviewed
    commit to head (empty when head is the reviewed commit)."""
    out = PassedHunks()
    commented: dict[str, set[int]] = {}
    unplaced: set[str] = set()
    for c in comments:
        path = c.get("path")
        if not isinstance(path, str):
            continue
        lines = {n for n in (_number(c.get("line")), _number(c.get("original_line"))) if n is not None}
        if lines:
            commented.setdefault(path, set()).update(lines)
        else:
            unplaced.add(path)
    for f in files:
        path, patch = f.get("filename"), f.get("patch")
        if not isinstance(path, str) or not isinstance(patch, str) or not patch:
            out.left_out["no_patch"] += 1  # binary, too large for GitHub to show, or hostile
            continue
        if path in changed_after_review:
            out.left_out["changed_after_review"] += 1
            continue
        if path in unplaced:
            out.left_out["comment_not_placed"] += 1
            continue
        for hunk in parse_patch(path, patch):
            language = detect_language(path, hunk.text, languages)
            if language is None:
                out.left_out["not_reviewed_language"] += 1
                continue
            if {n for _, n in enumerate_new_lines(hunk.text)} & commented.get(path, set()):
                out.left_out["commented"] += 1
                continue
            out.records.append(
                ReviewRecord(
                    source="github",
                    source_id=f"clean-{content_hash(repo, str(number), head_sha, path, hunk.text)[:16]}",
                    repo=repo,
                    path=path,
                    line=None,
                    language=language,
                    diff_hunk=hunk.text,
                    body=CLEAN_BODY,
                    pr_number=number,
                    pr_url=pr_url,
                    clean=True,
                )
            )
    return out
