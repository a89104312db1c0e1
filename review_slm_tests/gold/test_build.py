"""The gold stage end to end on records as mining writes them: several comments on one hunk reach the gold set as
one example with every finding, and every row in is still kept or quarantined with its reason."""

import pytest

from review_slm.core import tables
from review_slm.core.github_comments import parse_threads
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.quality_gates import GateConfig
from review_slm.core.recipe import load_recipe
from review_slm.gold.build import GoldLimits, build_gold_set
from review_slm.ingest.manifest import RecordsManifest
from review_slm.resources.artifact_layout import IterationArtifacts
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm_tests.core.test_hunk_comments import THREE, comment

NOUNS = ["cache", "queue", "lock", "client", "reader", "parser", "stream", "buffer", "worker", "timer", "pool", "map"]
VERBS = ["never released", "read without the lock", "retried forever", "built in the loop", "closed twice"]


def filler(n: int) -> list[dict]:
    """Distinct comments on distinct hunks, so the gates have ordinary rows beside the shared hunk."""
    rows = []
    for i in range(n):
        noun, verb = NOUNS[i % len(NOUNS)], VERBS[i % len(VERBS)]
        rows.append(
            comment(
                100 + i,
                2,
                f"The {noun}_{i} is {verb} in handler {i}.",
                path=f"pkg/h{i}.go",
                diff_hunk=f"@@ -1,1 +1,2 @@ func h{i}() {{\n x{i} := {noun}{i}()\n+use(x{i}, {i * 7})",
            )
        )
    return rows


def build(tmp_path, raws: list[dict], mode: str = "change", clean: list | None = None, clean_share: float = 0.25):
    layout = IterationArtifacts(LocalArtifactStore(root=str(tmp_path)), "iter-0001")
    parsed = parse_threads(raws, "o/r", DEFAULT_LANGUAGES)
    store = layout.store
    records = [r.model_dump() for r in [*parsed.records, *(clean or [])]]
    rejected = [r.model_dump() for r in parsed.rejected]
    sources = [
        RecordsManifest(
            source=source,
            records_uri=store.write_table(layout.records(source), rows, tables.RECORDS),
            rejected_uri=store.write_table(layout.rejected(source), bad, tables.REJECTED),
            records=len(rows),
            rejected=len(bad),
        )
        for source, rows, bad in (("mined_reviews", records, rejected), ("hf_supplement", [], []))
    ]
    recipe = load_recipe("tiny")
    return build_gold_set(
        layout,
        sources,
        recipe=recipe,
        gates=GateConfig(max_example_tokens=recipe.max_example_tokens, hunk_comments=mode, clean_share=clean_share),
        limits=GoldLimits(max_duplicate_share=0.01, min_kept_rows=1, min_test_rows=1),
        teacher=HumanCommentTeacher(),
        count_tokens=lambda pairs: [len(p) + len(a) for p, a in pairs],  # bytes: an upper bound of BPE tokens
        open_cache=lambda model, digest: None,
        run_id="test",
        info=lambda _: None,
        warn=lambda _: None,
        error=lambda _: None,
    )


def test_three_comments_on_one_hunk_give_one_example_with_three_findings(tmp_path):
    repeat = comment(9, 13, THREE[2]["body"])  # the third comment, posted again: a real duplicate
    raws = [*THREE, repeat, *filler(30)]
    build_ = build(tmp_path, raws)
    meta = build_.metadata()
    assert meta["rows_in"] == len(raws) - 1  # the reply is attached to its thread, not a row of its own
    assert meta["rows_in"] == meta["rows_kept"] + meta["rows_quarantined"]
    (example,) = [e for e in build_.outcome.kept if len(e.review.findings) > 1]
    assert [f.line for f in example.review.findings] == [11, 12, 13]
    assert example.human_comment.count("line 1") == 3
    assert (meta["comments_merged"], meta["multi_comment_examples"], meta["multi_finding_examples"]) == (2, 1, 1)
    assert meta["comments_in_multi_comment_examples"] == 3 and meta["quarantined_duplicate"] == 1
    assert meta["findings_kept"] == 3 + 30 and meta["teacher_calls_per_kept_row"] == 0.0
    merged = [q for q in build_.outcome.quarantined if q.reason == "merged_into_hunk"]
    assert sorted(q.row_id for q in merged) == ["github:1", "github:2"]
    assert all(example.id in q.detail and q.field == "diff_hunk" for q in merged)


