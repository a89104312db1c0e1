"""Training data: line-offset copies teach copying a finding's line, not memorising it."""

from review_slm.core.diff_hunks import new_file_lines
from review_slm.training.data import sft_rows, with_line_offset_copies

ROW = {
    "id": "1",
    "path": "a.go",
    "language": "go",
    "diff_hunk": "@@ -8,2 +8,3 @@\n a\n+b\n c",
    "review": {
        "findings": [
            {
                "path": "a.go",
                "line": 10,
                "severity": "high",
                "category": "correctness",
                "comment": "x",
                "suggestion": "",
            }
        ],
        "summary": "s",
    },
}


def test_line_offset_copies_move_the_hunk_and_its_findings_together():
    rows = with_line_offset_copies([ROW, {**ROW, "id": "2"}], copies=3, seed=0)
    assert [r["id"] for r in rows] == ["1"] * 4 + ["2"] * 4 and rows[0] == ROW and rows[4]["id"] == "2"
    starts = set()
    for row in rows:
        last = new_file_lines(row["diff_hunk"])[-1][0]
        assert row["review"]["findings"][0]["line"] == last  # still on the hunk's last line
        starts.add(new_file_lines(row["diff_hunk"])[0][0])
    assert len(starts) >= 5  # the numbers differ between copies
    assert with_line_offset_copies([ROW], copies=3, seed=0) == rows[:4]  # reproducible
    assert with_line_offset_copies([ROW], copies=0, seed=0) == [ROW]
    assert len(sft_rows(rows)) == 8
