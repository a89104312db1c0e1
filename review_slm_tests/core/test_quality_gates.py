from review_slm.core.gold import Candidate, assign_splits, split_of
from review_slm.core.lazy import is_lazy_comment
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.redaction import find_secrets, redact
from review_slm.core.schema import Finding, RejectedRow, Review, ReviewRecord
from review_slm.core.structuring import structure_human_comment


def record(
    i: int, body: str = "This leaks the file handle; close it with defer.", hunk: str | None = None
) -> ReviewRecord:
    return ReviewRecord(
        source="github",
        source_id=str(i),
        repo="o/r",
        path=f"pkg/f{i}.go",
        line=3,
        language="go",
        diff_hunk=hunk or f"@@ -1,2 +1,3 @@\n a{i}\n+f, _ := os.Open(p{i})\n b\n",
        body=body,
    )


# The fixtures reuse one comment across many hunks, which is exactly what the template gate catches;
# tests about other gates lift its limit.
LOOSE = {"template_min_hunks": 10**9}


def candidates(records):
    return [Candidate(r, structure_human_comment(r), "none") for r in records]


def test_every_row_is_kept_or_quarantined():
    recs = [record(i) for i in range(20)] + [record(100, "LGTM") for _ in range(1)]
    recs += [record(3)]  # exact duplicate of row 3
    recs += [record(200, hunk="  \n")]  # whitespace-only hunk
    rejects = [RejectedRow(source="hf", source_id="x", reason="malformed_patch", field="patch")]
    out = apply_quality_gates(candidates(recs), rejects, GateConfig(**LOOSE))
    assert len(out.kept) + len(out.quarantined) == len(recs) + len(rejects)
    reasons = out.reason_counts()
    assert reasons["duplicate"] == 1 and reasons["malformed_patch"] == 1 and reasons["empty_or_binary_hunk"] == 1


def test_lazy_negatives_are_capped_at_the_configured_share():
    recs = [record(i) for i in range(10)] + [
        record(100 + i, "LGTM", hunk=f"@@ -1 +1,2 @@\n x\n+y{i}\n") for i in range(10)
    ]
    out = apply_quality_gates(candidates(recs), [], GateConfig(max_lazy_share=0.2, **LOOSE))
    lazy_kept = sum(e.lazy for e in out.kept)
    assert lazy_kept == 2  # 2 / (10 + 2) <= 0.2
    assert out.reason_counts()["lazy_negative_over_cap"] == 8


