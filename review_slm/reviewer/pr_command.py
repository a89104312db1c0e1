"""`review-slm review --pr OWNER/REPO#N [--post]`: fetch, decide what to review, review, post once.

Everything that can fail before posting (reading the pull request, the model) happens first, and
the post is a single request, so an error never leaves half a review on the pull request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.reviewer.github_pulls import GitHubPullRequests
from review_slm.reviewer.hunk_review import Answerer, review_result, review_units
from review_slm.reviewer.pr_review import TokenBudget, decide, plan_hunks, plan_review
from review_slm.reviewer.review_input import NO_HUNKS, InputError


@dataclass
class PrOptions:
    post: bool = False
    min_severity: str = "info"
    max_hunk_lines: int = 200
    max_files: int = 300
    max_hunks: int = 400
    languages: tuple[str, ...] = DEFAULT_LANGUAGES  # the CLI passes the configured ones
    tokens: TokenBudget | None = None  # the model's token budget per prompt, when it can be counted


def review_pull_request(
    client: GitHubPullRequests,
    repo: str,
    number: int,
    answer: Answerer,
    options: PrOptions,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict:
    """The review as `review-slm review` prints it, plus `pull_request` and, with `post`, `posted`."""
    snap = client.snapshot(repo, number, options.max_files)
    plan = plan_hunks(snap.files, options.max_hunk_lines, options.languages, options.tokens)
    for skipped in plan.skipped:
        progress(f"{skipped['path']}: skipped ({skipped['reason']})")
    if not plan.hunks and not plan.unreadable:
        raise InputError(
            NO_HUNKS,
            f"{repo}#{number}: no hunk to review "
            f"({len(plan.skipped)} file(s) skipped: {', '.join(s['path'] for s in plan.skipped) or 'none'})",
        )
    decision = decide(plan.hunks, snap.prior, snap.head_sha)
    unchanged = len(plan.hunks) - len(decision.to_review)
    if unchanged:
        progress(f"{unchanged} hunk(s) unchanged since an earlier review: not reviewed again")
    placed, not_reviewed, reviewed = review_units(
        decision.to_review, answer, options.min_severity, options.max_hunks, progress
    )
    not_reviewed = plan.unreadable + not_reviewed
    notes = [f"`{s['path']}` not reviewed: {s['reason']}" for s in plan.skipped]
    notes += [f"`{n['path']}` lines {n['lines']} not reviewed: {n['reason']}" for n in not_reviewed]
    if unchanged:
        notes.append(
            f"{unchanged} hunk(s) unchanged since an earlier review of this pull request were not reviewed again"
        )
    # A hunk left unreviewed (over --max-hunks, or its answer was no review) is not covered: the next run reviews it.
    uncovered = {h.key for h in decision.to_review[options.max_hunks :]} | placed.unanswered_keys
    covered = [k for k in decision.covered_keys if k not in uncovered]
    planned = plan_review(placed, snap.head_sha, covered, notes)
    result = {
        "pull_request": f"{repo}#{number}",
        "head_sha": snap.head_sha,
        **review_result(placed, reviewed, plan.skipped, not_reviewed),
        "summary": planned.body.rsplit("\n\n", 1)[0],
        "hunks_unchanged": unchanged,
        "fingerprint": planned.fingerprint,
    }
    if not options.post:
        return result
    if not decision.to_review:
        result["posted"] = {"action": "none", "reason": "no hunk changed since the last review"}
    elif decision.replaces is not None and decision.replaces.fingerprint == planned.fingerprint:
        result["posted"] = {
            "action": "none",
            "reason": f"review {decision.replaces.id} of this head commit says the same",
            "review_id": decision.replaces.id,
        }
    else:
        outcome = client.post(repo, number, snap.head_sha, planned, decision.replaces)
        result["posted"] = {
            "action": "replaced" if outcome.replaced_review_id else "created",
            "review_id": outcome.review_id,
            "url": outcome.html_url,
            "inline_comments": len(planned.comments) - len(outcome.moved_to_body),
            "moved_to_body": [{"path": c["path"], "line": c["line"]} for c in outcome.moved_to_body],
            "replaced_review_id": outcome.replaced_review_id,
        }
    return result
