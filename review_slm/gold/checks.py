"""Blocking checks on `gold_set`: training never starts on a gold set that fails one of them.

Each takes the asset's manifest (where the IO manager stored it), re-reads the splits it names and
re-derives the property independently of the gates, with the thresholds the manifest records the
gates used, so a bug in a gate cannot also hide its own failure.
"""

import json
from collections.abc import Callable

import dagster as dg
import pyarrow.parquet as pq
from pydantic import ValidationError

from review_slm.core.gold import GoldExample
from review_slm.core.near_duplicates import duplicate_share
from review_slm.core.secret_rules import find_leaks
from review_slm.gold.assets import gold_set as gold_set_asset
from review_slm.gold.manifest import GoldSetManifest
from review_slm.partitions import iteration_partitions, requires_iteration
from review_slm.resources.artifact_layout import SPLITS, SharedArtifacts
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.manifest_io import read_manifest


def _rows(artifacts: ArtifactStore, gold_set: GoldSetManifest) -> dict[str, list[dict]]:
    return {split: artifacts.read_table(gold_set.split(split).uri) for split in SPLITS}


def _check(**kwargs):
    """A blocking check of `gold_set` over its manifest, read from the layout rather than loaded as an input:
    Dagster resolves an input's partition before the check runs, and a check-only run without a partition
    must fail saying to pick one (`requires_iteration`)."""

    def decorate(body: Callable[[GoldSetManifest, ArtifactStore], dg.AssetCheckResult]):
        def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
            key, asset = context.partition_key, gold_set_asset.key.to_user_string()
            return body(read_manifest(artifacts, key, asset, GoldSetManifest), artifacts)

        check.__name__ = body.__name__
        return dg.asset_check(
            asset=gold_set_asset, name=body.__name__, blocking=True, partitions_def=iteration_partitions, **kwargs
        )(requires_iteration(check))

    return decorate


@_check(description="Every kept row validates against the gold-example schema (review findings included).")
def gold_schema_valid(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    errors = []
    for split, rows in _rows(artifacts, gold_set).items():
        for n, row in enumerate(rows):
            try:
                GoldExample.model_validate(row)
            except ValidationError as err:
                first = err.errors()[0]
                errors.append(
                    f"{split} row {n} ({row.get('record_id', '?')}): {'.'.join(map(str, first['loc']))}: {first['msg']}"
                )
    return dg.AssetCheckResult(
        passed=not errors, metadata={"invalid_rows": len(errors), "first_errors": "\n".join(errors[:10]) or "none"}
    )


@_check(
    description="Re-scan of every text field of the kept rows (hunk, human comment, review, path, repo) with a second, "
    "independent detector (gitleaks' rules; the gates redact with detect-secrets) finds no secret or e-mail left."
)
def gold_no_secrets(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    leaks = []
    for split, rows in _rows(artifacts, gold_set).items():
        for row in rows:
            fields = {
                "diff_hunk": row["diff_hunk"],
                "human_comment": row["human_comment"],
                "review": json.dumps(row["review"]),
                "path": row["path"],
                "repo": row["repo"],
            }
            found = {name: find_leaks(text) for name, text in fields.items()}
            if any(found.values()):
                # Rule ids and field names only: the metadata must not quote the secret it reports.
                leaks.append(
                    f"{split}: {row['id']} "
                    + ", ".join(f"{name}: {'/'.join(ids)}" for name, ids in found.items() if ids)
                )
    return dg.AssetCheckResult(
        passed=not leaks,
        metadata={
            "rows_with_secrets": len(leaks),
            "rows": "\n".join(leaks[:10]) or "none",
            "detector": "gitleaks rules (review_slm/data/gitleaks)",
        },
    )


@_check(description="The share of lazy 'no issues' examples is under the configured cap.")
def gold_lazy_share_under_cap(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    rows = [r for split_rows in _rows(artifacts, gold_set).values() for r in split_rows]
    cap = gold_set.gates.max_lazy_share
    share = sum(r["lazy"] for r in rows) / len(rows) if rows else 0.0
    return dg.AssetCheckResult(passed=share <= cap + 1e-9, metadata={"lazy_share": round(share, 4), "cap": cap})


@_check(
    description="Near-duplicate share of the kept rows (MinHash re-scan at the gates' threshold: hunk and human "
    "comment both alike) is under its limit."
)
def gold_duplicate_share_under_threshold(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    threshold, limit = gold_set.gates.near_duplicate_threshold, gold_set.limits.max_duplicate_share
    rows = [r for split_rows in _rows(artifacts, gold_set).values() for r in split_rows]
    share = duplicate_share([r["diff_hunk"] for r in rows], threshold, said=[r["human_comment"] for r in rows])
    return dg.AssetCheckResult(
        passed=share <= limit,
        metadata={
            "duplicate_share": round(share, 4),
            "limit": limit,
            "threshold": threshold,
        },
    )


@_check(
    description="The test split is row for row, value for value, the frozen one, so every iteration is scored on "
    "the same rows."
)
def gold_test_split_frozen(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    frozen_uri = SharedArtifacts(artifacts).frozen_test_split
    current = pq.read_table(artifacts.local_path(gold_set.test.uri))
    if not artifacts.exists(frozen_uri):
        return dg.AssetCheckResult(
            passed=False,
            metadata={
                "frozen_rows": 0,
                "test_rows": current.num_rows,
                "why": "no test split is frozen (too few test rows to freeze one)",
            },
        )
    frozen = pq.read_table(artifacts.local_path(frozen_uri))
    return dg.AssetCheckResult(
        passed=frozen.equals(current), metadata={"frozen_rows": frozen.num_rows, "test_rows": current.num_rows}
    )


@_check(
    description="At least `min_kept_rows` rows were kept and the test split has at least `min_test_rows`: an input "
    "that "
    "was (nearly) all quarantined is refused, not trained on."
)
def gold_min_rows(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    limits = gold_set.limits
    counts = {split: len(rows) for split, rows in _rows(artifacts, gold_set).items()}
    kept = counts["train"] + counts["val"]  # the test rows are the frozen split's, not this run's
    passed = kept >= limits.min_kept_rows and counts["test"] >= limits.min_test_rows
    return dg.AssetCheckResult(
        passed=passed,
        metadata={
            "train_val_rows": kept,
            "test_rows": counts["test"],
            "min_kept_rows": limits.min_kept_rows,
            "min_test_rows": limits.min_test_rows,
        },
    )


GOLD_SET_CHECKS = [
    gold_schema_valid,
    gold_no_secrets,
    gold_lazy_share_under_cap,
    gold_duplicate_share_under_threshold,
    gold_test_split_frozen,
    gold_min_rows,
]
