"""What `review-slm review` accepts as input, and its exit codes: one code per outcome, the table below is the
one `--help` prints and the README copies (a test keeps them equal)."""

from __future__ import annotations

import sys
from pathlib import Path

(
    REVIEWED,
    INTERNAL_ERROR,
    USAGE,
    ENDPOINT_FAILED,
    UNREADABLE,
    BINARY,
    NO_HUNKS,
    TOO_LARGE,
    GITHUB_FAILED,
    NO_MODEL,
    MALFORMED_DIFF,
    INCOMPLETE,
    FINDINGS_AT_FAIL_ON,
) = range(13)

EXIT_CODES: dict[int, str] = {
    REVIEWED: "reviewed: every hunk answered, no finding at or above --fail-on",
    INTERNAL_ERROR: "an unexpected error (a bug: the traceback is printed)",
    USAGE: "usage error: bad or conflicting options, a malformed --pr, --pr without GITHUB_TOKEN",
    ENDPOINT_FAILED: "the endpoint did not answer",
    UNREADABLE: "the input is missing or unreadable (no such file, a folder, permissions)",
    BINARY: "the input is binary or not UTF-8 text",
    NO_HUNKS: "nothing to review: no unified diff, or only files that are not reviewed (language, binary, deleted)",
    TOO_LARGE: "the input is larger than --max-bytes (a pull request: more files than --max-files)",
    GITHUB_FAILED: "GitHub refused or failed (403, 422, rate limit, not found); nothing was posted",
    NO_MODEL: "no model to review with (no champion, --model is not a model folder, no --endpoint)",
    MALFORMED_DIFF: "the input is not a valid unified diff (a hunk shorter or longer than its @@ header says)",
    INCOMPLETE: "incomplete review: an answer was not a valid review, hunks over --max-hunks, or (--pr) a file whose "
    "diff GitHub does not show (the review is printed and names them; --allow-incomplete exits 0 instead)",
    FINDINGS_AT_FAIL_ON: "a finding at or above --fail-on (reported at a line or in outside_diff); checked before 11",
}


def exit_code_table() -> str:
    """The exit codes as a Markdown table (for `--help` and the README)."""
    rows = [f"| {code:<4} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| exit | meaning |", "|------|---------|", *rows])


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


def parse_input(text: str, name: str = "the input"):
    """The diff's files and hunks (`core.diff_hunks.ParsedDiff`), or an InputError: not a diff, or a broken one."""
    from review_slm.core.diff_hunks import DiffError, parse_diff

    try:
        parsed = parse_diff(text.removeprefix("\ufeff"))  # a byte-order mark some Windows editors write
    except DiffError as err:
        raise InputError(MALFORMED_DIFF, f"{name}: {err}") from None
    if not parsed.hunks and not parsed.skipped:
        raise InputError(
            NO_HUNKS, f"{name}: no unified-diff hunk (@@ ... @@): pass the output of `git diff` or a .patch file"
        )
    return parsed
