"""The frozen test split: written once, then every iteration is scored on exactly those rows.

It is never frozen empty or below `min_test_rows` (an all-quarantined gold set freezes nothing; its
blocking checks fail instead). Replacing it is an explicit act: run `gold_set` with `refreeze_reason`
set (for example after a secret was found in the split); the reason, iteration, run and row counts are
appended to the freeze history (`SharedArtifacts.frozen_history`) and shown in the asset's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from review_slm.core import tables
from review_slm.core.gold import GoldExample, assign_splits
from review_slm.core.hunk_comments import HunkFamilies
from review_slm.resources.artifact_layout import SharedArtifacts


@dataclass
class Frozen:
    rows: list[dict] | None  # the frozen rows, or None when nothing is (or could be) frozen
    status: str


def freeze_test_split(
    shared: SharedArtifacts,
    kept: list[GoldExample],
    *,
    iteration: str,
    run_id: str,
    min_test_rows: int,
    refreeze_reason: str = "",
    warn: Callable[[str], None],
    error: Callable[[str], None],
) -> Frozen:
    """Assign every kept example its split, and return the frozen test rows (freezing them if this is the time)."""
    store, uri = shared.store, shared.frozen_test_split
    previous = store.read_table(uri) if store.exists(uri) else None
    if previous is not None and not refreeze_reason:
        assign_splits(kept, _families(previous))
        return Frozen(previous, f"frozen earlier ({len(previous)} rows)")
    assign_splits(kept, None)
    candidates = [e.model_dump(mode="json") for e in kept if e.split == "test"]
    if len(candidates) < min_test_rows:
        message = f"test split NOT frozen: {len(candidates)} test rows < min_test_rows={min_test_rows}"
        error(message + (" (the previous frozen split is kept)" if previous is not None else ""))
        if previous is not None:  # the kept split decides, as in any iteration after a freeze
            assign_splits(kept, _families(previous))
        return Frozen(previous, message)
    store.write_table(uri, candidates, tables.GOLD)
    history_uri = shared.frozen_history
    history = store.read_jsonl(history_uri) if store.exists(history_uri) else []
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "iteration": iteration,
        "run_id": run_id,
        "rows": len(candidates),
        "previous_rows": None if previous is None else len(previous),
        "reason": refreeze_reason or "first freeze",
    }
    store.write_jsonl(history_uri, [*history, entry])
    verb = "re-froze" if previous is not None else "froze"
    warn(f"{verb} the test split: {len(candidates)} rows at {uri} (reason: {entry['reason']})")
    return Frozen(candidates, f"{verb} now ({len(candidates)} rows; reason: {entry['reason']})")


def _families(rows: list[dict]) -> HunkFamilies:
    return HunkFamilies((r["path"], r["diff_hunk"]) for r in rows)
