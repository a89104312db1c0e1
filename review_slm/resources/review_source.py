"""Where review comments come from: the GitHub REST API through PyGithub, or the bundled snapshot.

Both hand the same raw comment JSON, page by page and oldest update first, to the review corpus
(`storage/review_corpus.py`), which keeps the per-repository cursor.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from importlib import resources

import dagster as dg
from pydantic import Field

from review_slm.core.clean_hunks import PassedHunks, passed_hunks, reviewed_commit
from review_slm.core.corpus import updated_at
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.reviewer.github_rate_limits import ApiUsage, CountingGithubRetry, wait_for_primary_limit

SNAPSHOT_PACKAGE = "review_slm.data.github_snapshot"


class ReviewSource(dg.ConfigurableResource, ABC):
    repos: list[str] = Field(default_factory=lambda: ["kubeflow/trainer"])
    extra_bots: list[str] = Field(default_factory=list, description="logins to treat as bots besides [bot] accounts")
    per_page: int = Field(default=100, gt=0, le=100)
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES), description="the languages reviewed (REVIEW_SLM_LANGUAGES)"
    )

    @property
    @abstractmethod
    def source_name(self) -> str: ...

    @abstractmethod
    def raw_pages(self, repo: str, since: str | None, usage: ApiUsage) -> Iterator[list[dict]]:
        """Raw review-comment JSON objects updated at or after `since`, oldest update first, one list per page.

        If fetching fails part way, the pages already yielded are safe to keep: the caller commits
        them before the error propagates.
        """

    def passed_hunks(self, repo: str, comments: list[dict], usage: ApiUsage) -> PassedHunks:
        """The hunks of the mined pull requests that drew no comment (core/clean_hunks.py). Offline sources have
        no pull-request files: none."""
        return PassedHunks()

    def count_new(self, repo: str, cursor: str, stop_at: int) -> tuple[int, str]:
        """Comments updated strictly after `cursor`, counting no further than `stop_at`: the sensor's cheap check."""
        count, newest = 0, cursor
        for page in self.raw_pages(repo, cursor or None, ApiUsage()):
            for raw in page:
                updated = raw.get("updated_at") or ""
                if updated > cursor:
                    count += 1
                    newest = max(newest, updated)
            if count >= stop_at:
                break
        return count, newest


def _chunks(items: Iterator[dict], size: int) -> Iterator[list[dict]]:
    """Group into pages; on an error, hand over the partial page first, then raise."""
    chunk: list[dict] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except Exception:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def _snapshot_order(c) -> tuple:
    """As GitHub lists them (by update, then id); a hostile id or entry sorts after the numbers instead of failing
    the comparison, so it reaches the parser, which rejects it with its reason."""
    cid = c.get("id", 0) if isinstance(c, dict) else None
    number = isinstance(cid, int) and not isinstance(cid, bool)
    return (updated_at(c), 0, cid, "") if number else (updated_at(c), 1, 0, repr(cid))


class SnapshotReviewSource(ReviewSource):
    """The bundled snapshot (`review_slm/data/github_snapshot/<owner>__<repo>.json`), in the API's JSON shape."""

    snapshot_dir: str | None = None

    @property
    def source_name(self) -> str:
        return "snapshot"

    def raw_pages(self, repo: str, since: str | None, usage: ApiUsage) -> Iterator[list[dict]]:
        name = repo.replace("/", "__") + ".json"
        if self.snapshot_dir:
            from pathlib import Path

            text = (Path(self.snapshot_dir) / name).read_text(encoding="utf-8")
        else:
            ref = resources.files(SNAPSHOT_PACKAGE) / name
            if not ref.is_file():
                raise FileNotFoundError(f"no bundled snapshot for {repo} ({name}); set GITHUB_TOKEN to mine it live")
            text = ref.read_text(encoding="utf-8")
        ordered = sorted(json.loads(text), key=_snapshot_order)
        yield from _chunks((c for c in ordered if since is None or updated_at(c) >= since), self.per_page)


