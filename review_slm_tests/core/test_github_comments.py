import json
from importlib import resources

from review_slm.core.github_comments import extract_suggestion, parse_review_comment, parse_threads
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.ingest.review_corpus import ReviewCorpus, mine_into_corpus
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.review_source import SnapshotReviewSource

BASE = {
    "id": 1,
    "path": "pkg/controller/job.go",
    "diff_hunk": "@@ -10,3 +10,4 @@ func f() {\n \ta := 1\n+\tgo work()\n \treturn a\n",
    "line": 11,
    "body": "This goroutine leaks: nothing cancels it.",
    "user": {"login": "alice", "type": "User"},
    "html_url": "https://github.com/o/r/pull/42#discussion_r1",
    "pull_request_url": "https://api.github.com/repos/o/r/pulls/42",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-02T00:00:00Z",
}


def test_parses_record_with_pr_and_language():
    parsed = parse_review_comment(dict(BASE), "o/r", DEFAULT_LANGUAGES)
    rec = parsed.record
    assert rec.language == "go" and rec.pr_number == 42 and rec.pr_url == "https://github.com/o/r/pull/42"
    assert rec.line == 11 and rec.author == "alice" and rec.record_id == "github:1"


def test_skips_with_reasons():
    cases = {
        "bot": {"user": {"login": "coveralls[bot]", "type": "Bot"}},
        "outdated": {"line": None},
        "reply": {"in_reply_to_id": 7},
        "unsupported_language": {"path": "docs/README.md"},
    }
    for reason, patch in cases.items():
        parsed = parse_review_comment({**BASE, **patch}, "o/r", DEFAULT_LANGUAGES)
        assert parsed.record is None and parsed.rejected.reason == reason, reason


def test_malformed_comment_names_record_and_field():
    parsed = parse_review_comment({**BASE, "body": ""}, "o/r", DEFAULT_LANGUAGES)
    assert parsed.rejected.reason == "malformed_body"
    assert parsed.rejected.field == "body" and "github record 1" in parsed.rejected.describe()


def test_suggestion_block_becomes_the_fix():
    prose, fix = extract_suggestion("Use the ctx.\n```suggestion\n\tgo work(ctx)\n```\nthanks")
    assert fix == "\tgo work(ctx)" and "```" not in prose and prose.startswith("Use the ctx.")


def test_bundled_snapshot_has_the_promised_shape():
    raw = json.loads((resources.files("review_slm.data.github_snapshot") / "kubeflow__trainer.json").read_text())
    assert len(raw) >= 150
    parsed = [parse_review_comment(c, "kubeflow/trainer", DEFAULT_LANGUAGES) for c in raw]
    kept = [p.record for p in parsed if p.record]
    assert {r.language for r in kept} == {"go", "python", "yaml"}
    assert any(p.rejected and p.rejected.reason == "bot" for p in parsed)
    lazy = [r for r in kept if r.body.strip().lower().rstrip("!.") in ("lgtm", "+1", "/lgtm")]
    assert lazy, "the snapshot must contain lazy approvals"


def test_wrong_types_from_a_hostile_snapshot_are_rejected_not_raised():
    for field, value in (("path", 7), ("diff_hunk", ["x"]), ("body", {"a": 1}), ("line", "11"), ("user", "alice")):
        parsed = parse_review_comment({**BASE, field: value}, "o/r", DEFAULT_LANGUAGES)
        assert parsed.record is None and (parsed.rejected.reason, parsed.rejected.field) == (
            f"malformed_{field}",
            field,
        )


HOSTILE = {
    "list id": {"id": [1, 2]},
    "dict id": {"id": {"n": 1}},
    "text id": {"id": "ghp_" + "a" * 36},
    "bool id": {"id": True},
    "null id": {"id": None},
    "list reply-to": {"id": 20, "in_reply_to_id": [1]},
    "dict reply-to": {"id": 21, "in_reply_to_id": {"id": 1}},
    "text reply-to": {"id": 22, "in_reply_to_id": "1"},
    "bool reply-to": {"id": 23, "in_reply_to_id": True},
    "text created_at on a reply": {"id": 24, "in_reply_to_id": 1, "created_at": 5},
    "text user on a reply": {"id": 25, "in_reply_to_id": 1, "user": "bob"},
}


def test_hostile_ids_and_field_types_are_quarantined_with_their_reason_never_raised(tmp_path):
    raws = [dict(BASE), *({**BASE, **patch} for patch in HOSTILE.values()), "not a comment", 7]
    raws.append({**BASE, "id": 26, "in_reply_to_id": 1, "body": "Good catch."})  # a sound reply: still attached
    parsed = parse_threads(raws, "o/r", DEFAULT_LANGUAGES)
    assert [r.source_id for r in parsed.records] == ["1"] and parsed.records[0].thread == ["alice: Good catch."]
    reasons = sorted((r.reason, r.field) for r in parsed.rejected)
    assert reasons == sorted(
        [("malformed_id", "id")] * 5
        + [("malformed_in_reply_to_id", "in_reply_to_id")] * 4
        + [("malformed_created_at", "created_at"), ("malformed_user", "user")]
        + [("malformed_comment", None)] * 2
    )
    assert len(parsed.records) + parsed.replies_attached + len(parsed.rejected) == len(raws)
    assert not any("ghp_" in r.source_id for r in parsed.rejected)  # a token-like id is redacted in the row

    # Mining stores them (keyed by content when the id is unusable) instead of crashing; parsing then rejects them.
    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "o__r.json").write_text(json.dumps(raws))
    corpus = ReviewCorpus(LocalArtifactStore(root=str(tmp_path / "store")), "snapshot")
    report = mine_into_corpus(SnapshotReviewSource(repos=["o/r"], snapshot_dir=str(folder)), corpus)
    assert report.repos["o/r"].fetched == len(raws)
    again = parse_threads(list(corpus.comments("o/r").values()), "o/r", DEFAULT_LANGUAGES)
    # The corpus keeps only the parser's fields and reads `user` as an object: the reply by user "bob" is attached.
    assert sorted((r.reason, r.field) for r in again.rejected) == [r for r in reasons if r[1] != "user"]
    assert again.replies_attached == 2 and len(again.records) + 2 + len(again.rejected) == len(raws)
