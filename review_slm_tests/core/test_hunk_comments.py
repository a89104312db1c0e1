"""Several human comments on one hunk: one record, one prompt, one review with every finding; a repeat is still
a duplicate; a later, longer hunk of a frozen test change stays on the test side."""

from review_slm.core.github_comments import parse_threads
from review_slm.core.gold import GoldExample, assign_splits, held_out_of_training, split_of
from review_slm.core.hunk_comments import HunkFamilies, human_comments_text, merge_comments_on_hunks
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.prompts import teacher_messages
from review_slm.core.quality_gates import GateOutcome, QuarantineReason
from review_slm.core.quality_gates.template_poisoning import skeletons
from review_slm.core.schema import Review
from review_slm.core.structuring import structure_human_comment
from review_slm.gold.build import hold_out_test_split_changes
from review_slm.gold.frozen_split import freeze_test_split
from review_slm.resources.artifact_layout import SharedArtifacts
from review_slm.resources.artifacts import LocalArtifactStore

LINES = [
    "@@ -10,2 +10,6 @@ func load(p string) []byte {",
    " \tctx := context.Background()",
    "+\tgo watch(ctx)",
    "+\tf, _ := os.Open(p)",
    "+\tdata, _ := io.ReadAll(f)",
    "+\treturn data",
]


def hunk_to(line: int) -> str:
    """GitHub's diff_hunk for a comment on new-file `line`: the hunk up to that line."""
    return "\n".join(LINES[: line - 10 + 2])


def comment(cid: int, line: int, body: str, **extra) -> dict:
    """A review comment in the shape of the bundled snapshot (GitHub's REST payload)."""
    return {
        "id": cid,
        "path": "pkg/load.go",
        "line": line,
        "diff_hunk": hunk_to(line),
        "body": body,
        "user": {"login": f"reviewer{cid}", "type": "User"},
        "html_url": f"https://github.com/o/r/pull/7#discussion_r{cid}",
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/7",
        "created_at": f"2026-01-0{cid % 9 + 1}T00:00:00Z",
        "updated_at": f"2026-01-0{cid % 9 + 1}T00:00:00Z",
        **extra,
    }


THREE = [
    comment(1, 11, "This goroutine leaks: nothing cancels ctx, so watch never returns."),
    comment(2, 12, "The file is never closed; defer f.Close() right after the error check."),
    comment(3, 13, "The error from ReadAll is ignored, so a short read returns partial data."),
    comment(4, 11, "Fixed, thanks", in_reply_to_id=1),
]


def test_three_comments_on_one_hunk_become_one_record_with_three_findings_at_their_lines():
    parsed = parse_threads(THREE, "o/r", DEFAULT_LANGUAGES)
    assert parsed.replies_attached == 1 and not parsed.rejected
    merge = merge_comments_on_hunks(parsed.records)
    (rec,) = merge.records
    assert rec.diff_hunk == hunk_to(13) and rec.record_id == "github:3"  # the longest hunk carries them
    assert [c.line for c in rec.comments] == [11, 12, 13]
    assert rec.comments[0].thread == ["reviewer4: Fixed, thanks"]  # the reply stays with its own comment
    assert sorted(r.record_id for r, into in merge.merged) == ["github:1", "github:2"]
    assert all(into is rec for _, into in merge.merged) and not merge.duplicates

    review = structure_human_comment(rec)
    assert [(f.line, f.category) for f in review.findings] == [
        (11, "concurrency"),
        (12, "resource-leak"),
        (13, "error-handling"),
    ]
    assert review.summary == "3 issues: high concurrency" and not skeletons(review.summary)  # never a template
    user = teacher_messages(rec)[1]["content"]
    assert user.count("<human_comment>") == 3 and "Comment 2 is on line 12." in user and "Fixed, thanks" in user
    said = human_comments_text(rec)
    assert said.startswith("line 11: This goroutine") and "line 13: The error" in said


def test_two_problems_on_the_same_line_are_two_findings_and_a_repeat_is_a_duplicate():
    raws = [
        comment(1, 12, "The file is never closed; defer f.Close()."),
        comment(2, 12, "The error from os.Open is dropped: a missing file panics later."),
        comment(3, 12, "  the file is never CLOSED; defer f.Close(). "),  # the first one again
    ]
    merge = merge_comments_on_hunks(parse_threads(raws, "o/r", DEFAULT_LANGUAGES).records)
    (rec,) = merge.records
    assert [(r.record_id, first.record_id) for r, first in merge.duplicates] == [("github:3", "github:1")]
    assert len(structure_human_comment(rec).findings) == 2


def test_only_the_same_change_merges():
    other_hunk = comment(5, 12, "Use os.ReadFile.", diff_hunk="@@ -40,2 +40,3 @@\n a\n+b\n c")
    other_repo = parse_threads([comment(6, 12, "Close it.")], "o/fork", DEFAULT_LANGUAGES).records
    merge = merge_comments_on_hunks(
        parse_threads([THREE[0], other_hunk], "o/r", DEFAULT_LANGUAGES).records + other_repo
    )
    assert len(merge.records) == 3 and not merge.merged
    single = merge.records[0]
    assert teacher_messages(single)[1]["content"].count("<human_comment>") == 1
    assert human_comments_text(single) == single.body


