"""Unified-diff hunk arithmetic: which new-file line a hunk ends on, which lines it touches."""

from __future__ import annotations

import re

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def new_file_lines(hunk: str) -> list[tuple[int, str]]:
    """(new-file line number, text) for every context or added line of the hunk."""
    raw_lines = hunk.splitlines()
    return [
        (number, raw_lines[i][1:] if raw_lines[i][:1] in "+ " else raw_lines[i])
        for i, number in enumerate_new_lines(hunk)
    ]


def numbered_hunk(hunk: str) -> str:
    """The hunk with each new-file line prefixed by its line number, as PR-review tools show it.

    A finding's `line` is then copied from the prompt rather than computed from the `@@` header plus
    a count of lines, which a small model cannot do. Removed lines get a blank number column.
    """
    numbered = dict(enumerate_new_lines(hunk))
    width = len(str(max(numbered.values()))) if numbered else 1
    out = []
    for i, raw in enumerate(hunk.splitlines()):
        if i in numbered:
            out.append(f"{numbered[i]:>{width}} {raw}")
        elif HUNK_HEADER.match(raw):
            out.append(raw)
        else:
            out.append(f"{'':>{width}} {raw}")
    return "\n".join(out)


def enumerate_new_lines(hunk: str) -> list[tuple[int, int]]:
    """(index of the raw line in the hunk, new-file line number) for every context or added line."""
    out: list[tuple[int, int]] = []
    current: int | None = None
    for i, raw in enumerate(hunk.splitlines()):
        header = HUNK_HEADER.match(raw)
        if header:
            current = int(header.group(3))
            continue
        if current is None or raw.startswith(("\\", "-")):
            continue
        out.append((i, current))
        current += 1
    return out


def shift_hunk(hunk: str, offset: int) -> str:
    """The same hunk `offset` lines further down the file: every `@@` header's start lines move
    (an old start of 0, a new file, stays 0). Used to augment training data: see `shifted_example`."""

    def move(m: re.Match) -> str:
        old, old_n, new, new_n = m.group(1), m.group(2), m.group(3), m.group(4)
        old_start = int(old) + offset if int(old) else 0
        return (
            f"@@ -{old_start}{',' + old_n if old_n is not None else ''} "
            f"+{int(new) + offset}{',' + new_n if new_n is not None else ''} @@"
        )

    return "\n".join(HUNK_HEADER.sub(move, raw, count=1) for raw in hunk.splitlines())


def truncate_hunk(text: str, max_lines: int) -> tuple[str, int]:
    """A hunk cut to its header and first `max_lines` lines, and how many lines were cut."""
    lines = text.split("\n")
    if len(lines) <= max_lines + 1:
        return text, 0
    return "\n".join(lines[: max_lines + 1]), len(lines) - max_lines - 1


def last_new_line(hunk: str) -> int | None:
    lines = new_file_lines(hunk)
    return lines[-1][0] if lines else None


def changed_line_count(hunk: str) -> int:
    return sum(1 for raw in hunk.splitlines() if raw[:1] in "+-" and not raw.startswith(("+++", "---")))


def is_binary_or_empty(hunk: str) -> bool:
    if not hunk or not hunk.strip():
        return True
    if "\x00" in hunk or hunk.startswith("Binary files"):
        return True
    return changed_line_count(hunk) == 0 and not new_file_lines(hunk)


_FILE_HEADER = re.compile(r"^\+\+\+ (?:b/)?(.+?)\s*$")


def split_unified_diff(text: str) -> list[tuple[str, str]]:
    """(path, hunk) for every hunk of a `git diff` / unified diff; deleted files are skipped."""
    out: list[tuple[str, str]] = []
    path: str | None = None
    hunk: list[str] = []

    def flush() -> None:
        if path and hunk:
            out.append((path, "\n".join(hunk)))

    for line in text.splitlines():
        header = _FILE_HEADER.match(line)
        if header:
            flush()
            hunk = []
            path = None if header.group(1) == "/dev/null" else header.group(1)
        elif line.startswith("@@"):
            flush()
            hunk = [line]
        elif line.startswith(("diff --git", "--- ", "index ")):
            flush()
            hunk = []
        elif hunk:
            hunk.append(line)
    flush()
    return out