def test_invalid_teacher_answer_and_token_budget_are_quarantined():
    big = record(1, hunk="@@ -1 +1,800 @@\n" + "+x := 1\n" * 800)
    fits = record(3, hunk="@@ -1 +1,20 @@\n" + "+y := 2\n" * 20)
    bad = Candidate(record(2), None, "teacher", error="schema: findings.0.severity", failure="teacher_invalid")
    asked = []

    def count_tokens(pairs):  # a stand-in for the student tokenizer: one token per 4 characters
        asked.extend(pairs)
        return [(len(p) + len(a)) // 4 for p, a in pairs]

    out = apply_quality_gates(candidates([big, fits]) + [bad], [], GateConfig(max_example_tokens=1000), count_tokens)
    assert sorted(q.reason for q in out.quarantined) == ["over_token_budget", "teacher_invalid"]
    assert [e.record_id for e in out.kept] == ["github:3"]
    assert len(asked) == 1 and out.tokens_counted == 1  # only the row whose bytes exceed the budget is tokenized


def test_secrets_are_redacted_in_kept_rows():
    hunk = "@@ -1 +1,2 @@\n env:\n+  AWS_ACCESS_KEY_ID: AKIAABCDEFGHIJKLMNOP\n"
    out = apply_quality_gates(
        candidates([record(1, "Never commit keys like AKIAABCDEFGHIJKLMNOP.", hunk)]), [], GateConfig()
    )
    kept = out.kept[0]
    assert "AKIAABCDEFGHIJKLMNOP" not in kept.diff_hunk + kept.human_comment + kept.review.model_dump_json()
    assert out.secrets_redacted == 1
    assert find_secrets("token ghp_" + "a" * 36) == ["github_token"]
    assert redact('password: "hunter2hunter2"')[0] == 'password: "<REDACTED:secret_keyword>"'
    assert redact("password: ${DB_PASSWORD}")[1] == []


def test_lazy_detection():
    for text in ["LGTM", "lgtm!", "+1", "/lgtm", "Looks good to me.", "no issues found", "👍"]:
        assert is_lazy_comment(text), text
    assert not is_lazy_comment("LGTM but the goroutine on line 12 leaks when ctx is cancelled")


def test_splits_are_stable_and_the_frozen_test_split_wins():
    out = apply_quality_gates(candidates([record(i) for i in range(200)]), [], GateConfig(**LOOSE))
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


def review_with(comment: str, path: str = "a.go") -> Review:
    return Review(
        findings=[Finding(path=path, line=2, severity="medium", category="error-handling", comment=comment)],
        summary=comment,
    )


def test_near_duplicate_hunks_are_quarantined_against_the_first():
    lines = "".join(f" line_{k} := compute({k})\n" for k in range(30))
    base = record(1, hunk="@@ -1,30 +1,31 @@\n" + lines + "+go f()\n")
    almost = record(2, hunk="@@ -1,30 +1,31 @@\n" + lines.replace("compute(29)", "compute(290)") + "+go f()\n")
    other = record(3)
    out = apply_quality_gates(candidates([base, almost, other]), [], GateConfig(near_duplicate_threshold=0.8))
    (dup,) = out.quarantined
    assert dup.reason == "near_duplicate" and dup.row_id == "github:2" and "github:1" in dup.detail
    assert [e.record_id for e in out.kept] == ["github:1", "github:3"]


def test_template_poisoning_quarantines_the_repeated_skeleton_only():
    template = "Consider adding error handling to `{}` to improve robustness of the code."
    poisoned = [Candidate(record(i), review_with(template.format(f"fn{i}")), "teacher") for i in range(12)]
    honest = [
        Candidate(
            record(100 + i),
            review_with(f"The handle opened on line {i} leaks when parse{i} fails; close it."),
            "teacher",
        )
        for i in range(12)
    ]
    out = apply_quality_gates(poisoned + honest, [], GateConfig(template_min_hunks=8, template_max_share=0.0))
    reasons = out.reason_counts()
    assert reasons["template_poisoning"] == 12 and len(out.kept) == 12
    assert "consider adding error handling to <code> to improve robustness of the code" in out.quarantined[0].detail


def test_secret_that_is_the_whole_change_is_quarantined_not_redacted():
    key = "-----BEGIN RSA PRIVATE KEY-----\n+MIIEpAIBAAKCAQEA7\n+-----END RSA PRIVATE KEY-----"
    rec = record(1, "Do not commit this key.", hunk=f"@@ -0,0 +1,3 @@\n+{key}\n")
    out = apply_quality_gates(candidates([rec]), [], GateConfig())
    assert out.quarantined[0].reason == "secret_unredactable" and not out.kept


def test_wrong_language_is_quarantined():
    rec = ReviewRecord(
        source="hf",
        source_id="x",
        repo="",
        path="unknown.py",
        line=2,
        language="python",
        diff_hunk="@@ -1 +1,3 @@\n+func main() {\n+\tx := f()\n+}",
        body="x is unused",
    )
    out = apply_quality_gates(candidates([rec]), [], GateConfig())
    assert (out.quarantined[0].reason, out.quarantined[0].detail) == (
        "wrong_language",
        "declared python, content is go",
    )


def test_secrets_and_pii_patterns():
    text = (
        'curl -H "Authorization: Bearer abcdefghijklmnopqrstuvwxyz123" postgres://admin:s3cretpw@db:5432/x joe@corp.io'
    )
    redacted, kinds = redact(text)
    assert kinds == ["basic_auth_credentials", "bearer_token", "email_address"]
    assert (
        "s3cretpw" not in redacted and "joe@corp.io" not in redacted and "abcdefghijklmnopqrstuvwxyz123" not in redacted
    )


def test_the_duplicate_gates_compare_what_was_said_not_only_the_code():
    lines = "".join(f" line_{k} := compute({k})\n" for k in range(30))
    hunk = "@@ -1,30 +1,31 @@\n" + lines + "+go f()\n"

    def on(repo: str, i: int, body: str) -> ReviewRecord:
        return record(i, body, hunk).model_copy(update={"repo": repo, "path": "pkg/f.go"})

    said = [
        on("o/a", 1, "The goroutine started here is never stopped when the request ends."),
        on("o/b", 2, "compute(29) is evaluated twice; keep the first result instead."),  # same code, another point
        on("o/c", 3, "The goroutine started here is never stopped when the request ends."),  # the first, repeated
        on("o/d", 4, "The goroutine started here is never stopped once the request ends!"),  # nearly the first
    ]
    out = apply_quality_gates(candidates(said), [], GateConfig(near_duplicate_threshold=0.5))
    assert [e.record_id for e in out.kept] == ["github:1", "github:2"]
    assert {q.row_id: q.reason for q in out.quarantined} == {"github:3": "duplicate", "github:4": "near_duplicate"}


def clean_record(i: int) -> ReviewRecord:
    from review_slm.core.clean_hunks import CLEAN_BODY

    return record(i, CLEAN_BODY, hunk=f"@@ -1 +1,2 @@\n x\n+ok{i} := {i} * {i}\n").model_copy(update={"clean": True})


def clean_candidates(records):
    from review_slm.core.lazy import NO_ISSUES

    return [Candidate(r, NO_ISSUES.model_copy(deep=True), "reviewed-and-passed") for r in records]


def test_clean_examples_are_not_lazy_and_are_capped_at_clean_share():
    """A hunk reviewers let pass answers "No issues found." legitimately: the lazy cap (0 here) keeps it; the clean
    cap alone limits how many, and the lazy cap still drops an "LGTM" on code that was commented on."""
    buggy = [record(i) for i in range(12)]
    lgtm = [record(100, "LGTM", hunk="@@ -1 +1,2 @@\n x\n+lgtm := 1\n")]
    cands = candidates(buggy + lgtm) + clean_candidates([clean_record(200 + i) for i in range(10)])
    out = apply_quality_gates(cands, [], GateConfig(max_lazy_share=0.0, clean_share=0.25, **LOOSE))
    clean_kept = [e for e in out.kept if e.clean]
    assert len(clean_kept) == 4  # 4 / (12 + 4) <= 0.25 < 5 / 17
    assert all(not e.lazy and not e.review.findings for e in clean_kept)
    assert out.reason_counts() == {"clean_over_cap": 6, "lazy_negative_over_cap": 1}
    assert len(out.kept) + len(out.quarantined) == len(cands)
    everything = apply_quality_gates(cands, [], GateConfig(max_lazy_share=0.0, clean_share=1.0, **LOOSE))
    assert sum(e.clean for e in everything.kept) == 10
