from review_slm.core.gold import Candidate, GateConfig, apply_quality_gates, assign_splits, split_of
from review_slm.core.lazy import is_lazy_comment
from review_slm.core.schema import RejectedRow, ReviewRecord
from review_slm.core.secrets import find_secrets, redact
from review_slm.core.structuring import structure_human_comment


def record(i: int, body: str = "This leaks the file handle; close it with defer.", hunk: str | None = None) -> ReviewRecord:
    return ReviewRecord(
        source="github", source_id=str(i), repo="o/r", path=f"pkg/f{i}.go", line=3, language="go",
        diff_hunk=hunk or f"@@ -1,2 +1,3 @@\n a{i}\n+f, _ := os.Open(p{i})\n b\n", body=body,
    )


def candidates(records):
    return [Candidate(r, structure_human_comment(r), "none") for r in records]


def test_every_row_is_kept_or_quarantined():
    recs = [record(i) for i in range(20)] + [record(100, "LGTM") for _ in range(1)]
    recs += [record(3)]  # exact duplicate of row 3
    recs += [record(200, hunk="  \n")]  # whitespace-only hunk
    rejects = [RejectedRow(source="hf", source_id="x", reason="malformed_patch", field="patch")]
    out = apply_quality_gates(candidates(recs), rejects, GateConfig())
    assert len(out.kept) + len(out.quarantined) == len(recs) + len(rejects)
    reasons = out.reason_counts()
    assert reasons["duplicate"] == 1 and reasons["malformed_patch"] == 1 and reasons["empty_hunk"] == 1


def test_lazy_negatives_are_capped_at_the_configured_share():
    recs = [record(i) for i in range(10)] + [record(100 + i, "LGTM", hunk=f"@@ -1 +1,2 @@\n x\n+y{i}\n") for i in range(10)]
    out = apply_quality_gates(candidates(recs), [], GateConfig(max_lazy_share=0.2))
    lazy_kept = sum(e.lazy for e in out.kept)
    assert lazy_kept == 2  # 2 / (10 + 2) <= 0.2
    assert out.reason_counts()["lazy_negative_over_cap"] == 8


def test_invalid_teacher_answer_and_budget_are_quarantined():
    big = record(1, hunk="@@ -1 +1,400 @@\n" + "+x = 1\n" * 400)
    bad = Candidate(record(2), None, "teacher", error="schema: findings.0.severity")
    out = apply_quality_gates(candidates([big]) + [bad], [], GateConfig(max_example_chars=1000))
    assert sorted(q.reason for q in out.quarantined) == ["over_token_budget", "teacher_invalid"]
    assert not out.kept


def test_secrets_are_redacted_in_kept_rows():
    hunk = "@@ -1 +1,2 @@\n env:\n+  AWS_ACCESS_KEY_ID: AKIAABCDEFGHIJKLMNOP\n"
    out = apply_quality_gates(candidates([record(1, "Never commit keys like AKIAABCDEFGHIJKLMNOP.", hunk)]), [], GateConfig())
    kept = out.kept[0]
    assert "AKIAABCDEFGHIJKLMNOP" not in kept.diff_hunk + kept.human_comment + kept.review.model_dump_json()
    assert out.secrets_redacted == 1
    assert find_secrets("token ghp_" + "a" * 36) == ["github_token"]
    assert redact('password: "hunter2hunter2"')[0] == 'password: "<REDACTED>"'
    assert redact("password: ${DB_PASSWORD}")[1] == []


def test_lazy_detection():
    for text in ["LGTM", "lgtm!", "+1", "/lgtm", "Looks good to me.", "no issues found", "👍"]:
        assert is_lazy_comment(text), text
    assert not is_lazy_comment("LGTM but the goroutine on line 12 leaks when ctx is cancelled")


def test_splits_are_stable_and_the_frozen_test_split_wins():
    out = apply_quality_gates(candidates([record(i) for i in range(200)]), [], GateConfig())
    assign_splits(out.kept, None)
    first = {e.id: e.split for e in out.kept}
    assert set(first.values()) == {"train", "val", "test"}
    assign_splits(out.kept, None)
    assert first == {e.id: e.split for e in out.kept}
    frozen = {e.hunk_key for e in out.kept[:3]}
    assign_splits(out.kept, frozen)
    assert {e.hunk_key for e in out.kept if e.split == "test"} == frozen
    assert split_of("0" * 64) == "test"


def test_structuring_reads_severity_and_category_from_the_comment():
    review = structure_human_comment(record(1, "There is a data race on this map: guard it with a mutex."))
    finding = review.findings[0]
    assert (finding.category, finding.severity, finding.line, finding.path) == ("concurrency", "high", 3, "pkg/f1.go")
    assert structure_human_comment(record(2, "LGTM")).findings == []
