"""Iteration partition keys: `iter-0001`, `iter-0002`, ... (zero-padded so they sort as numbers)."""

from __future__ import annotations

import re

_KEY = re.compile(r"^iter-(\d{4,})$")


def iteration_number(key: str) -> int:
    match = _KEY.match(key)
    if not match:
        raise ValueError(f"iteration key {key!r} is not of the form iter-NNNN")
    return int(match.group(1))


def iteration_key(number: int) -> str:
    return f"iter-{number:04d}"


def next_iteration_key(existing: list[str]) -> str:
    numbers = [iteration_number(k) for k in existing if _KEY.match(k)]
    return iteration_key(max(numbers, default=0) + 1)
