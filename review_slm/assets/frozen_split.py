"""The frozen test split: written once, then every iteration is scored on exactly those rows.

It is never frozen empty or below `min_test_rows` (an all-quarantined gold set freezes nothing; its
blocking checks fail instead). Replacing it is an explicit act: run `gold_set` with `refreeze_reason`
set (for example after a secret was found in the split); the reason, iteration, run and row counts are
appended to `frozen/test_split_history.jsonl` and shown in the asset's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from review_slm.core.gold import GoldExample, assign_splits
from review_slm.resources.artifacts import ArtifactStore

FROZEN_TEST = ("frozen", "test_split.jsonl")
FROZEN_HISTORY = ("frozen", "test_split_history.jsonl")


@dataclass
class Frozen:
    rows: list[dict] | None  # the frozen rows, or None when nothing is (or could be) frozen
    status: str


def freeze_test_split(context: dg.AssetExecutionContext, config, artifacts: ArtifactStore, kept: list[GoldExample]) -> Frozen:
    """Assign every kept example its split, and return the frozen test rows (freezing them if this is the time)."""
    uri = artifacts.uri(*FROZEN_TEST)
    previous = artifacts.read_jsonl(uri) if artifacts.exists(uri) else None
    if previous is not None and not config.refreeze_reason:
        assign_splits(kept, {GoldExample.model_validate(r).hunk_key for r in previous})
        return Frozen(previous, f"frozen earlier ({len(previous)} rows)")
    assign_splits(kept, None)
    candidates = [e.model_dump(mode="json") for e in kept if e.split == "test"]
    if len(candidates) < config.min_test_rows:
        message = f"test split NOT frozen: {len(candidates)} test rows < min_test_rows={config.min_test_rows}"
        context.log.error(message + (" (the previous frozen split is kept)" if previous is not None else ""))
        return Frozen(previous, message)
    artifacts.write_jsonl(uri, candidates)
    history_uri = artifacts.uri(*FROZEN_HISTORY)
    history = artifacts.read_jsonl(history_uri) if artifacts.exists(history_uri) else []
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "iteration": context.partition_key, "run_id": context.run.run_id,
             "rows": len(candidates), "previous_rows": None if previous is None else len(previous),
             "reason": config.refreeze_reason or "first freeze"}
    artifacts.write_jsonl(history_uri, [*history, entry])
    verb = "re-froze" if previous is not None else "froze"
    context.log.warning(f"{verb} the test split: {len(candidates)} rows at {uri} (reason: {entry['reason']})")
    return Frozen(candidates, f"{verb} now ({len(candidates)} rows; reason: {entry['reason']})")
