"""Near-duplicate detection with MinHash signatures and LSH banding, vectorised with numpy.

A document is the set of its normalised lines (a diff hunk is lines; two hunks that share most
lines are the same example for a model, even if a few lines or the path differ). Signatures for all
documents are computed in batches; candidate pairs come from identical LSH bands and are confirmed
by the estimated Jaccard similarity against the threshold.

What was said about a hunk (its human comments) is compared on its own, as word pairs: a hunk's lines
outnumber a comment's, so in one signature the code would decide alone, and two reviewers' different
points on one hunk would read as one example said twice.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

_PRIME = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64(0xFFFFFFFF)


def shingles(text: str) -> list[int]:
    """Stable 32-bit hashes of the normalised, non-empty lines (whitespace-insensitive)."""
    out = {
        zlib.crc32(" ".join(line.split()).encode("utf-8")) for line in text.splitlines() if not line.isspace() and line
    }
    return sorted(out) or [0]


_WORD = re.compile(r"\w+")


def word_shingles(text: str) -> list[int]:
    """Stable 32-bit hashes of the lower-cased word pairs (single words when there is only one)."""
    words = _WORD.findall(text.lower())
    grams = [f"{a} {b}" for a, b in zip(words, words[1:])] or words
    return sorted({zlib.crc32(g.encode("utf-8")) for g in grams}) or [0]


class MinHasher:
    def __init__(self, num_perm: int = 64, bands: int = 16, seed: int = 1):
        if num_perm % bands:
            raise ValueError(f"num_perm={num_perm} must be a multiple of bands={bands}")
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 31, size=(num_perm, 1), dtype=np.uint64)
        self.b = rng.integers(0, 1 << 31, size=(num_perm, 1), dtype=np.uint64)
        self.num_perm, self.bands = num_perm, bands

    def signatures(self, docs: list[list[int]], batch: int = 4096) -> np.ndarray:
        """(n_docs, num_perm) uint32 MinHash signatures."""
        out = np.empty((len(docs), self.num_perm), dtype=np.uint32)
        for start in range(0, len(docs), batch):
            chunk = docs[start : start + batch]
            lengths = np.fromiter((len(d) for d in chunk), dtype=np.int64, count=len(chunk))
            flat = np.fromiter((h for d in chunk for h in d), dtype=np.uint64, count=int(lengths.sum()))
            hashed = ((self.a * flat + self.b) % _PRIME) & _MAX32  # (num_perm, n_shingles)
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            out[start : start + len(chunk)] = np.minimum.reduceat(hashed, offsets, axis=1).T
        return out

    def candidate_pairs(self, sigs: np.ndarray) -> set[tuple[int, int]]:
        """Pairs (i < j) that share at least one whole band."""
        rows = self.num_perm // self.bands
        pairs: set[tuple[int, int]] = set()
        for band in range(self.bands):
            keys = np.ascontiguousarray(sigs[:, band * rows : (band + 1) * rows]).view(f"V{4 * rows}").ravel()
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
            ends = np.concatenate((starts[1:], [len(order)]))
            for s, e in zip(starts[ends - starts > 1], ends[ends - starts > 1]):
                members = np.sort(order[s:e])
                first = int(members[0])
                pairs.update((first, int(m)) for m in members[1:])
        return pairs


def find_near_duplicates(
    texts: list[str], threshold: float, hasher: MinHasher | None = None, said: list[str] | None = None
) -> dict[int, tuple[int, float]]:
    """Map each near-duplicate document to (the earlier document it repeats, estimated Jaccard).

    With `said` (what was said about each text, e.g. its comments), two documents are near duplicates only
    when their texts and what was said are both at least `threshold` alike (the lower of the two is
    reported). The earliest document of a group is the one kept, so the result does not depend on anything
    but the order of `texts`.
    """
    hasher = hasher or MinHasher()
    parts = [hasher.signatures([shingles(t) for t in texts])]
    if said is not None:
        parts.append(hasher.signatures([word_shingles(s) for s in said]))
    pairs = sorted(set().union(*(hasher.candidate_pairs(sigs) for sigs in parts)))
    if not pairs:
        return {}
    first, second = np.array(pairs).T
    # Every candidate's estimated Jaccard at once (the lower of code and what was said); the walk stays in order.
    similarity = np.min([np.mean(sigs[first] == sigs[second], axis=1) for sigs in parts], axis=0)
    found: dict[int, tuple[int, float]] = {}
    for (i, j), sim in zip(pairs, similarity.tolist()):
        if j not in found and i not in found and sim >= threshold:
            found[j] = (i, sim)
    return found


def duplicate_share(texts: list[str], threshold: float, said: list[str] | None = None) -> float:
    """Share of documents that near-duplicate an earlier one: the gold set's re-check."""
    return len(find_near_duplicates(texts, threshold, said=said)) / len(texts) if texts else 0.0
