import json
from importlib import resources

from review_slm.core.github_comments import extract_suggestion, parse_review_comment

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
    parsed = parse_review_comment(dict(BASE), "o/r")
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
        parsed = parse_review_comment({**BASE, **patch}, "o/r")
        assert parsed.record is None and parsed.rejected.reason == reason, reason


def test_malformed_comment_names_record_and_field():
    parsed = parse_review_comment({**BASE, "body": ""}, "o/r")
    assert parsed.rejected.reason == "malformed_body"
    assert parsed.rejected.field == "body" and "github record 1" in parsed.rejected.describe()


def test_suggestion_block_becomes_the_fix():
    prose, fix = extract_suggestion("Use the ctx.\n```suggestion\n\tgo work(ctx)\n```\nthanks")
    assert fix == "\tgo work(ctx)" and "```" not in prose and prose.startswith("Use the ctx.")


def test_bundled_snapshot_has_the_promised_shape():
    raw = json.loads((resources.files("review_slm.data.github_snapshot") / "kubeflow__trainer.json").read_text())
    assert len(raw) >= 150
    parsed = [parse_review_comment(c, "kubeflow/trainer") for c in raw]
    kept = [p.record for p in parsed if p.record]
    assert {r.language for r in kept} == {"go", "python", "yaml"}
    assert any(p.rejected and p.rejected.reason == "bot" for p in parsed)
    lazy = [r for r in kept if r.body.strip().lower().rstrip("!.") in ("lgtm", "+1", "/lgtm")]
    assert lazy, "the snapshot must contain lazy approvals"


def test_wrong_types_from_a_hostile_snapshot_are_rejected_not_raised():
    for field, value in (("path", 7), ("diff_hunk", ["x"]), ("body", {"a": 1}), ("line", "11"), ("user", "alice")):
        parsed = parse_review_comment({**BASE, field: value}, "o/r")
        assert parsed.record is None and (parsed.rejected.reason, parsed.rejected.field) == (
            f"malformed_{field}",
            field,
        )
