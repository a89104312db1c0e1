"""Adapters from the common shapes of public code-review datasets to the review record's fields.

- `codereviewer`: diff + comment, columns `patch`, `msg`, `lang`, `path`, `proj`, `id`
  (e.g. Microsoft CodeReviewer, comment generation);
- `instruction`: `instruction`, `input` (the diff), `output` (the review) (Alpaca-style instructions);
- `critique`: `diff`, `chosen` / `rejected` critiques (critique / preference pairs).

Column names can be overridden per adapter; a missing or empty required column rejects the row
with `malformed_<column>`, naming the row.
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


ADAPTERS: dict[str, AdapterSpec] = {
    "codereviewer": AdapterSpec(diff="patch", comment="msg", language="lang", path="path", repo="proj", id="id"),
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
