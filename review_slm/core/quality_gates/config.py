"""The gates' knobs (the recipe's and the run's) and the token counter they are given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from review_slm.core.hunk_comments import HunkComments

TokenCounter = Callable[[list[tuple[str, str]]], list[int]]
"""Counts the student's tokens of (user prompt, assistant answer) pairs, chat template included."""


@dataclass(frozen=True)
class GateConfig:
    max_lazy_share: float = 0.15
    # Reviewed-and-passed hunks: probably, not surely, clean; too many and the student learns to stay quiet.
    clean_share: float = 0.1
    max_example_tokens: int = 2048
    redact_secrets: bool = True
    max_redacted_share: float = 0.8
    near_duplicate_threshold: float = 0.85
    # Several comments on one hunk become one example with every finding (core/hunk_comments.py); off, each stays
    # an example of its own (its hunk ends at its line) and the duplicate gates keep them apart by what was said.
    hunk_comments: HunkComments = "change"  # the recipe's: how far comments on one hunk merge (hunk_comments.py)
    # A skeleton may recur in answers to this many distinct hunks, or this share of the rows, whichever is larger.
    template_min_hunks: int = 8
    template_max_share: float = 0.02
