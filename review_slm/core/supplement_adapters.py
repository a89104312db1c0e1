"""Adapters from the common shapes of public code-review datasets to the review record's fields.

- `codereviewer`: diff + comment, columns `patch`, `msg`, `lang`, `path`, `proj`, `id`
  (e.g. Microsoft CodeReviewer, comment generation);
- `instruction`: `instruction`, `input` (the diff), `output` (the review) (Alpaca-style instructions);
- `critique`: `diff`, `chosen` / `rejected` critiques (critique / preference pairs).

Column names can be overridden per adapter; a missing or empty required column rejects the row
with `malformed_<column>`, naming the row.

A row the dataset labels as needing no comment is a clean example (its gold answer the empty review): a true
`clean` column, or CodeReviewer's quality-estimation label `y` = 0 (1 = the change needs a review comment).
Such a row needs no comment column; one that has a comment anyway contradicts its label and is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIFF_BLOCK = re.compile(r"```(?:diff|patch)?\n(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class AdapterSpec:
    diff: str
    comment: str
    language: str | None = None
    path: str | None = None
    repo: str | None = None
    id: str | None = None
    diff_in_text: bool = False  # the diff may sit in a fenced block of the `diff` column (instruction datasets)
    clean: str | None = "clean"  # true: the row needs no comment
    needs_comment: str | None = None  # 0: the row needs no comment (CodeReviewer quality estimation's `y`)


ADAPTERS: dict[str, AdapterSpec] = {
    "codereviewer": AdapterSpec(
        diff="patch", comment="msg", language="lang", path="path", repo="proj", id="id", needs_comment="y"
    ),
    "instruction": AdapterSpec(
        diff="input", comment="output", language="lang", path="path", repo="repo", id="id", diff_in_text=True
    ),
    "critique": AdapterSpec(diff="diff", comment="chosen", language="lang", path="path", repo="repo", id="id"),
}


def adapter_spec(name: str, overrides: dict[str, str] | None = None) -> AdapterSpec:
    if name not in ADAPTERS:
        raise ValueError(f"unknown supplement adapter {name!r}: expected one of {sorted(ADAPTERS)}")
    spec = ADAPTERS[name]
    unknown = set(overrides or {}) - set(spec.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"supplement adapter {name!r}: unknown column roles {sorted(unknown)} (roles: "
            f"{sorted(spec.__dataclass_fields__)})"
        )
    return AdapterSpec(**{**spec.__dict__, **(overrides or {})})


def extract_diff(text: str, in_text: bool) -> str:
    """The diff itself: the whole value, or the first fenced block when instructions surround it."""
    if in_text and "@@" not in text.split("\n", 1)[0]:
        match = _DIFF_BLOCK.search(text)
        if match:
            return match.group(1).rstrip("\n")
    return text


_YES = {"true", "1", "yes"}
_NO = {"false", "0", "no", ""}


def _label(value) -> bool | None | str:
    """True / False for a yes-no label (bool, 0/1, "true"/"false"...), None when absent, "bad" otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _YES | _NO:
        text = value.strip().lower()
        return None if text == "" else text in _YES
    return "bad"


def clean_label(row: dict, spec: AdapterSpec) -> tuple[bool, str | None]:
    """(is the row labelled as needing no comment, None), or (False, the column whose value is not a yes-no label)."""
    clean = _label(row.get(spec.clean)) if spec.clean else None
    needs = _label(row.get(spec.needs_comment)) if spec.needs_comment else None
    for column, value in ((spec.clean, clean), (spec.needs_comment, needs)):
        if value == "bad":
            return False, column
    return clean is True or needs is False, None