class GitHubReviewSource(ReviewSource):
    """Live mining through PyGithub: `GET /repos/{repo}/pulls/comments?sort=updated&direction=asc&since=...`.

    Pages follow the `Link` header; 5xx and rate-limit responses are retried (Retry-After honoured);
    when `X-RateLimit-Remaining` reaches `rate_limit_reserve` the miner waits for the reset.
    """

    token: str
    api_url: str = "https://api.github.com"
    max_retries: int = 5
    backoff_factor: float = 1.0
    secondary_rate_wait_s: float = 60.0
    max_rate_limit_wait_s: float = 3600.0
    rate_limit_reserve: int = 1
    seconds_between_requests: float = Field(
        default=0.25, ge=0, description="PyGithub's courtesy throttle between requests"
    )
    max_clean_pulls: int = Field(
        default=50,
        ge=0,
        description="pull requests (newest comments first) whose uncommented hunks are read as clean examples",
    )

    @property
    def source_name(self) -> str:
        return "github"

    def _client(self, usage: ApiUsage):
        from github import Auth, Github

        retry = CountingGithubRetry(
            usage,
            total=self.max_retries,
            backoff_factor=self.backoff_factor,
            secondary_rate_wait=self.secondary_rate_wait_s,
            max_rate_limit_wait=self.max_rate_limit_wait_s,
        )
        return Github(
            auth=Auth.Token(self.token),
            base_url=self.api_url,
            per_page=self.per_page,
            retry=retry,
            lazy=True,
            seconds_between_requests=self.seconds_between_requests or None,
        )

    def raw_pages(self, repo: str, since: str | None, usage: ApiUsage) -> Iterator[list[dict]]:
        gh = self._client(usage)
        params = {"sort": "updated", "direction": "asc", "per_page": self.per_page}
        if since:
            params["since"] = datetime.fromisoformat(since.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")
        # The list payload is the whole comment, so pages are read as JSON through the client's public
        # `requester` (auth, retries, rate-limit headers): PyGithub's typed list items are not "completed",
        # and their `raw_data` would re-fetch every comment.
        url: str | None = f"/repos/{repo}/pulls/comments"
        fetched_any = False
        while url:
            headers, page = gh.requester.requestJsonAndCheck("GET", url, parameters=params)
            if not page:
                break
            usage.api_calls += 1
            fetched_any = True
            yield page
            remaining, _limit = gh.rate_limiting  # read from the last response's headers, no request
            wait_for_primary_limit(
                remaining, gh.rate_limiting_resettime, self.rate_limit_reserve, usage, self.max_rate_limit_wait_s
            )
            url, params = _next_link(headers.get("link")), None  # the next link carries the query
        if not fetched_any:
            usage.api_calls += 1  # the one request that found nothing new

    def passed_hunks(self, repo: str, comments: list[dict], usage: ApiUsage) -> PassedHunks:
        from github import GithubException

        gh = self._client(usage)
        out = PassedHunks()
        repository = gh.get_repo(repo)  # lazy: no request
        for number, on_pull in _by_pull(comments, self.max_clean_pulls).items():
            reviewed = reviewed_commit(on_pull)
            if reviewed is None:
                out.left_out["no_reviewed_commit"] += 1
                continue
            calls = 0
            try:
                pull = repository.get_pull(number)
                head, calls = pull.head.sha, calls + 1  # GET /pulls/{n}
                files = [{"filename": f.filename, "patch": f.patch} for f in pull.get_files()]
                calls += 1 + len(files) // self.per_page  # its files, page by page
                changed = set()
                if reviewed != head:
                    changed, calls = {f.filename for f in repository.compare(reviewed, head).files}, calls + 1
            except GithubException as err:  # a pull request or commit gone since (404), or not readable: no clean hunk
                out.left_out[f"pull_unreadable_{err.status}"] += 1
                continue
            finally:
                usage.api_calls += calls
            found = passed_hunks(
                repo, number, head, files, on_pull, changed, tuple(self.languages), pr_url=pull.html_url or ""
            )
            out.records += found.records
            out.left_out.update(found.left_out)
        return out


def _pull_number(comment: dict) -> int | None:
    url = comment.get("pull_request_url")
    tail = url.rsplit("/", 1)[-1] if isinstance(url, str) else ""
    return int(tail) if tail.isdigit() else None


def _by_pull(comments: list[dict], limit: int) -> dict[int, list[dict]]:
    """The comments of each pull request, the `limit` pull requests with the newest comments."""
    pulls: dict[int, list[dict]] = {}
    for c in comments:
        number = _pull_number(c) if isinstance(c, dict) else None
        if number is not None:
            pulls.setdefault(number, []).append(c)
    newest = sorted(pulls, key=lambda n: max(str(c.get("created_at") or "") for c in pulls[n]), reverse=True)
    return {n: pulls[n] for n in newest[:limit]}


def _next_link(link: str | None) -> str | None:
    """The `rel="next"` URL of a REST `Link` header, or None on the last page."""
    for part in (link or "").split(","):
        target, _, rel = part.partition(";")
        if rel.strip() == 'rel="next"':
            return target.strip().removeprefix("<").removesuffix(">")
    return None
