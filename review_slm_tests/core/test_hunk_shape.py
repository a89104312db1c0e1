"""A clean hunk shown as GitHub shows a commented one, and the shape figures that tell the two apart."""

from review_slm.core.diff_hunks import changed_line_count, enumerate_new_lines, hunk_shape, through_last_change

WHOLE = (
    "@@ -10,5 +10,6 @@ func run() {\n \tctx := context()\n-\tgo work()\n+\tgo work(ctx)\n+\twg.Wait()\n"
    " \treturn nil\n }\n"
)


def test_a_whole_hunk_is_cut_after_its_last_change_with_its_header_and_numbers_unchanged():
    cut = through_last_change(WHOLE)
    assert cut == "@@ -10,5 +10,6 @@ func run() {\n \tctx := context()\n-\tgo work()\n+\tgo work(ctx)\n+\twg.Wait()"
    assert enumerate_new_lines(cut) == enumerate_new_lines(WHOLE)[:3]  # the lines kept keep their numbers
    assert changed_line_count(cut) == changed_line_count(WHOLE) == 3  # no changed line is cut
    assert hunk_shape(WHOLE) == (True, True) and hunk_shape(cut) == (True, False)


def test_the_cut_keeps_the_no_newline_marker_and_crlf_bytes_and_leaves_a_hunk_without_change():
    marker = "@@ -1,1 +1,2 @@\n a\n+b\n\\ No newline at end of file\n"
    assert through_last_change(marker) == marker.removesuffix("\n")
    crlf = "@@ -1,3 +1,3 @@\r\n a\r\n-b\r\n+c\r\n d\r\n"
    assert through_last_change(crlf) == "@@ -1,3 +1,3 @@\r\n a\r\n-b\r\n+c\r"
    context_only = "@@ -1,2 +1,2 @@\n a\n b\n"
    assert through_last_change(context_only) == context_only
    removed_sql_comment = "@@ -1,2 +1,1 @@\n--- the old query\n select 1\n"  # a removed `-- ...` line is a change
    assert through_last_change(removed_sql_comment) == "@@ -1,2 +1,1 @@\n--- the old query"


def test_an_empty_line_is_not_a_changed_line():
    # A blank context line that lost its leading space is "": an empty string is `in` every string.
    hunk = "@@ -1,3 +1,4 @@\n a\n\n+b\n\n"
    assert changed_line_count(hunk) == 1
    assert through_last_change(hunk) == "@@ -1,3 +1,4 @@\n a\n\n+b"
