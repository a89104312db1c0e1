"""A pull request through PyGithub: its files and this reviewer's earlier reviews in, one review out.

Posting is one `POST /pulls/{n}/reviews` with every inline comment, which GitHub applies all or
nothing, so a failure never leaves half a review. When GitHub rejects the review with 422 (a
comment on a line it does not accept), each comment is tried alone as a *pending* review (visible
to nobody else, deleted at once) to find the ones GitHub rejects; those move into the body and the
review is posted again. 5xx and rate limits are retried by `GithubRetry` (Retry-After honoured);
what still fails becomes a `PullRequestError` with a message a user can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from github import Auth, Github, GithubException, RateLimitExceededException, UnknownObjectException

from review_slm.reviewer.github_rate_limits import ApiUsage, CountingGithubRetry
from review_slm.reviewer.pr_review import PlannedReview, PrFile, PriorReview, move_to_body, parse_marker

PR_REF = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)#(?P<number>\d+)$")


class PullRequestError(RuntimeError):
    """GitHub refused or failed; the message says what and what to do."""


class PullRequestTooLarge(PullRequestError):
    """More files than the caller is willing to review; nothing was reviewed."""


def parse_pr_ref(ref: str) -> tuple[str, int]:
    match = PR_REF.match(ref.strip())
    if not match:
        raise ValueError(f"{ref!r} is not OWNER/REPO#NUMBER (for example acme/x#7)")
    return match.group("repo"), int(match.group("number"))


@dataclass
class PullSnapshot:
    repo: str
    number: int
    head_sha: str
    files: list[PrFile]
    prior: list[PriorReview]
    total_files: int


@dataclass
class PostOutcome:
    review_id: int
    html_url: str
    moved_to_body: list[dict]
    replaced_review_id: int | None = None


def _explain(err: GithubException, doing: str) -> PullRequestError:
    message = (err.data or {}).get("message", "") if isinstance(err.data, dict) else str(err.data)
    if isinstance(err, RateLimitExceededException) or (err.status in (403, 429) and "rate limit" in message.lower()):
        return PullRequestError(
            f"{doing}: GitHub rate limit exceeded ({message}); nothing was posted, rerun after the reset"
        )
    if err.status == 401:
        return PullRequestError(f"{doing}: GitHub rejected the token (401 {message}); check GITHUB_TOKEN")
    if err.status == 403:
        return PullRequestError(
            f"{doing}: forbidden (403 {message}); the token needs `pull-requests: write` "
            "(in a workflow: `permissions: pull-requests: write`)"
        )
    if err.status == 404:
        return PullRequestError(
            f"{doing}: not found (404); check OWNER/REPO#N and that the token can read the repository"
        )
    return PullRequestError(f"{doing}: GitHub answered {err.status} {message}")


class GitHubPullRequests:
    def __init__(
        self,
        token: str,
        api_url: str = "https://api.github.com",
        reviewer_login: str | None = None,
        max_retries: int = 3,
        backoff_factor: float = 1.0,
        max_rate_limit_wait_s: float = 120.0,
        seconds_between_writes: float = 1.0,
    ):
        self.reviewer_login = reviewer_login
        self.usage = ApiUsage()
        retry = CountingGithubRetry(
            self.usage,
            total=max_retries,
            backoff_factor=backoff_factor,
            max_rate_limit_wait=max_rate_limit_wait_s,
            secondary_rate_wait=min(60.0, max_rate_limit_wait_s),
        )
        # PyGithub spaces writes 1 s apart, GitHub's advice against secondary rate limits; tests set 0.
        self.gh = Github(
            auth=Auth.Token(token),
            base_url=api_url,
            per_page=100,
            retry=retry,
            lazy=True,
            seconds_between_writes=seconds_between_writes or None,
        )

    def _pull(self, repo: str, number: int):
        return self.gh.get_repo(repo).get_pull(number)

    def snapshot(self, repo: str, number: int, max_files: int) -> PullSnapshot:
        """The head commit, the files (at most `max_files`, else an error) and this reviewer's earlier reviews."""
        doing = f"reading {repo}#{number}"
        try:
            pr = self._pull(repo, number)
            head = pr.head.sha  # completes the lazy object: GET /pulls/{n}
            files = []
            for f in pr.get_files():
                files.append(PrFile(f.filename, f.status, f.patch, f.changes or 0, f.previous_filename))
                if len(files) > max_files:
                    raise PullRequestTooLarge(
                        f"{repo}#{number} changes more than --max-files={max_files} files; nothing was reviewed. "
                        "Review it in parts (`git diff` per directory into `review-slm review FILE.diff`) or raise "
                        "--max-files"
                    )
            prior = []
            for r in pr.get_reviews():
                marker = parse_marker(r.body)
                if marker is None or (self.reviewer_login and r.user and r.user.login != self.reviewer_login):
                    continue
                prior.append(
                    PriorReview(r.id, marker["head"], frozenset(marker.get("hunks", [])), marker.get("fingerprint", ""))
                )
        except GithubException as err:
            raise _explain(err, doing) from None
        return PullSnapshot(repo, number, head, files, prior, len(files))

    def post(
        self, repo: str, number: int, head_sha: str, plan: PlannedReview, replaces: PriorReview | None
    ) -> PostOutcome:
        """Post the plan as one review; then retire the review it replaces (same head commit)."""
        pr = self._pull(repo, number)
        commit = self.gh.get_repo(repo).get_commit(head_sha)  # lazy: only its sha is sent
        moved: list[dict] = []
        try:
            try:
                review = pr.create_review(commit=commit, body=plan.body, event="COMMENT", comments=plan.comments)  # pyright: ignore[reportArgumentType]  (PyGithub's ReviewComment TypedDict: the same keys)
            except GithubException as err:
                if err.status != 422 or not plan.comments:
                    raise
                moved = self._rejected_comments(pr, commit, plan.comments)
                if not moved:
                    raise  # the 422 is about the review itself (e.g. a stale head commit), not one comment
                plan = move_to_body(plan, moved, f"GitHub rejected {len(moved)} inline comment(s) with 422")
                review = pr.create_review(commit=commit, body=plan.body, event="COMMENT", comments=plan.comments)  # pyright: ignore[reportArgumentType]  (PyGithub's ReviewComment TypedDict: the same keys)
        except GithubException as err:
            raise _explain(err, f"posting the review on {repo}#{number}") from None
        if replaces is not None:
            self._retire(pr, replaces, review.id)
        return PostOutcome(review.id, review.html_url or "", moved, replaces.id if replaces else None)

    def _rejected_comments(self, pr, commit, comments: list[dict]) -> list[dict]:
        """The comments GitHub will not take, each probed as a pending review that is deleted at once."""
        rejected = []
        for comment in comments:
            try:
                pending = pr.create_review(commit=commit, body="", comments=[comment])  # no event: PENDING
            except GithubException as err:
                if err.status == 422:
                    rejected.append(comment)
                    continue
                raise
            pending.delete()
        return rejected

    def _retire(self, pr, old: PriorReview, new_id: int) -> None:
        """A submitted review cannot be deleted through the API; its inline comments can, and its body
        is replaced by a pointer, so the pull request shows one live review for the head commit."""
        try:
            for comment in pr.get_single_review_comments(old.id):
                pr.get_review_comment(comment.id).delete()
            pr.get_review(old.id).edit(f"Superseded by review {new_id} of the same commit.")
        except UnknownObjectException:
            pass  # already gone: nothing to retire
