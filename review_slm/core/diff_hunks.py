"""Unified diffs: parsing a whole diff into hunks (unidiff), and hunk arithmetic (which new-file line a hunk
ends on, which lines it touches, windows of a long hunk).

A hunk's lines are split at "\n" only, never with `str.splitlines()`: a form feed, a vertical tab or U+2028 inside
a source line is part of that line, and splitting there would shift every line number after it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from unidiff.constants import DEV_NULL, LINE_TYPE_EMPTY, RE_PATCH_FILE_PREFIX
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def hunk_lines(hunk: str) -> list[str]:
    """The raw lines of a hunk (header included), split at "\n" only, a CRLF line end read as one line end (as
    `splitlines` did, so mined CRLF hunks keep their prompts); one trailing newline ends the last line."""
    return [line.removesuffix("\r") for line in hunk.removesuffix("\n").split("\n")] if hunk else []


def new_file_lines(hunk: str) -> list[tuple[int, str]]:
    """(new-file line number, text) for every context or added line of the hunk."""
    raw_lines = hunk_lines(hunk)
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
    for i, raw in enumerate(hunk_lines(hunk)):
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
    for i, raw in enumerate(hunk_lines(hunk)):
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

    return "\n".join(HUNK_HEADER.sub(move, raw, count=1) for raw in hunk_lines(hunk))


def last_new_line(hunk: str) -> int | None:
    lines = new_file_lines(hunk)
    return lines[-1][0] if lines else None


def changed_line_count(hunk: str) -> int:
    """Added and removed lines after the first `@@` header: inside a hunk, `+++ x` / `--- x` are content (an added
    `++ x`, a removed SQL comment `-- x`), only lines before any header are file headers. A text with no header at
    all (a supplement's bare patch) counts its +/- lines, file-header-like ones aside."""
    lines = hunk_lines(hunk)
    if not any(HUNK_HEADER.match(raw) for raw in lines):
        return sum(1 for raw in lines if raw.startswith(("+", "-")) and not raw.startswith(("+++ ", "--- ")))
    in_hunk, count = False, 0
    for raw in lines:
        if HUNK_HEADER.match(raw):
            in_hunk = True
        elif in_hunk and raw.startswith(("+", "-")):  # not "" (an empty string is in every string)
            count += 1
    return count


def _first_header(lines: list[str]) -> int:
    """The index of the first `@@` header, -1 without one (a supplement's bare patch)."""
    return next((i for i, raw in enumerate(lines) if HUNK_HEADER.match(raw)), -1)


def through_last_change(hunk: str) -> str:
    """The hunk up to its last added or removed line (and that line's `\\ No newline` marker), its `@@` header
    unchanged: how GitHub's `diff_hunk` shows a hunk to a comment on that line. Without a changed line, the hunk."""
    lines = hunk.split("\n")  # the raw text, "\r" kept: what is kept is returned byte for byte
    header = _first_header(lines)
    changed = [i for i in range(header + 1, len(lines)) if lines[i].startswith(("+", "-"))]
    if not changed:
        return hunk
    end = changed[-1] + 1
    if end < len(lines) and lines[end].startswith("\\"):
        end += 1
    return "\n".join(lines[:end])


def hunk_shape(hunk: str) -> tuple[bool, bool]:
    """(deletes a line, ends on an unchanged line): what tells hunks apart without reading their code."""
    lines = hunk_lines(hunk)
    header = _first_header(lines)
    body = [raw for raw in lines[header + 1 :] if not raw.startswith("\\")]
    return any(raw.startswith("-") for raw in body), bool(body) and not body[-1].startswith(("+", "-"))


def is_binary_or_empty(hunk: str) -> bool:
    if not hunk or not hunk.strip():
        return True
    if "\x00" in hunk or hunk.startswith("Binary files"):
        return True
    return changed_line_count(hunk) == 0 and not new_file_lines(hunk)


@dataclass(frozen=True)
class DiffHunk:
    """One hunk of one file: `text` is its `@@` header (with counts) and its lines, line ends without "\r"."""

    path: str
    text: str


@dataclass
class ParsedDiff:
    hunks: list[DiffHunk] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}: files with nothing to review


class DiffError(ValueError):
    """The text looks like a diff but is not a valid one (a hunk shorter or longer than its header says)."""


_GIT_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_GIT_ESCAPE = re.compile(r'\\([0-7]{3}|[abtnvfr"\\])')


def unquote_git_path(raw: str) -> str:
    """A path as git writes it in a header, with git's C-style quoting undone (`"a/my\\303\\251 x.py"` ->
    `a/myé x.py`). Hand-written because unidiff keeps the quotes and escapes in its paths."""
    if not (len(raw) >= 2 and raw[0] == raw[-1] == '"'):
        return raw
    body = raw[1:-1].encode("utf-8")
    decoded = re.sub(
        _GIT_ESCAPE.pattern.encode(),
        lambda m: bytes([int(m.group(1), 8) if m.group(1)[:1].isdigit() else _GIT_ESCAPES[m.group(1).decode()]]),
        body,
    )
    return decoded.decode("utf-8", errors="replace")


