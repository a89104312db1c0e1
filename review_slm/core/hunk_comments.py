"""Several human comments on one hunk become one record: the teacher sees them together and the gold
example carries every finding, each at its own line.

GitHub's `diff_hunk` ends at the commented line, so two comments on lines 40 and 45 of one change carry two
texts: the hunk up to line 40, and the same lines continued to 45. Comments are on the same hunk when they
come from the same source, repository and file and one's hunk is a line prefix of the other's, starting
with the same `@@` header (which names the whole hunk's range, so it is the same change); a hunk without
a header merges only with an identical text. Kept apart, the shorter example would be a review that misses
the longer one's findings, and the two could straddle the train / test split. The merged record carries the
longest hunk (it holds every commented line, with the same line numbers); the others become its
`also_on_hunk`. A comment that repeats another on the same line, word for word, is a duplicate, not a second
finding. Hand-written: grouping by a key and comparing line lists needs no library.

How far merging goes is the recipe's `hunk_comments` (a student's capacity decides how rich an example it learns
from): `change` merges as above; `identical` merges only comments whose hunk texts are identical (the comments
on one line, or GitHub hunks that happen to match) and leaves the prefix-related ones separate examples, which the
duplicate gates keep apart by what was said; `separate` keeps every comment its own example.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from review_slm.core.schema import ReviewRecord, content_hash

HunkComments = Literal["change", "identical", "separate"]


@dataclass
class HunkMerge:
    records: list[ReviewRecord]  # one per hunk, in input order, the others on the hunk folded into `also_on_hunk`
    merged: list[tuple[ReviewRecord, ReviewRecord]] = field(default_factory=list)  # (folded row, record it joined)
    duplicates: list[tuple[ReviewRecord, ReviewRecord]] = field(default_factory=list)  # (repeat, the one it repeats)


def _header(hunk: str) -> str:
    """What every hunk of one change starts with: its `@@` line, or (no header) the whole text."""
    first = hunk.split("\n", 1)[0]
    return first if first.startswith("@@") else hunk


def _extends(longer: list[str], shorter: list[str]) -> bool:
    return longer[: len(shorter)] == shorter


def _said(rec: ReviewRecord) -> tuple[int, str, str]:
    return rec.line or 0, " ".join(rec.body.split()).lower(), " ".join(rec.suggestion.split())


def merge_comments_on_hunks(records: list[ReviewRecord], mode: HunkComments = "change") -> HunkMerge:
    if mode == "separate":
        return HunkMerge(records=list(records))
    families: dict[tuple[str, str, str, str], list[int]] = {}
    for i, rec in enumerate(records):
        hunk = _header(rec.diff_hunk) if mode == "change" else rec.diff_hunk  # identical: the whole text is the key
        families.setdefault((rec.source, rec.repo, rec.path, hunk), []).append(i)
    out = HunkMerge(records=[])
    merged_at: dict[int, ReviewRecord] = {}  # the first input position of a group -> its merged record
    folded: set[int] = set()
    for members in families.values():
        if len(members) == 1:
            continue
        lines = {i: records[i].diff_hunk.splitlines() for i in members}
        groups: list[list[int]] = []  # the first member has the longest hunk of its group
        for i in sorted(members, key=lambda i: (-len(lines[i]), i)):
            group = next((g for g in groups if _extends(lines[g[0]], lines[i])), None)
            if group is None:
                groups.append([i])
            else:
                group.append(i)
        for group in groups:
            if len(group) > 1:
                _fold(records, sorted(group), lines, out, merged_at, folded)
    for i, rec in enumerate(records):
        if i in merged_at:
            out.records.append(merged_at[i])
        elif i not in folded:
            out.records.append(rec)
    return out


def _fold(
    records: list[ReviewRecord],
    group: list[int],
    lines: dict[int, list[str]],
    out: HunkMerge,
    merged_at: dict[int, ReviewRecord],
    folded: set[int],
) -> None:
    """One group (input order): repeats out, the longest hunk (earliest on a tie) carries the others."""
    seen: dict[tuple[int, str, str], int] = {}
    distinct: list[int] = []
    for i in group:
        said = _said(records[i])
        if said in seen:
            out.duplicates.append((records[i], records[seen[said]]))
            folded.add(i)
        else:
            seen[said] = i
            distinct.append(i)
    if len(distinct) == 1:  # the first comment (input order) is always kept: it stays where it is
        return
    carrier = min(distinct, key=lambda i: (-len(lines[i]), i))
    merged = records[carrier].model_copy(update={"also_on_hunk": [records[i] for i in distinct if i != carrier]})
    merged_at[group[0]] = merged
    for i in distinct:
        if i != group[0]:
            folded.add(i)
        if i != carrier:
            out.merged.append((records[i], merged))


def human_comments_text(record: ReviewRecord) -> str:
    """What the humans said on the hunk: the comment, or each comment after its line when there are several."""
    comments = record.comments
    if len(comments) == 1:
        return record.body
    return "\n\n".join(f"line {c.line}: {c.body}" for c in comments)


class HunkFamilies:
    """The hunks of a frozen test split, so a later example of the same change (a hunk one of them extends, or
    one that extends it) stays on the test side instead of leaking it into training."""

    def __init__(self, hunks: Iterable[tuple[str, str]]):
        self.keys: set[str] = set()
        self.by_header: dict[tuple[str, str], list[list[str]]] = {}
        for path, hunk in hunks:
            self.keys.add(content_hash(path, hunk))
            header = _header(hunk)
            if header != hunk:
                self.by_header.setdefault((path, header), []).append(hunk.splitlines())

    @classmethod
    def of_keys(cls, keys: set[str]) -> HunkFamilies:
        """Only the hunk keys known: exact hunks stay test, no family is recognised."""
        families = cls(())
        families.keys = set(keys)
        return families

    def holds(self, path: str, hunk: str, key: str) -> bool:
        if key in self.keys:
            return True
        family = self.by_header.get((path, _header(hunk)))
        if not family:
            return False
        lines = hunk.splitlines()
        return any(_extends(lines, other) or _extends(other, lines) for other in family)
