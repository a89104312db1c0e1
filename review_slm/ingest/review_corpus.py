"""The durable corpus of mined review comments, one per repository, in the artifact store.

Layout: `<root>/corpus/<source>/<owner>__<repo>/segments/<n>.jsonl` (append-only: upserts and
deletions) plus `state.json` (the cursor and the list of committed segments). A page is committed
by writing its segment, then the state that names it: a run killed between the two leaves a
segment nobody reads, never a cursor ahead of the data. Reading folds the segments in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from review_slm.core.corpus import classify_change, corpus_key, overlap_since, trim_any, updated_at
from review_slm.resources.artifact_layout import SharedArtifacts, segment_name
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.review_source import ReviewSource
from review_slm.reviewer.github_rate_limits import ApiUsage

log = logging.getLogger(__name__)

COMPACT_AFTER_SEGMENTS = 32


class ReviewCorpus:
    def __init__(self, artifacts: ArtifactStore, source: str):
        self.artifacts = artifacts
        self.source = source

    def _state_uri(self, repo: str) -> str:
        return SharedArtifacts(self.artifacts).corpus_state(self.source, repo)

    def _segment_uri(self, repo: str, name: str) -> str:
        return SharedArtifacts(self.artifacts).corpus_segment(self.source, repo, name)

    def state(self, repo: str) -> dict:
        uri = self._state_uri(repo)
        return (
            self.artifacts.read_json(uri)
            if self.artifacts.exists(uri)
            else {"cursor": "", "segments": [], "next_segment": 1}
        )

    def cursor(self, repo: str) -> str:
        return self.state(repo)["cursor"]

    def comments(self, repo: str) -> dict[int | str, dict]:
        """Every comment not deleted, latest version, by id."""
        active: dict[int | str, dict] = {}
        for name in self.state(repo)["segments"]:
            for op in self.artifacts.read_jsonl(self._segment_uri(repo, name)):
                if op["op"] == "upsert":
                    active[corpus_key(op["comment"])] = op["comment"]
                else:
                    active.pop(op["id"], None)
        return active

    def commit(self, repo: str, upserts: list[dict], deleted_ids: list[int | str], cursor: str) -> None:
        state = self.state(repo)
        if upserts or deleted_ids:
            name = segment_name(state["next_segment"])
            ops = [{"op": "upsert", "comment": c} for c in upserts] + [{"op": "delete", "id": i} for i in deleted_ids]
            self.artifacts.write_jsonl(self._segment_uri(repo, name), ops)
            state = {**state, "segments": [*state["segments"], name], "next_segment": state["next_segment"] + 1}
        self.artifacts.write_json(self._state_uri(repo), {**state, "cursor": max(cursor, state["cursor"])})

    def compact(self, repo: str) -> None:
        """Fold many small segments into one, so reading stays one file per repository."""
        state = self.state(repo)
        if len(state["segments"]) <= COMPACT_AFTER_SEGMENTS:
            return
        name = segment_name(state["next_segment"])
        self.artifacts.write_jsonl(
            self._segment_uri(repo, name), [{"op": "upsert", "comment": c} for c in self.comments(repo).values()]
        )
        self.artifacts.write_json(
            self._state_uri(repo), {**state, "segments": [name], "next_segment": state["next_segment"] + 1}
        )


@dataclass
class RepoMining:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    deleted: int = 0
    cursor: str = ""
    error: str = ""


@dataclass
class MiningReport:
    repos: dict[str, RepoMining] = field(default_factory=dict)
    usage: ApiUsage = field(default_factory=ApiUsage)

    def total(self, attr: str) -> int:
        return sum(getattr(r, attr) for r in self.repos.values())


class MiningFailed(RuntimeError):
    def __init__(self, report: MiningReport):
        failed = {repo: r.error for repo, r in report.repos.items() if r.error}
        super().__init__(
            "mining failed for "
            + "; ".join(f"{repo}: {err}" for repo, err in failed.items())
            + " — what was fetched before the failure is committed and the cursor covers it; rerun to continue"
        )
        self.report = report


def mine_into_corpus(
    source: ReviewSource, corpus: ReviewCorpus, full_resync: bool = False, progress: Callable[[str], None] = log.info
) -> MiningReport:
    """Fetch what changed since each repository's cursor and commit it page by page.

    A full resync lists everything and marks comments GitHub no longer returns as deleted.
    A repository that fails keeps its committed pages; the others still run; then it raises.
    """
    report = MiningReport()
    for repo in source.repos:
        stats = report.repos[repo] = RepoMining(cursor=corpus.cursor(repo))
        known = {cid: {"updated_at": updated_at(c)} for cid, c in corpus.comments(repo).items()}
        seen: set[int | str] = set()
        since = None if full_resync else overlap_since(stats.cursor)
        try:
            for page in source.raw_pages(repo, since, report.usage):
                upserts = []
                for raw in page:
                    comment = trim_any(raw)
                    key = corpus_key(comment)
                    seen.add(key)
                    change = classify_change(known.get(key), comment)
                    if change == "duplicate":
                        stats.duplicates += 1
                        continue
                    setattr(stats, change, getattr(stats, change) + 1)
                    known[key] = {"updated_at": updated_at(comment)}
                    upserts.append(comment)
                stats.fetched += len(page)
                page_cursor = max([stats.cursor, *(updated_at(c) for c in page)])
                corpus.commit(repo, upserts, [], page_cursor)
                stats.cursor = page_cursor
                progress(
                    f"{repo}: {stats.fetched} fetched ({stats.new} new, {stats.updated} edited), cursor {stats.cursor}"
                )
        except Exception as err:  # keep going with the other repositories; report at the end
            stats.error = f"{type(err).__name__}: {err}"
            progress(f"{repo}: failed after {stats.fetched} comments: {stats.error}")
            continue
        if full_resync:
            gone = sorted(set(known) - seen, key=lambda k: (isinstance(k, str), str(k)))  # ids, then content keys
            stats.deleted = len(gone)
            corpus.commit(repo, [], gone, stats.cursor)
        corpus.compact(repo)
    if any(r.error for r in report.repos.values()):
        raise MiningFailed(report)
    return report
