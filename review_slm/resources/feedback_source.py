"""Where feedback on the reviewer's own comments comes from: GitHub (REST + GraphQL), or an exported file.

`GitHubFeedbackSource` lists the repository's review comments updated in the last `lookback_days`
(the listing carries each comment's reaction counts), keeps the bot's comments and the replies to
them, and asks GraphQL which threads are resolved (`reviewThreads { isResolved }`), once per pull
request that has a comment of the bot. `FileFeedbackSource` reads the same payloads from a JSON
file (`{"comments": [...], "resolved": [ids]}` per repository), the local profile's path; with no
file configured it has no feedback.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from review_slm.core.feedback import FeedbackItem, collect_feedback
from review_slm.reviewer.github_rate_limits import ApiUsage, CountingGithubRetry

THREADS_QUERY = """
query($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $after) {
        nodes { isResolved comments(first: 1) { nodes { databaseId } } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""


class FeedbackSource(dg.ConfigurableResource, ABC):
    repos: list[str] = Field(default_factory=lambda: ["kubeflow/trainer"])
    bot_login: str = Field(
        default="review-slm[bot]", description="the login the reviewer posts as (REVIEW_SLM_BOT_LOGIN)"
    )

    @abstractmethod
    def items(self, repo: str, malformed: Counter[str] | None = None) -> list[FeedbackItem]:
        """The reviewer's comments on `repo` with the reactions, replies and resolution they got; the comments of
        ours that cannot be read are left out and counted in `malformed` by field."""


class FileFeedbackSource(FeedbackSource):
    path: str | None = None

    def items(self, repo: str, malformed: Counter[str] | None = None) -> list[FeedbackItem]:
        if not self.path:
            return []
        try:
            export = json.loads(Path(self.path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            # The whole export is unreadable: a configuration error, said with the file, not a silent "no feedback".
            raise ValueError(f"feedback export {self.path} (REVIEW_SLM_FEEDBACK_FILE) cannot be read: {err}") from err
        if not isinstance(export, dict):
            raise ValueError(f"feedback export {self.path}: expected an object keyed by repository")
        data = export.get(repo, {})
        return collect_feedback(
            data.get("comments", []), repo, self.bot_login, set(data.get("resolved", [])), malformed
        )


class GitHubFeedbackSource(FeedbackSource):
    token: str
    api_url: str = "https://api.github.com"
    lookback_days: int = Field(
        default=90, gt=0, description="comments updated in this window are read (reactions do not bump updated_at)"
    )
    max_retries: int = 5
    backoff_factor: float = 1.0

    def _client(self):
        from github import Auth, Github

        retry = CountingGithubRetry(ApiUsage(), total=self.max_retries, backoff_factor=self.backoff_factor)
        return Github(
            auth=Auth.Token(self.token),
            base_url=self.api_url,
            per_page=100,
            retry=retry,
            lazy=True,
            seconds_between_writes=None,
        )  # GraphQL queries are POSTs but read nothing into GitHub

    def items(self, repo: str, malformed: Counter[str] | None = None) -> list[FeedbackItem]:
        gh = self._client()
        since = datetime.now(UTC) - timedelta(days=self.lookback_days)
        raws = [
            c._rawData
            for c in gh.get_repo(repo).get_pulls_review_comments(sort="updated", direction="asc", since=since)
        ]
        ours = collect_feedback(raws, repo, self.bot_login, set())
        resolved: set[int] = set()
        for number in sorted({i.pr_number for i in ours if i.pr_number is not None}):
            resolved |= self._resolved_threads(gh, repo, number)
        return collect_feedback(raws, repo, self.bot_login, resolved, malformed)  # counted once, here

    def _resolved_threads(self, gh, repo: str, number: int) -> set[int]:
        owner, name = repo.split("/", 1)
        resolved, after = set(), None
        while True:
            _headers, data = gh.requester.graphql_query(
                THREADS_QUERY, {"owner": owner, "name": name, "number": number, "after": after}
            )
            threads = ((data.get("data") or {}).get("repository") or {}).get("pullRequest") or {}
            threads = threads.get("reviewThreads") or {"nodes": [], "pageInfo": {}}
            for node in threads["nodes"]:
                first = node["comments"]["nodes"]
                if node["isResolved"] and first:
                    resolved.add(first[0]["databaseId"])
            if not threads["pageInfo"].get("hasNextPage"):
                return resolved
            after = threads["pageInfo"]["endCursor"]