def _file_path(patched) -> str:
    """The new path (the old one for a deleted file), unquoted, without git's `a/` / `b/` prefix."""
    raw = patched.target_file if patched.target_file not in (None, DEV_NULL) else patched.source_file
    path = unquote_git_path((raw or "").strip())
    return path[2:] if RE_PATCH_FILE_PREFIX.match(path) else path


def _hunk_text(hunk) -> str:
    header = f"@@ -{hunk.source_start},{hunk.source_length} +{hunk.target_start},{hunk.target_length} @@"
    if hunk.section_header:
        header += f" {hunk.section_header.rstrip()}"
    lines = [
        f"{line.line_type}{line.value.removesuffix(chr(10)).removesuffix(chr(13))}"
        for line in hunk
        if line.line_type != LINE_TYPE_EMPTY  # unidiff's blank line after the last hunk is no line of the file
    ]
    return "\n".join([header, *lines])


def _skip_reason(patched) -> str | None:
    """Why a file has nothing for the model, or None when its hunks are reviewable."""
    if patched.is_binary_file:
        return "binary file"
    if patched.is_removed_file:
        return "deleted"
    if patched.is_symlink:
        return "symbolic link"
    if patched.is_submodule:
        return "submodule"
    if len(patched) == 0:
        if patched.is_rename:
            return "renamed, content unchanged"
        if patched.source_mode and patched.target_mode and patched.source_mode != patched.target_mode:
            return f"mode change only ({patched.source_mode} -> {patched.target_mode})"
        return "no content change"
    return None


def parse_diff(text: str) -> ParsedDiff:
    """Every hunk of a `git diff` / `diff -u` / `git format-patch` text, each counted from its `@@` header (so a
    removed line `-- x` or an added `++ y` is a line of its hunk, not a file header), and every file without a
    reviewable hunk with the reason (binary, deleted, rename or mode change only, symbolic link, submodule)."""
    try:
        # StringIO splits at "\n" only (see the module's docstring); "\r\n" stays on the line and is removed below.
        patch = PatchSet(io.StringIO(text))
    except UnidiffParseError as err:
        raise DiffError(
            f"not a valid unified diff: {err} (a hunk's lines must add up to the counts in its @@ header, as "
            "`git diff` writes them; was the diff edited by hand?)"
        ) from None
    parsed = ParsedDiff()
    for patched in patch:
        path = _file_path(patched)
        reason = _skip_reason(patched)
        if reason:
            parsed.skipped.append({"path": path, "reason": reason})
            continue
        parsed.hunks += [DiffHunk(path, _hunk_text(h)) for h in patched]
    return parsed


def parse_patch(path: str, patch: str) -> list[DiffHunk]:
    """The hunks of one file's patch as GitHub's `GET /pulls/{n}/files` gives it (no `---`/`+++` header)."""
    parsed = parse_diff(f"--- a/file\n+++ b/file\n{patch.removesuffix(chr(10))}\n")
    return [DiffHunk(path, h.text) for h in parsed.hunks]


def split_unified_diff(text: str) -> list[tuple[str, str]]:
    """(path, hunk) for every reviewable hunk of a unified diff (see `parse_diff`)."""
    return [(h.path, h.text) for h in parse_diff(text).hunks]


def hunk_windows(
    hunk: str, max_lines: int, line_costs: Callable[[list[str]], list[int]] | None = None, budget: int | None = None
) -> list[str]:
    """A long hunk as consecutive windows, each a valid hunk with its own `@@` header, so every line is reviewed and
    the numbers the model reads (and copies into findings) are the file's own line numbers.

    A window holds at most `max_lines` lines and, when `line_cost(raw line)` and `budget` are given, lines costing
    at most `budget` together (the model's tokens: a window must fit its context with room for the answer). A
    `\\ No newline at end of file` marker stays with the line before it. A single line over the budget is a window
    of its own (it cannot be split without changing its meaning).
    """
    lines = hunk_lines(hunk)
    header = HUNK_HEADER.match(lines[0]) if lines else None
    if header is None:
        return [hunk]
    body = lines[1:]
    if line_costs is None or budget is None:
        costs, budget = [0] * len(body), None
    else:
        costs = line_costs(body)
    if len(body) <= max_lines and (budget is None or sum(costs) <= budget):
        return [hunk]
    old, new = int(header.group(1)), int(header.group(3))
    section = lines[0][header.end() :]
    windows: list[str] = []
    start = 0
    while start < len(body):
        end, spent = start, 0
        while end < len(body) and (
            end == start
            or body[end].startswith("\\")
            or (end - start < max_lines and (budget is None or spent + costs[end] <= budget))
        ):
            spent += costs[end]
            end += 1
        chunk = body[start:end]
        old_n = sum(1 for raw in chunk if not raw.startswith(("+", "\\")))
        new_n = sum(1 for raw in chunk if not raw.startswith(("-", "\\")))
        # An empty side starts at the line before it, as `diff` writes it (`-0,0` for a file's first lines).
        old_start = old if old_n else max(old - 1, 0)
        new_start = new if new_n else max(new - 1, 0)
        windows.append("\n".join([f"@@ -{old_start},{old_n} +{new_start},{new_n} @@{section}", *chunk]))
        old, new, start = old + old_n, new + new_n, end
    return windows
