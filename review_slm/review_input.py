"""What `review-slm review` accepts as input, and the errors (with their exit codes) for what it does not.

| exit | meaning                                                                   |
|------|---------------------------------------------------------------------------|
| 0    | reviewed                                                                  |
| 2    | no model to review with (no champion, no --model / --endpoint)            |
| 3    | the endpoint did not answer                                               |
| 4    | the input is missing or unreadable (no such file, a folder, permissions)   |
| 5    | the input is binary or not UTF-8 text                                      |
| 6    | the input has no reviewable hunk (not a unified diff, or only other languages) |
| 7    | the input is larger than --max-bytes (a pull request: --max-files / --max-hunks) |
| 8    | GitHub refused or failed (403, 422, rate limit, not found); nothing was posted |
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from review_slm.core.diff_hunks import truncate_hunk as truncate  # noqa: F401  (the CLI's name for it)

NO_MODEL, ENDPOINT_FAILED, UNREADABLE, BINARY, NO_HUNKS, TOO_LARGE, GITHUB_FAILED = 2, 3, 4, 5, 6, 7, 8


class InputError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def read_diff(source: str, max_bytes: int) -> str:
    """The diff's text from a path or `-` (stdin), or an InputError saying what is wrong with it."""
    name = "standard input" if source == "-" else source
    try:
        if source == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with Path(source).open("rb") as handle:
                data = handle.read(max_bytes + 1)  # never more than the limit (+1 to know it was exceeded)
    except FileNotFoundError:
        raise InputError(UNREADABLE, f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(UNREADABLE, f"{name}: is a folder, not a diff file") from None
    except OSError as err:
        raise InputError(UNREADABLE, f"{name}: cannot be read ({err.strerror or err})") from None
    if len(data) > max_bytes:
        raise InputError(
            TOO_LARGE, f"{name}: larger than --max-bytes={max_bytes:,}; review it in parts (e.g. per file)"
        )
    if b"\x00" in data:
        raise InputError(BINARY, f"{name}: binary data, not a text diff")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            BINARY, f"{name}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from None


@dataclass
class Hunk:
    path: str
    language: str
    text: str
    truncated_lines: int = 0