def example(line: int, path: str = "pkg/load.go") -> GoldExample:
    return GoldExample(
        id=f"{path}:{line}",
        record_id=f"github:{path}:{line}",
        source="github",
        repo="o/r",
        path=path,
        language="go",
        diff_hunk=hunk_to(line),
        human_comment="x",
        review=Review(findings=[], summary="s"),
        teacher="none",
        lazy=False,
    )


def test_a_longer_hunk_of_a_frozen_test_change_stays_test():
    frozen = HunkFamilies([("pkg/load.go", hunk_to(12))])
    longer, shorter, elsewhere = example(13), example(11), example(12)
    elsewhere.path = "pkg/other.go"
    assign_splits([longer, shorter, elsewhere], frozen)
    assert (longer.split, shorter.split) == ("test", "test")
    assert elsewhere.split != "test"  # another file: the frozen split keeps out new rows


def test_the_first_split_never_divides_a_change_between_training_and_test():
    # A file whose line-12 hunk hashes to test, and one whose hunk hashes elsewhere: found, not assumed.
    paths = [f"pkg/f{i}.go" for i in range(200)]
    tested = next(p for p in paths if split_of(example(12, p).hunk_key) == "test")
    change = [example(11, tested), example(12, tested), example(13, tested)]
    assert {split_of(e.hunk_key) for e in change} != {"test"}  # the hash alone would divide this change
    other = next(p for p in paths if all(split_of(example(n, p).hunk_key) != "test" for n in (11, 12, 13)))
    untouched = [example(11, other), example(12, other), example(13, other)]
    assign_splits(change + untouched, None)
    assert [e.split for e in change] == ["test"] * 3
    assert [e.split for e in untouched] == [split_of(e.hunk_key) for e in untouched]


def test_a_later_hunk_of_a_frozen_test_change_is_quarantined_with_its_reason_not_lost():
    frozen_rows = [example(12).model_dump(mode="json")]
    longer, unrelated = example(13), example(12, "pkg/other.go")
    outcome = GateOutcome(kept=[longer, unrelated])
    assign_splits(outcome.kept, HunkFamilies((r["path"], r["diff_hunk"]) for r in frozen_rows))
    hold_out_test_split_changes(outcome, frozen_rows)
    assert outcome.kept == [unrelated]
    assert [(q.row_id, q.reason, q.field) for q in outcome.quarantined] == [
        (longer.record_id, QuarantineReason.TEST_SPLIT_CHANGE, "diff_hunk")
    ]
    again = GateOutcome(kept=[example(12)])  # the frozen row itself stays, as the test split
    assign_splits(again.kept, HunkFamilies((r["path"], r["diff_hunk"]) for r in frozen_rows))
    hold_out_test_split_changes(again, frozen_rows)
    assert len(again.kept) == 1 and not again.quarantined


def test_identical_merges_comments_on_one_hunk_text_only_and_separate_merges_none():
    same_line = [comment(1, 12, "The file is never closed."), comment(2, 12, "The os.Open error is dropped.")]
    records = parse_threads([*same_line, THREE[2]], "o/r", DEFAULT_LANGUAGES).records
    identical = merge_comments_on_hunks(records, "identical")
    assert [len(r.comments) for r in identical.records] == [2, 1]  # line 13's hunk extends line 12's: kept apart
    assert [r.record_id for r, _ in identical.merged] == ["github:2"]
    separate = merge_comments_on_hunks(records, "separate")
    assert separate.records == records and not separate.merged and not separate.duplicates


def test_a_refreeze_with_too_few_rows_keeps_the_previous_split_and_splits_against_it(tmp_path):
    shared = SharedArtifacts(LocalArtifactStore(root=str(tmp_path)))
    kw = {"iteration": "iter-0002", "run_id": "r", "warn": print, "error": print}
    tested = next(p for p in (f"pkg/f{i}.go" for i in range(200)) if split_of(example(12, p).hunk_key) == "test")
    first = freeze_test_split(shared, [example(12, tested)], min_test_rows=1, refreeze_reason="", **kw)
    assert first.rows and len(first.rows) == 1
    longer, unrelated = example(13, tested), example(12, "pkg/other.go")
    kept = freeze_test_split(shared, [longer, unrelated], min_test_rows=50, refreeze_reason="asked", **kw)
    assert kept.rows == first.rows and "NOT frozen" in kept.status
    # Split against the kept split: the frozen change's later hunk is held out, the other file is not test.
    assert longer.split == "test" and unrelated.split != "test"
    assert [e.hunk_key for e in held_out_of_training([longer, unrelated], kept.rows)] == [longer.hunk_key]
