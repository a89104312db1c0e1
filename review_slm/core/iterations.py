"""Iteration partition keys: `iter-0001`, `iter-0002`, ... (zero-padded so they sort as numbers).

"Iteration N starts from N-1" compares keys by their number, so a key of another form cannot be
placed: Dagster's "Add a partition" box accepts any name, and a run for such a key is refused when it is
submitted (`review_slm/run_coordinator.py`) or, in process, by the first line of every root asset
(`mined_reviews`, `hf_supplement`, `parent_model`), with a message that says the expected form.
`review-slm iteration next` and the sensor only add valid keys.
"""

from __future__ import annotations

import re

_KEY = re.compile(r"^iter-(\d{4,})$")


class InvalidIterationKey(ValueError):
    pass


def iteration_number(key: str) -> int:
    match = _KEY.match(key)
    if not match:
        raise InvalidIterationKey(
            f"iteration key {key!r} is not of the form iter-NNNN (four or more digits, e.g. iter-0001): "
            "add the next key with `review-slm iteration next`, and delete this one in the UI"
        )
    return int(match.group(1))


def validate_iteration_key(key: str) -> str:
    iteration_number(key)
    return key


def iteration_key(number: int) -> str:
    return f"iter-{number:04d}"


def next_iteration_key(existing: list[str]) -> str:
    numbers = [iteration_number(k) for k in existing if _KEY.match(k)]
    return iteration_key(max(numbers, default=0) + 1)
