"""Incremental mining through real PyGithub against a local stand-in of the GitHub REST API."""

import pytest

from review_slm.core.github_comments import parse_threads
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.ingest.review_corpus import MiningFailed, ReviewCorpus, mine_into_corpus
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.review_source import GitHubReviewSource
from review_slm_tests.resources.github_standin import GitHubState, PullState, comment, make_handler
from review_slm_tests.servers import serve

HUGE_HUNK = "@@ -1,1 +1,4001 @@\n" + "".join(f"+line_{i} = {i}\n" for i in range(4000)) + "+go f()"


def seed_state() -> GitHubState:
    state = GitHubState()
    for i in range(1, 8):
        state.comments[i] = comment(i, f"2026-01-0{i}T00:00:00Z")
    state.comments[8] = comment(8, "2026-01-08T00:00:00Z", user={"login": "coveralls[bot]", "type": "Bot"}, path="a.py")
    state.comments[9] = comment(9, "2026-01-08T00:00:00Z", line=None)  # outdated: no longer on a line of the diff
    state.comments[10] = comment(10, "2026-01-08T00:00:00Z", in_reply_to_id=1, body="Fixed in the next commit, thanks")
    state.comments[11] = comment(11, "2026-01-08T00:00:00Z", diff_hunk=HUGE_HUNK, path="pkg/huge.go", line=4001)
    return state


@pytest.fixture
def github():
    state = seed_state()
    with serve(make_handler(state)) as url:
        yield state, url


def source(url: str, **over) -> GitHubReviewSource:
    return GitHubReviewSource(
        token="test-token", api_url=url, repos=["o/r"], per_page=3, backoff_factor=0, seconds_between_requests=0, **over
    )


def test_mines_every_page_and_parses_threads_bots_and_outdated(github, tmp_path):
    state, url = github
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
    report = mine_into_corpus(source(url), corpus)
    repo = report.repos["o/r"]
    assert (repo.fetched, repo.new, repo.updated, repo.duplicates) == (11, 11, 0, 0)
    assert len(state.calls) == report.usage.api_calls == 4  # 11 comments at 3 per page, no per-comment re-fetch
    assert repo.cursor == "2026-01-08T00:00:00Z" and corpus.cursor("o/r") == repo.cursor

    parsed = parse_threads(list(corpus.comments("o/r").values()), "o/r", DEFAULT_LANGUAGES)
    by_id = {r.source_id: r for r in parsed.records}
    assert sorted(r.reason for r in parsed.rejected) == ["bot", "outdated"]
    assert parsed.replies_attached == 1 and by_id["1"].thread == ["bob: Fixed in the next commit, thanks"]
    assert "10" not in by_id  # the reply is part of its thread, not an example of its own
    assert by_id["3"].body == "goroutine leak 3 — naïve 🚀"
    assert by_id["11"].diff_hunk == HUGE_HUNK  # huge hunks are mined whole; the gold set's token budget decides
    # Every comment is a record, an attached reply or a rejected row.
    assert len(parsed.records) + parsed.replies_attached + len(parsed.rejected) == len(state.comments)


def test_rerun_with_overlap_adds_nothing_and_picks_up_edits_and_new_comments(github, tmp_path):
    state, url = github
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
    mine_into_corpus(source(url), corpus)

    again = mine_into_corpus(source(url), corpus).repos["o/r"]
    assert (
        again.new == 0 and again.updated == 0 and again.duplicates == 4
    )  # the 1 s overlap re-delivers the cursor's second

    state.comments[2] = {**state.comments[2], "body": "edited: leaks on error", "updated_at": "2026-01-09T00:00:00Z"}
    state.comments[12] = comment(12, "2026-01-09T00:00:00Z")
    third = mine_into_corpus(source(url), corpus).repos["o/r"]
    assert (third.new, third.updated) == (1, 1)
    comments = corpus.comments("o/r")
    assert len(comments) == 12 and comments[2]["body"] == "edited: leaks on error"


def test_full_resync_drops_deleted_comments(github, tmp_path):
    state, url = github
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
    mine_into_corpus(source(url), corpus)
    del state.comments[5]
    report = mine_into_corpus(source(url), corpus, full_resync=True).repos["o/r"]
    assert report.deleted == 1 and report.new == 0 and 5 not in corpus.comments("o/r")


def test_retries_5xx_and_waits_out_rate_limits(github, tmp_path):
    state, url = github
    state.fail_next = [(502, {}), (403, {"Retry-After": "1"})]
    state.remaining, state.reset_in_s = 3, 1  # the primary limit runs low after the first page
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
    report = mine_into_corpus(source(url, rate_limit_reserve=2), corpus)
    assert report.repos["o/r"].new == 11
    assert report.usage.retries == 2 and report.usage.api_calls == len(state.calls) == 6
    assert report.usage.rate_limit_waits >= 2  # the secondary limit's Retry-After, then the primary reset


