"""Why the quality gates quarantine a row. The values are the quarantine table's `reason` and the `quarantined_<reason>`
metadata keys. Reasons from upstream (mining's `bot`, a dataset's `malformed_<column>`) pass through as their text."""

from __future__ import annotations

from enum import StrEnum


class QuarantineReason(StrEnum):
    EMPTY_OR_BINARY_HUNK = "empty_or_binary_hunk"  # the hunk has no text lines, or is binary
    WRONG_LANGUAGE = "wrong_language"  # its content is clearly another supported language than the declared one
    TEACHER_INVALID = "teacher_invalid"  # the teacher's answer failed the findings schema twice
    TEACHER_FAILED = "teacher_failed"  # the teacher timed out or errored after its retries
    SECRET_UNREDACTABLE = "secret_unredactable"  # redacting secrets / PII would leave too little of a hunk or finding
    OVER_TOKEN_BUDGET = "over_token_budget"  # prompt + review is longer than the recipe allows, in student tokens
    MERGED_INTO_HUNK = "merged_into_hunk"  # its comment joined the example of another comment on the same hunk
    DUPLICATE = "duplicate"  # the same hunk and comment (whitespace-insensitive) came earlier
    NEAR_DUPLICATE = "near_duplicate"  # MinHash Jaccard of the hunk and of what was said both reach the threshold
    TEMPLATE_POISONING = "template_poisoning"  # its answer repeats a sentence skeleton seen across unrelated hunks
    LAZY_NEGATIVE_OVER_CAP = "lazy_negative_over_cap"  # a lazy "no issues" example beyond the configured share
    CLEAN_OVER_CAP = "clean_over_cap"  # a reviewed-and-passed hunk (empty review) beyond `clean_share`
    # a later hunk of a change in the frozen test split (one extends the other): neither trained on nor scored
    TEST_SPLIT_CHANGE = "test_split_change"
