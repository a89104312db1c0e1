import json

from review_slm.core.gold import Candidate, GateConfig, apply_quality_gates
from review_slm.core.structuring import structure_human_comment
from review_slm.resources.supplement import HFSupplementSource

GOOD = {"id": "ok-1", "proj": "o/r", "lang": "py", "path": "app/db.py",
        "patch": "@@ -1,2 +1,3 @@\n def f(x=[]):\n+    x.append(1)\n     return x\n", "msg": "Mutable default argument: use None."}


def test_malformed_rows_are_quarantined_with_reason_and_the_rest_kept(tmp_path):
    rows = [
        GOOD,
        {**GOOD, "id": "empty-patch", "patch": ""},
        {**GOOD, "id": "null-msg", "msg": None},
        {k: v for k, v in {**GOOD, "id": "no-patch"}.items() if k != "patch"},
        {**GOOD, "id": "cpp", "lang": "cpp", "path": "x.cc"},
        {**GOOD, "id": "ok-2", "lang": "golang", "path": "a.go", "msg": "LGTM"},
    ]
    path = tmp_path / "supp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    batch = HFSupplementSource(dataset=str(path)).load()
    assert batch.rows_read == 6 and batch.fingerprint
    assert [r.source_id for r in batch.records] == ["ok-1", "ok-2"]
    assert batch.records[1].language == "go" and batch.records[0].line == 3
    reasons = {r.source_id: (r.reason, r.field) for r in batch.rejected}
    assert reasons == {
        "empty-patch": ("malformed_patch", "patch"),
        "null-msg": ("malformed_msg", "msg"),
        "no-patch": ("malformed_patch", "patch"),
        "cpp": ("unsupported_language", "lang"),
    }
    assert "row 2: 'msg' is missing" in batch.rejected[1].detail
    # Downstream, the gold set accounts for every row.
    out = apply_quality_gates([Candidate(r, structure_human_comment(r), "none") for r in batch.records], batch.rejected, GateConfig(max_lazy_share=1.0))
    assert len(out.kept) == 2 and len(out.quarantined) == 4


def test_bundled_supplement_is_the_default_and_loads():
    batch = HFSupplementSource().load()
    assert batch.rows_read >= 60 and len(batch.records) == batch.rows_read - len(batch.rejected)
    assert {r.reason for r in batch.rejected} <= {"malformed_patch", "malformed_msg", "unsupported_language"}
