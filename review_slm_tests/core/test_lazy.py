"""The lazy-approval recogniser: the phrasings issue 11 found, their relatives, and real comments that look alike."""

import pytest

from review_slm.core.lazy import is_lazy_comment
from review_slm.core.schema import ReviewRecord
from review_slm.core.structuring import structure_human_comment

LAZY = [
    "LGTM",
    "lgtm!",
    "/lgtm",
    "+1",
    "👍",
    ":shipit:",
    "Ship it 🚀",
    "Looks good to me.",
    "SGTM",
    "/approve",
    "Approved ✅",
    "Nothing to flag here",
    "Nothing to flag here.",
    "No concerns, approving ✅",
    "I don't see any problems",
    "I don’t see any issues here.",
    "No issues found.",
    "No problems from me",
    "no comments",
    "No objections.",
    "Nothing stands out.",
    "Nothing else to add, LGTM",
    "Looks fine, thanks!",
    "All good 👍",
    "This looks correct to me",
    "Fine by me",
    "Good to merge",
    "I didn't find anything wrong.",
    "LGTM, thanks",
    "Can't spot any issues with this change",
    "No concerns with the change.",
    "Seems fine.",
    "ok",
    "nice work",
    "Everything looks good, approving",
    "No red flags here -- ship it",
    "Didn't notice anything",
    "Thanks, LGTM 👍",
]
NOT_LAZY = [
    "No concerns about the API, but the lock is never released.",
    "LGTM but the error is swallowed here",
    "Looks good, except the goroutine leaks when ctx is cancelled.",
    "I don't see any problems with the tests, the handler leaks though",
    "Nothing to flag here, but please close the response body.",
    "Why is this retry unbounded?",
    "nit: rename to userID",
    "No issues found in the parser; the writer never flushes.",
    "This is fine for now but will not scale past 1k pods",
    "LGTM " + "and " * 40 + "one more thing",
    "Looks good to me once the nil check is added.",
]


@pytest.mark.parametrize("body", LAZY)
def test_lazy_phrasings_are_lazy_and_structure_to_no_findings(body):
    assert is_lazy_comment(body)
    record = ReviewRecord(
        source="hf",
        source_id="x",
        repo="",
        path="a.py",
        line=2,
        language="python",
        diff_hunk="@@ -1 +1,2 @@\n a = 1\n+b = 2",
        body=body,
    )
    assert structure_human_comment(record).findings == []  # not a medium/correctness finding


@pytest.mark.parametrize("body", NOT_LAZY)
def test_real_comments_that_look_alike_are_not_lazy(body):
    assert not is_lazy_comment(body)


def test_the_ascii_fast_path_drops_the_same_characters_as_the_unicode_filter():
    from review_slm.core.lazy import _normalise

    every_ascii = "".join(chr(c) for c in range(128)) + " LGTM 👍"[:6]
    # The ✅ makes the text non-ASCII, so it goes through the per-character filter, which drops it.
    assert _normalise(every_ascii) == _normalise(every_ascii + "✅")
    assert (
        "+" in _normalise(every_ascii) and "$" not in _normalise(every_ascii) and "\x00" not in _normalise(every_ascii)
    )


def test_a_reviewed_and_passed_record_structures_to_the_empty_review_whatever_its_body():
    from review_slm.core.clean_hunks import CLEAN_BODY

    base = dict(source="hf", source_id="c", repo="r", path="a.go", language="go", diff_hunk="@@ -1 +1 @@\n+x := 1")
    assert structure_human_comment(ReviewRecord(**base, body=CLEAN_BODY, clean=True)).findings == []
    assert len(structure_human_comment(ReviewRecord(**base, body=CLEAN_BODY)).findings) == 1  # not labelled: a comment
