import json

import pytest

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.structuring import structure_human_comment
from review_slm.resources.supplement import HFSupplementSource

GOOD = {
    "id": "ok-1",
    "proj": "o/r",
    "lang": "py",
    "path": "app/db.py",
    "patch": "@@ -1,2 +1,3 @@\n def f(x=[]):\n+    x.append(1)\n     return x\n",
    "msg": "Mutable default argument: use None.",
}


def load(source: HFSupplementSource):
    info = source.info()
    rows = list(source.iter_rows(info))
    return info, [r for r, _ in rows if r], [j for _, j in rows if j]


def write(tmp_path, rows) -> str:
    path = tmp_path / "supp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_malformed_rows_are_quarantined_with_reason_and_the_rest_kept(tmp_path):
    rows = [
        GOOD,
        {**GOOD, "id": "empty-patch", "patch": ""},
        {**GOOD, "id": "null-msg", "msg": None},
        {k: v for k, v in {**GOOD, "id": "no-patch"}.items() if k != "patch"},
        {**GOOD, "id": "cpp", "lang": "cpp", "path": "x.cc"},
        {**GOOD, "id": "ok-2", "lang": "golang", "path": "a.go", "msg": "LGTM"},
    ]
    info, records, rejected = load(HFSupplementSource(dataset=write(tmp_path, rows)))
    assert info.rows_read == 6 and len(info.fingerprint) == 16
    assert [r.source_id for r in records] == ["ok-1", "ok-2"]
    assert records[1].language == "go" and records[0].line == 3
    reasons = {r.source_id: (r.reason, r.field) for r in rejected}
    assert reasons == {
        "empty-patch": ("malformed_patch", "patch"),
        "null-msg": ("malformed_msg", "msg"),
        "no-patch": ("malformed_patch", "patch"),
        "cpp": ("unsupported_language", "lang"),
    }
    assert "supp.jsonl line 3: 'msg' is missing" in rejected[1].detail
    # Downstream, the gold set accounts for every row.
    out = apply_quality_gates(
        [Candidate(r, structure_human_comment(r), "none") for r in records], rejected, GateConfig(max_lazy_share=1.0)
    )
    assert len(out.kept) == 2 and len(out.quarantined) == 4


def test_instruction_and_critique_shapes_map_to_records(tmp_path):
    diff = "@@ -1,2 +1,3 @@\n func f() {\n+\tgo work()\n }"
    instruction = [
        {
            "instruction": "Review this Go change.",
            "input": f"Here is the diff:\n```diff\n{diff}\n```",
            "output": "The goroutine leaks.",
            "lang": "go",
            "path": "w.go",
        }
    ]
    info, records, _ = load(HFSupplementSource(dataset=write(tmp_path, instruction), adapter="instruction"))
    assert (
        records[0].diff_hunk == diff and records[0].body == "The goroutine leaks." and records[0].source_id == "row-0"
    )
    critique = [{"diff": diff, "chosen": "Nothing stops this goroutine.", "rejected": "Looks fine.", "lang": "golang"}]
    _, records, _ = load(HFSupplementSource(dataset=write(tmp_path, critique), adapter="critique"))
    assert records[0].body == "Nothing stops this goroutine." and records[0].path == "unknown.go"
    renamed = [{"d": diff, "c": "leak", "lang": "go"}]
    _, records, _ = load(
        HFSupplementSource(dataset=write(tmp_path, renamed), adapter="critique", columns={"diff": "d", "comment": "c"})
    )
    assert records[0].body == "leak"
    with pytest.raises(ValueError, match="unknown column roles"):
        load(HFSupplementSource(dataset=write(tmp_path, renamed), columns={"dif": "d"}))


def test_bundled_supplement_is_the_default_and_streams():
    info, records, rejected = load(HFSupplementSource())
    assert info.rows_read >= 60 and len(records) == info.rows_read - len(rejected)
    assert {r.reason for r in rejected} <= {"malformed_patch", "malformed_msg", "unsupported_language"}
    _, few, _ = load(HFSupplementSource(max_rows=5))
    assert len(few) <= 5


def test_rows_labelled_as_needing_no_comment_are_clean_records(tmp_path):
    """A true `clean` column or CodeReviewer's quality-estimation `y` = 0 makes a clean record (no comment needed);
    a clean label with a comment, or a label that is not yes/no, is rejected with its column."""
    from review_slm.core.clean_hunks import CLEAN_BODY

    no_msg = {k: v for k, v in GOOD.items() if k != "msg"}
    rows = [
        {**no_msg, "id": "clean-1", "clean": True},
        {**no_msg, "id": "qe-0", "y": 0},
        {**GOOD, "id": "qe-1", "y": 1},
        {**GOOD, "id": "said-anyway", "clean": "true"},
        {**no_msg, "id": "maybe", "clean": "maybe"},
        {**no_msg, "id": "qe-1-no-msg", "y": 1},
    ]
    info, records, rejected = load(HFSupplementSource(dataset=write(tmp_path, rows)))
    by_id = {r.source_id: r for r in records}
    assert sorted(by_id) == ["clean-1", "qe-0", "qe-1"]
    assert by_id["clean-1"].clean and by_id["qe-0"].clean and not by_id["qe-1"].clean
    assert by_id["clean-1"].body == CLEAN_BODY and by_id["qe-1"].body == GOOD["msg"]
    assert {(j.source_id, j.reason, j.field) for j in rejected} == {
        ("said-anyway", "clean_label_with_comment", "msg"),
        ("maybe", "malformed_clean", "clean"),
        ("qe-1-no-msg", "malformed_msg", "msg"),
    }
    assert info.rows_read == info.rows_mapped + info.rows_rejected == 6