def test_interrupted_run_keeps_its_pages_and_resumes_without_loss(github, tmp_path):
    state, url = github
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
    flaky = source(url, max_retries=1)

    real_listing = state.listing
    served = []

    def failing_after_first_page(since):
        served.append(since)
        if len(served) == 2:  # after serving the second page, the third fails and so does its retry
            state.fail_next = [(502, {}), (502, {})]
        return real_listing(since)

    state.listing = failing_after_first_page
    with pytest.raises(MiningFailed, match="o/r: .*rerun to continue"):
        mine_into_corpus(flaky, corpus)
    assert len(corpus.comments("o/r")) == 6 and corpus.cursor("o/r") == "2026-01-06T00:00:00Z"

    state.listing = real_listing
    calls_before = len(state.calls)
    resumed = mine_into_corpus(flaky, corpus).repos["o/r"]
    assert "since=2026-01-05T23%3A59%3A59Z" in state.calls[calls_before]  # from the cursor, not from zero
    assert (resumed.new, resumed.duplicates) == (5, 1) and len(corpus.comments("o/r")) == 11


def test_sensor_check_is_cheap(github, tmp_path):
    state, url = github
    count, newest = source(url).count_new("o/r", "2026-01-02T00:00:00Z", stop_at=2)
    assert count >= 2 and len(state.calls) == 1 and newest <= "2026-01-05T00:00:00Z"


def _patch(*hunks: tuple[int, int]) -> str:
    """A patch of all-added Go hunks, each (first new line, lines)."""
    return "\n".join(
        f"@@ -{start - 1},0 +{start},{n} @@\n" + "\n".join(f"+\tx{start + i} := {i}" for i in range(n))
        for start, n in hunks
    )


def test_passed_hunks_keep_uncommented_hunks_and_leave_out_commented_and_later_touched_ones(tmp_path):
    """PR #7, reviewed at commit r1 and pushed to (head h2) after: an uncommented hunk of a commented file and an
    untouched file are clean; the commented hunk, the file changed after review, the file whose comment cannot be
    placed, a binary file and a Markdown file are not."""
    from review_slm.core.clean_hunks import CLEAN_BODY

    state = GitHubState()
    on = {"original_commit_id": "r1", "commit_id": "h2"}
    state.comments[1] = comment(1, "2026-01-01T00:00:00Z", path="pkg/a.go", line=3, original_line=3, **on)
    state.comments[2] = comment(2, "2026-01-02T00:00:00Z", path="pkg/d.go", line=None, original_line=None, **on)
    state.pulls["o/r#7"] = PullState(
        head_sha="h2",
        files=[
            {"filename": "pkg/a.go", "status": "modified", "patch": _patch((1, 4), (20, 3)), "changes": 7},
            {"filename": "pkg/b.go", "status": "modified", "patch": _patch((5, 2)), "changes": 2},
            {"filename": "pkg/c.go", "status": "added", "patch": _patch((1, 2)), "changes": 2},
            {"filename": "pkg/d.go", "status": "added", "patch": _patch((1, 2)), "changes": 2},
            {"filename": "logo.png", "status": "added", "changes": 0},
            {"filename": "README.md", "status": "modified", "patch": "@@ -1,0 +1,1 @@\n+# hi", "changes": 1},
        ],
    )
    state.compares["r1...h2"] = ["pkg/b.go"]
    # A comment on pull request #8, which is gone (404): no clean hunk from it, and mining goes on.
    state.comments[3] = comment(
        3, "2026-01-03T00:00:00Z", pull_request_url="https://api.github.com/repos/o/r/pulls/8", **on
    )
    with serve(make_handler(state)) as url:
        src = source(url)
        corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path)), "github")
        report = mine_into_corpus(src, corpus)
        passed = src.passed_hunks("o/r", list(corpus.comments("o/r").values()), report.usage)
    clean = sorted((r.path, r.diff_hunk.split(" @@")[0]) for r in passed.records)
    assert clean == [("pkg/a.go", "@@ -19,0 +20,3"), ("pkg/c.go", "@@ -0,0 +1,2")]
    assert all(r.clean and r.body == CLEAN_BODY and r.pr_number == 7 and r.language == "go" for r in passed.records)
    assert passed.left_out == {
        "commented": 1,
        "changed_after_review": 1,
        "comment_not_placed": 1,
        "no_patch": 1,
        "not_reviewed_language": 1,
        "pull_unreadable_404": 1,
    }
    assert any("/compare/r1...h2" in call for call in state.calls)
