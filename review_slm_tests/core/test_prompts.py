"""What the student sees: numbered new-file lines, and compact rule-based gold answers."""

from review_slm.core.diff_hunks import new_file_lines, numbered_hunk, shift_hunk
from review_slm.core.prompts import render_review, student_user_prompt
from review_slm.core.schema import ReviewRecord
from review_slm.core.structuring import MAX_COMMENT_CHARS, structure_human_comment

HUNK = "@@ -8,3 +8,5 @@ func run() {\n a := 1\n-b := 2\n+c := 3\n+d := 4\n e := 5\n\\ No newline at end of file"


def test_new_file_lines_are_numbered_so_a_line_is_copied_not_computed():
    lines = numbered_hunk(HUNK).splitlines()
    assert lines[0] == "@@ -8,3 +8,5 @@ func run() {"
    assert lines[1] == " 8  a := 1" and lines[2] == "   -b := 2"  # a removed line has no new-file number
    assert lines[3] == " 9 +c := 3" and lines[5] == "11  e := 5"
    assert [n for n, _ in new_file_lines(HUNK)] == [8, 9, 10, 11]
    prompt = student_user_prompt("a.go", "go", HUNK)
    assert "10 +d := 4" in prompt and prompt.endswith("11  e := 5\n   \\ No newline at end of file\n</diff>")


def test_a_shifted_hunk_keeps_its_text_and_moves_its_numbers():
    moved = shift_hunk(HUNK, 100)
    assert moved.splitlines()[0] == "@@ -108,3 +108,5 @@ func run() {"
    assert moved.splitlines()[1:] == HUNK.splitlines()[1:]
    assert [n for n, _ in new_file_lines(moved)] == [108, 109, 110, 111]
    assert shift_hunk("@@ -0,0 +1,2 @@\n+a\n+b", 5).startswith("@@ -0,0 +6,2 @@")  # a new file has no old lines


def record(body: str, suggestion: str = "") -> ReviewRecord:
    return ReviewRecord(
        source="github",
        source_id="1",
        repo="o/r",
        path="a.go",
        line=None,
        language="go",
        diff_hunk=HUNK,
        body=body,
        suggestion=suggestion,
    )


def test_rule_based_gold_is_compact():
    body = (
        "This leaks the file handle when the parse fails, because the early return skips the close call and "
        "the descriptor stays open for the lifetime of the worker process. Please use a defer right after the "
        "open.\n```suggestion\ndefer f.Close()\n```"
    )
    review = structure_human_comment(record(body, suggestion="defer f.Close()"))
    (finding,) = review.findings
    assert finding.line == 11  # the hunk's last new-file line: GitHub's diff_hunk ends at the commented line
    assert (
        len(finding.comment) <= MAX_COMMENT_CHARS + 3
        and "```" not in finding.comment
        and "Please" not in finding.comment
    )
    assert finding.suggestion == "defer f.Close()"
    assert review.summary == "High resource-leak issue"  # one line; not the comment again
    assert len(render_review(review)) < 300
    assert (
        structure_human_comment(record("x" * 10, suggestion="y\n" * 200)).findings[0].suggestion == ""
    )  # too long to be a fix
    assert (
        structure_human_comment(record("```suggestion\nfoo()\n```", suggestion="foo()")).findings[0].comment
        == "Apply the suggested change."
    )
