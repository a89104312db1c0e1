"""Unified-diff hunk arithmetic: which new-file line a hunk ends on, which lines it touches."""

from __future__ import annotations

import re

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def new_file_lines(hunk: str) -> list[tuple[int, str]]:
    """(new-file line number, text) for every context or added line of the hunk."""
    out: list[tuple[int, str]] = []
    current: int | None = None
    for raw in hunk.splitlines():
        header = HUNK_HEADER.match(raw)
        if header:
            current = int(header.group(3))
            continue
        if current is None or raw.startswith("\\"):
            continue
        if raw.startswith("-"):
            continue
        out.append((current, raw[1:] if raw[:1] in "+ " else raw))
        current += 1
    return out


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
