"""A hostile supplement file is ordinary input: every row is kept or rejected with its place and reason."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.structuring import structure_human_comment
from review_slm.resources.supplement import HFSupplementSource

PATCH = "@@ -1,2 +1,3 @@\n def f(x=[]):\n+    x.append({n})\n     return x\n"
GOOD = {
    "id": "ok",
    "proj": "o/r",
    "lang": "py",
    "path": "app/db.py",
    "patch": PATCH.format(n=1),
    "msg": "Mutable default argument: use None.",
}


def good(n: int, **over) -> dict:
    return {**GOOD, "id": f"ok-{n}", "patch": PATCH.format(n=n), **over}


def load(source: HFSupplementSource):
    info = source.info()
    rows = list(source.iter_rows(info))
    return info, [r for r, _ in rows if r], [j for _, j in rows if j]


def test_jsonl_with_every_kind_of_bad_line_keeps_the_good_rows_and_names_each_bad_one(tmp_path):
    lines = [
        json.dumps(good(1)).encode(),
        b'{"id": "broken", "patch": ',  # invalid JSON
        json.dumps(good(2)).encode()[:-1] + b', "extra": "caf\xe9"}',  # Latin-1 byte: not UTF-8
        b'{"id": "raw-nul", "patch": "a\x00b", "msg": "x"}',  # a raw NUL inside a string
        json.dumps(good(3, msg="has \u0000 escaped nul")).encode(),
        json.dumps(good(4, lang=7)).encode(),  # a number where text belongs
        json.dumps(good(5, path=["a.py"])).encode(),  # a list where text belongs
        json.dumps(good(6, id={"x": 1})).encode(),
        b"[1, 2, 3]",  # not an object
        b"",  # blank: not a row
        json.dumps(good(7, patch="@@ -1 +1 @@\n+" + "x" * 3000)).encode(),  # over max_row_bytes
        json.dumps(good(8, msg="lone \ud800 surrogate")).encode(),
        json.dumps(good(9, id=123)).encode(),  # a numeric id is an id
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    info, records, rejected = load(HFSupplementSource(dataset=str(path), max_row_bytes=2000))

    assert info.rows_read == 12 == info.rows_mapped + info.rows_rejected == len(records) + len(rejected)
    assert [r.source_id for r in records] == ["ok-1", "123"]
    got = {(r.reason, r.field, r.detail.split(":")[0]) for r in rejected}
    assert got == {
        ("invalid_json", None, "hostile.jsonl line 2"),
        ("bad_encoding", None, "hostile.jsonl line 3"),
        ("invalid_json", None, "hostile.jsonl line 4"),  # a raw control character is invalid JSON
        ("nul_byte", "msg", "hostile.jsonl line 5"),
        ("malformed_lang", "lang", "hostile.jsonl line 6"),
        ("malformed_path", "path", "hostile.jsonl line 7"),
        ("malformed_id", "id", "hostile.jsonl line 8"),
        ("not_an_object", None, "hostile.jsonl line 9"),
        ("row_too_large", None, "hostile.jsonl line 11"),
        ("bad_encoding", "msg", "hostile.jsonl line 12"),
    }
    assert "0xe9" in next(r.detail for r in rejected if r.reason == "bad_encoding" and r.field is None)
    assert len(info.fingerprint) == 16  # the fingerprint survives text that is not UTF-8


def test_thirty_rows_sharing_an_id_become_distinct_records_and_the_gold_set_adds_up(tmp_path):
    rows = [{**good(n), "id": "same"} for n in range(30)] + [{**good(0), "id": "same"}] * 3  # 3 exact copies too
    path = tmp_path / "dups.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    info, records, rejected = load(HFSupplementSource(dataset=str(path)))
    assert len({r.record_id for r in records}) == 33 and info.duplicate_ids_renamed == 32
    candidates = [Candidate(r, structure_human_comment(r), "none") for r in records]
    out = apply_quality_gates(candidates, rejected, GateConfig(max_lazy_share=0.0, near_duplicate_threshold=1.01))
    assert len(out.kept) + len(out.quarantined) == 33
    assert out.reason_counts()["duplicate"] == 3


def test_csv_bad_bytes_and_ragged_rows_are_rejected_by_line(tmp_path):
    path = tmp_path / "supp.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(GOOD))
        writer.writeheader()
        writer.writerow(good(1))
        writer.writerow(good(2))
    text = path.read_bytes()
    path.write_bytes(text + b'bad,o/r,py,a.py,"@@ -1 +1 @@\n+x\xff",msg\n' + b"ragged,o/r\n")
    info, records, rejected = load(HFSupplementSource(dataset=str(path)))
    assert [r.source_id for r in records] == ["ok-1", "ok-2"]
    assert info.rows_read == 4 and len(rejected) == 2
    assert [(r.reason, r.detail.split(":")[0]) for r in rejected] == [
        ("bad_encoding", "supp.csv line 12"),
        ("unreadable_row", "supp.csv line 14"),
    ]


def test_parquet_with_wrong_types_is_rejected_by_row(tmp_path):
    path = tmp_path / "supp.parquet"
    table = pa.table(
        {
            "id": ["a", "b"],
            "patch": [PATCH.format(n=1), PATCH.format(n=2)],
            "msg": ["fine comment", "another one"],
            "lang": ["py", "py"],
            "path": ["a.py", "b.py"],
            "proj": [b"bytes", None],
        }
    )
    pq.write_table(table, path)
    info, records, rejected = load(HFSupplementSource(dataset=str(path)))
    assert [r.source_id for r in records] == ["b"]
    assert (rejected[0].reason, rejected[0].field, rejected[0].detail.split(":")[0]) == (
        "malformed_proj",
        "proj",
        "supp.parquet row 0",
    )
