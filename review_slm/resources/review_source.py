"""Where review comments come from: the GitHub REST API through PyGithub, or the bundled snapshot.

Both hand the same raw comment JSON to `core.github_comments.parse_review_comment`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

import dagster as dg
from pydantic import Field

from review_slm.core.github_comments import parse_review_comment
from review_slm.core.schema import RejectedRow, ReviewRecord

SNAPSHOT_PACKAGE = "review_slm.data.github_snapshot"


@dataclass
class MinedBatch:
    records: list[ReviewRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    fetched: int = 0
    api_calls: int = 0
    newest_update: dict[str, str] = field(default_factory=dict)


class ReviewSource(dg.ConfigurableResource, ABC):
    repos: list[str] = Field(default_factory=lambda: ["kubeflow/trainer"])
    extra_bots: list[str] = Field(default_factory=list, description="logins to treat as bots besides [bot] accounts")

    @property
    @abstractmethod
    def source_name(self) -> str: ...

    @abstractmethod
    def raw_comments(self, repo: str, since: str | None) -> Iterator[dict]:
        """Raw review-comment JSON objects updated at or after `since`, oldest first."""

    def mine(self, since: dict[str, str] | None = None) -> MinedBatch:
        batch = MinedBatch()
        bots = frozenset(b.lower() for b in self.extra_bots)
        for repo in self.repos:
            for raw in self.raw_comments(repo, (since or {}).get(repo)):
                batch.fetched += 1
                parsed = parse_review_comment(raw, repo, bots)
                if parsed.record:
                    batch.records.append(parsed.record)
                else:
                    batch.rejected.append(parsed.rejected)
                updated = raw.get("updated_at") or ""
                if updated > batch.newest_update.get(repo, ""):
                    batch.newest_update[repo] = updated
        return batch

    def new_since(self, since: dict[str, str]) -> tuple[int, dict[str, str]]:
        """How many comments were updated after the per-repo cursor, and the newest update seen: the sensor's cheap check."""
        count, newest = 0, {}
        for repo in self.repos:
            mark = since.get(repo, "")
            for raw in self.raw_comments(repo, mark or None):
                updated = raw.get("updated_at") or ""
                if updated > mark:
                    count += 1
                    newest[repo] = max(newest.get(repo, ""), updated)
        return count, newest


class SnapshotReviewSource(ReviewSource):
    """The bundled snapshot (`review_slm/data/github_snapshot/<owner>__<repo>.json`), in the API's JSON shape."""

    snapshot_dir: str | None = None

    @property
    def source_name(self) -> str:
        return "snapshot"

    def raw_comments(self, repo: str, since: str | None) -> Iterator[dict]:
        name = repo.replace("/", "__") + ".json"
        if self.snapshot_dir:
            from pathlib import Path

            text = (Path(self.snapshot_dir) / name).read_text(encoding="utf-8")
        else:
            ref = resources.files(SNAPSHOT_PACKAGE) / name
            if not ref.is_file():
                raise FileNotFoundError(f"no bundled snapshot for {repo} ({name}); set GITHUB_TOKEN to mine it live")
            text = ref.read_text(encoding="utf-8")
        for raw in sorted(json.loads(text), key=lambda c: c.get("updated_at") or ""):
            if since is None or (raw.get("updated_at") or "") >= since:
                yield raw


class GitHubReviewSource(ReviewSource):
    """Live mining through PyGithub: `GET /repos/{repo}/pulls/comments?sort=updated&since=...`."""

    token: str
    api_url: str = "https://api.github.com"
    per_page: int = 100

    @property
    def source_name(self) -> str:
        return "github"

    def _client(self):
        from github import Auth, Github

        return Github(auth=Auth.Token(self.token), base_url=self.api_url, per_page=self.per_page)

    def raw_comments(self, repo: str, since: str | None) -> Iterator[dict]:
        gh = self._client()
        kwargs = {"sort": "updated", "direction": "asc"}
        if since:
            kwargs["since"] = datetime.fromisoformat(since.replace("Z", "+00:00"))
        for comment in gh.get_repo(repo, lazy=True).get_pulls_review_comments(**kwargs):
            # The list payload is the whole object; `raw_data` would re-fetch each comment
            # because PyGithub marks list items as not completed.
            yield comment._rawData