@pytest.mark.parametrize("mode", ["identical", "separate"])
def test_unmerged_the_duplicate_gates_keep_the_three_comments_apart_and_still_catch_the_repeat(tmp_path, mode):
    # Each comment's hunk ends at its own line: `identical` merges none of them, like `separate`.
    repeat = comment(9, 13, THREE[2]["body"])
    build_ = build(tmp_path, [*THREE, repeat, *filler(30)], mode=mode)
    meta = build_.metadata()
    shared = sorted(
        (f.line for e in build_.outcome.kept if e.path == "pkg/load.go" for f in e.review.findings),
    )
    assert shared == [11, 12, 13] and meta["comments_merged"] == 0 and meta["multi_finding_examples"] == 0
    assert [q.row_id for q in build_.outcome.quarantined if q.reason == "duplicate"] == ["github:9"]
    assert meta["rows_in"] == meta["rows_kept"] + meta["rows_quarantined"]


def test_without_a_kept_row_the_calls_per_kept_row_are_absent_with_the_reason(tmp_path):
    meta = build(tmp_path, [comment(1, 11, "LGTM", diff_hunk="   \n")]).metadata()
    assert meta["rows_kept"] == 0 and "teacher_calls_per_kept_row" not in meta
    assert meta["teacher_calls_per_kept_row_absent"].startswith("no row was kept")


def test_reviewed_and_passed_hunks_skip_the_teacher_and_answer_no_issues(tmp_path):
    """The rule-based teacher would turn any body into a finding: clean records never reach it, keep the empty
    review, are not lazy, and the clean cap counts them."""
    from review_slm.core.clean_hunks import passed_hunks

    files = [
        {"filename": f"pkg/ok{i}.go", "patch": f"@@ -1,1 +1,3 @@\n x{i}\n+y{i} := sum(x{i}, {i * 3})\n+use(y{i})"}
        for i in range(12)
    ]
    clean = passed_hunks("o/r", 7, "h", files, [], set(), ("go",)).records
    build_ = build(tmp_path, filler(30), clean=clean)
    meta = build_.metadata()
    kept_clean = [e for e in build_.outcome.kept if e.clean]
    assert len(kept_clean) == meta["clean_examples"] == 10  # 10 / 40 = 0.25: two over the cap
    assert {(len(e.review.findings), e.lazy, e.teacher) for e in kept_clean} == {(0, False, "reviewed-and-passed")}
    assert meta["quarantined_clean_over_cap"] == 2 and meta["rows_in"] == meta["rows_kept"] + meta["rows_quarantined"]


def test_a_clean_hunk_reaches_the_gold_set_as_github_shows_a_commented_one(tmp_path):
    """A pull request's file gives whole hunks, a comment's `diff_hunk` ends at its line: clean hunks are cut after
    their last change (header kept, no changed line cut), so clean and commented examples do not differ in how they
    end; the shape shares in the metadata say so. Commented hunks are not touched."""
    from review_slm.core.clean_hunks import passed_hunks

    files = [
        {
            "filename": f"pkg/ok{i}.go",
            "patch": f"@@ -1,4 +1,5 @@ func ok{i}() {{\n x{i}\n-y{i}()\n+y{i}(ctx)\n+z{i}(ctx, {i * 3})\n"
            f" return x{i}\n }}",
        }
        for i in range(6)
    ]
    clean = passed_hunks("o/r", 7, "h", files, [], set(), ("go",)).records
    rows = filler(30)
    build_ = build(tmp_path, rows, clean=clean)
    kept = {e.path: e for e in build_.outcome.kept}
    assert kept["pkg/ok2.go"].diff_hunk == "@@ -1,4 +1,5 @@ func ok2() {\n x2\n-y2()\n+y2(ctx)\n+z2(ctx, 6)"
    assert kept["pkg/h4.go"].diff_hunk == rows[4]["diff_hunk"]
    meta = build_.metadata()
    assert meta["clean_examples"] == 6 and meta["clean_ending_unchanged_share"] == 0.0
    assert meta["clean_deleting_lines_share"] == 1.0 and meta["commented_deleting_lines_share"] == 0.0
    assert meta["commented_ending_unchanged_share"] == 0.0
