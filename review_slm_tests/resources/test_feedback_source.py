"""The feedback flywheel: the reviewer posts, people react, the next iteration gets preference pairs.

The bot's comments are posted by `review --pr --post` itself (through the GitHub stand-in), then
reactions, replies and a resolved thread are added the way GitHub records them; the feedback source
reads them back through real PyGithub (REST listing + GraphQL `reviewThreads`).
"""

import json
import time
from collections import Counter

import dagster as dg
import pytest

from review_slm.core.feedback import collect_feedback, feedback_pairs, judge
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.quality_gates import GateConfig
from review_slm.resources.feedback_source import FileFeedbackSource, GitHubFeedbackSource
from review_slm.resources.review_source import SnapshotReviewSource
from review_slm.reviewer.pr_command import PrOptions, review_pull_request
from review_slm.sensors import new_reviews_sensor
from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.servers import serve
from review_slm_tests.test_pr_review import LineModel, client, pull_files

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # shaped like a GitHub token: must never reach a pair


def reply(state: GitHubState, to: int, login: str, body: str) -> None:
    cid = state.new_id()
    root = state.comments[to]
    state.comments[cid] = {
        **root,
        "id": cid,
        "in_reply_to_id": to,
        "body": body,
        "user": {"login": login, "type": "User"},
        "reactions": {},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@pytest.fixture
def reacted():
    """A posted review whose three comments got 👍, 👎 and a correcting reply; plus a 'thanks' and a resolved thread."""
    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as url:
        review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
        by_line = {(c["path"], c["line"]): c["id"] for c in state.review_comments("acme/x#7")}
        state.comments[by_line[("pkg/pool.go", 12)]]["reactions"] = {"+1": 2, "-1": 0}
        state.comments[by_line[("pkg/pool.go", 43)]]["reactions"] = {"+1": 0, "-1": 1}
        reply(
            state,
            by_line[("cmd/new.py", 2)],
            "alice",
            f"Not quite: read it with os.getenv and a default; token {TOKEN}",
        )
        reply(state, by_line[("cmd/new.py", 2)], "coveralls[bot]", "Coverage decreased")  # bots are not feedback
        yield state, url, by_line


def test_feedback_pairs_from_reactions_and_a_reply(reacted):
    state, url, by_line = reacted
    source = GitHubFeedbackSource(
        token="test-token", api_url=url, repos=["acme/x"], bot_login="review-bot", backoff_factor=0
    )
    items = {(i.path, i.line): i for i in source.items("acme/x")}
    assert {k: judge(v) for k, v in items.items()} == {
        ("pkg/pool.go", 12): "accepted",
        ("pkg/pool.go", 43): "dismissed",
        ("cmd/new.py", 2): "corrected",
    }
    assert (
        items[("pkg/pool.go", 43)].finding["suggestion"] == "\tclose(p.ch)\n\tp.ch = nil"
    )  # rebuilt from the hidden marker
    assert any("graphql" in call for call in state.calls)

    outcome = feedback_pairs(list(items.values()), GateConfig(), DEFAULT_LANGUAGES)
    assert dict(outcome.kinds) == {"accepted": 1, "dismissed": 1, "corrected": 1} and outcome.secrets_redacted == 1
    pairs = {p["rejected_kind"]: p for p in outcome.pairs}
    accepted = json.loads(pairs["feedback_accepted"]["chosen"][0]["content"])
    assert (
        accepted["findings"][0]["line"] == 12
        and json.loads(pairs["feedback_accepted"]["rejected"][0]["content"])["findings"] == []
    )
    assert json.loads(pairs["feedback_dismissed"]["chosen"][0]["content"])["findings"] == []
    corrected = json.loads(pairs["feedback_corrected"]["chosen"][0]["content"])
    assert corrected["findings"][0]["line"] == 2 and "os.getenv" in corrected["findings"][0]["comment"]
    assert TOKEN not in json.dumps(outcome.pairs)
    # The prompt is the hunk GitHub stored with the comment, numbered like every student prompt.
    assert "File: pkg/pool.go (go)" in pairs["feedback_accepted"]["prompt"][1]["content"]


def test_resolution_acknowledgement_and_rebuttal():
    base = {
        "user": {"login": "bot"},
        "path": "a.go",
        "diff_hunk": "@@ -1 +1,2 @@\n x\n+go f()",
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/3",
        "reactions": {},
    }
    body = (
        "**high** · concurrency: leak\n\n"
        '<!-- review-slm-finding {"line": 2, "severity": "high", "category": "concurrency", "comment": "leak"} -->'
    )
    raws = [
        {**base, "id": 1, "line": 2, "body": body},
        {**base, "id": 2, "line": 2, "body": body},
        {**base, "id": 3, "line": 2, "body": body},
        {**base, "id": 4, "line": None, "original_line": 2, "body": body},
        {**base, "id": 6, "line": None, "original_line": 2, "body": body, "reactions": {"-1": 1}},
        {**base, "id": 5, "line": 2, "body": "a human's own comment"},
        {**base, "id": 10, "in_reply_to_id": 2, "user": {"login": "bob"}, "body": "Thanks, fixed"},
        {
            **base,
            "id": 11,
            "in_reply_to_id": 3,
            "user": {"login": "bob"},
            "body": "This is a false positive: f returns at once",
        },
    ]
    items = {i.comment_id: i for i in collect_feedback(raws, "o/r", "bot", resolved_ids={1})}
    assert set(items) == {1, 2, 3, 4, 6}  # another author's comment is not ours
    # resolved; "thanks, fixed"; a rebuttal; the line changed by a later commit (outdated); changed but 👎.
    assert [judge(items[i]) for i in (1, 2, 3, 4, 6)] == ["accepted", "accepted", "dismissed", "accepted", "dismissed"]
    assert items[4].line == 2 and items[4].line_changed


def test_a_hostile_comment_is_named_and_left_out_without_taking_the_rest_down(caplog, tmp_path):
    body = (
        "**high** · concurrency: leak\n\n"
        '<!-- review-slm-finding {"line": 2, "severity": "high", "category": "concurrency", "comment": "leak"} -->'
    )
    base = {"user": {"login": "bot"}, "path": "a.go", "diff_hunk": "@@ -1 +1,2 @@\n a\n+b", "line": 2, "body": body}
    raws = [
        {**base, "id": 1},
        {**base, "id": "2"},  # an id that is not a number
        {**base, "id": 3, "path": None},
        {**base, "id": 4, "line": "two"},
        {**base, "id": 5, "reactions": {"+1": "many"}},
    ]
    malformed = Counter()
    with caplog.at_level("WARNING", logger="review_slm.core.feedback"):
        items = collect_feedback(raws, "o/r", "bot", resolved_ids=set(), malformed=malformed)
    assert [i.comment_id for i in items] == [1]
    assert malformed == {"id": 1, "path": 1, "line": 1, "reactions": 1}
    warned = caplog.text
    for fragment in (
        "'2' left out: field 'id'",
        "3 left out: field 'path'",
        "4 left out: field 'line'",
        "5 left out: field 'reactions'",
    ):
        assert fragment in warned, fragment
    # The export path that `preference_pairs` reads counts them too (its metadata: feedback_malformed_<field>).
    export = tmp_path / "feedback.json"
    export.write_text(json.dumps({"o/r": {"comments": raws}}))
    counted = Counter()
    kept = FileFeedbackSource(repos=["o/r"], bot_login="bot", path=str(export)).items("o/r", counted)
    assert [i.comment_id for i in kept] == [1] and counted == malformed


def test_new_feedback_starts_an_iteration_once(reacted, tmp_path, monkeypatch):
    state, url, by_line = reacted
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "3")
    export = tmp_path / "feedback.json"
    export.write_text(json.dumps({"acme/x": {"comments": list(state.comments.values()), "resolved": []}}))
    feedback = FileFeedbackSource(repos=["acme/x"], bot_login="review-bot", path=str(export))
    from review_slm.resources.artifacts import LocalArtifactStore

    resources = {
        "review_source": SnapshotReviewSource(repos=[]),
        "artifacts": LocalArtifactStore(root=str(tmp_path / "a")),
        "feedback": feedback,
    }
    with dg.instance_for_test() as instance:
        first = new_reviews_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(first, dg.SensorResult) and first.run_requests[0].tags["review_slm/new_feedback"] == "3"
        again = new_reviews_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources))
        assert isinstance(again, dg.SkipReason) and "0 feedback" in again.skip_message


def test_an_unreadable_feedback_export_is_an_error_naming_the_file(tmp_path):
    from review_slm.resources.feedback_source import FileFeedbackSource

    broken = tmp_path / "feedback.json"
    broken.write_text('{"o/r": {"comments": [')
    with pytest.raises(ValueError, match=f"feedback export {broken} .* cannot be read"):
        FileFeedbackSource(repos=["o/r"], path=str(broken)).items("o/r")
    broken.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected an object keyed by repository"):
        FileFeedbackSource(repos=["o/r"], path=str(broken)).items("o/r")
