"""Data assets: mined GitHub reviews, the Hugging Face supplement, and the gold set."""


from collections import Counter

import dagster as dg

from review_slm.assets.partitions import iteration_partitions
from review_slm.core.github_comments import parse_threads
from review_slm.core.gold import Candidate, GateConfig, GoldExample, apply_quality_gates, assign_splits
from review_slm.core.schema import RejectedRow, ReviewRecord
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.recipes import TrainingRecipe
from review_slm.resources.review_corpus import ReviewCorpus, mine_into_corpus
from review_slm.resources.review_source import ReviewSource
from review_slm.resources.supplement import HFSupplementSource
from review_slm.resources.teacher import Teacher

FROZEN_TEST = ("frozen", "test_split.jsonl")


def _preview(rows: list[dict], columns: list[str], limit: int = 8) -> dg.MetadataValue:
    def cell(v) -> str:
        text = str(v).replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows[:limit]]
    return dg.MetadataValue.md("\n".join(lines))


def _write_records(artifacts: ArtifactStore, key: str, asset: str, records: list[ReviewRecord], rejected: list[RejectedRow]) -> str:
    uri = artifacts.iteration_uri(key, asset, "records.jsonl")
    artifacts.write_jsonl(uri, [r.model_dump(mode="json") for r in records])
    artifacts.write_jsonl(artifacts.iteration_uri(key, asset, "rejected.jsonl"), [r.model_dump(mode="json") for r in rejected])
    return uri


def _read_records(artifacts: ArtifactStore, key: str, asset: str) -> tuple[list[ReviewRecord], list[RejectedRow]]:
    records = [ReviewRecord.model_validate(r) for r in artifacts.read_jsonl(artifacts.iteration_uri(key, asset, "records.jsonl"))]
    rejected = [RejectedRow.model_validate(r) for r in artifacts.read_jsonl(artifacts.iteration_uri(key, asset, "rejected.jsonl"))]
    return records, rejected


class MinedReviewsConfig(dg.Config):
    full_resync: bool = False  # list everything again: finds comments deleted on GitHub since they were mined


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    kinds={"github", "python"},
    code_version="2",
    description="Pull-request review comments (diff hunk, path, line, body, author, PR, thread) on Go, Python and "
    "Kubernetes YAML. Mined incrementally with PyGithub into a durable per-repository corpus (cursor on `updated_at`, "
    "edits update, deletions found by a full resync); the bundled snapshot stands in when there is no GITHUB_TOKEN.",
)
def mined_reviews(
    context: dg.AssetExecutionContext, config: MinedReviewsConfig, review_source: ReviewSource, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    corpus = ReviewCorpus(artifacts, review_source.source_name)
    report = mine_into_corpus(review_source, corpus, full_resync=config.full_resync, progress=context.log.info)
    bots = frozenset(b.lower() for b in review_source.extra_bots)
    records, rejected, attached = [], [], 0
    for repo in review_source.repos:
        parsed = parse_threads(list(corpus.comments(repo).values()), repo, bots)
        records += parsed.records
        rejected += parsed.rejected
        attached += parsed.replies_attached
    uri = _write_records(artifacts, context.partition_key, "mined_reviews", records, rejected)
    skipped = Counter(r.reason for r in rejected)
    context.log.info(f"corpus of {review_source.source_name}: {len(records)} records, {attached} replies attached, skipped {dict(skipped)}")
    return dg.MaterializeResult(
        metadata={
            "source": review_source.source_name,
            "repos": ", ".join(review_source.repos),
            "comments_fetched": report.total("fetched"),
            "comments_new": report.total("new"),
            "comments_updated": report.total("updated"),
            "comments_deleted": report.total("deleted"),
            "duplicates_skipped": report.total("duplicates"),
            "bots_skipped": skipped.pop("bot", 0),
            "outdated_skipped": skipped.pop("outdated", 0),
            **{f"skipped_{reason}": n for reason, n in sorted(skipped.items())},
            "replies_attached": attached,
            "records": len(records),
            "api_calls": report.usage.api_calls,
            "api_retries": report.usage.retries,
            "rate_limit_waits": report.usage.rate_limit_waits,
            "rate_limit_wait_s": round(report.usage.rate_limit_wait_s, 1),
            "cursors": {repo: r.cursor for repo, r in report.repos.items()},
            "languages": dict(Counter(r.language for r in records)),
            "uri": uri,
            "preview": _preview([r.model_dump() for r in records], ["source_id", "path", "line", "author", "body"]),
        }
    )


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    kinds={"huggingface", "python"},
    code_version="1",
    description="A public code-review dataset loaded through `datasets` (REVIEW_SLM_HF_DATASET: hub id at a pinned "
    "revision, or a local file) and mapped to the review record schema; malformed rows are kept aside with a reason.",
)
def hf_supplement(context: dg.AssetExecutionContext, supplement: HFSupplementSource, artifacts: ArtifactStore) -> dg.MaterializeResult:
    batch = supplement.load()
    uri = _write_records(artifacts, context.partition_key, "hf_supplement", batch.records, batch.rejected)
    for rej in batch.rejected:
        context.log.warning(f"supplement row rejected: {rej.describe()}")
    return dg.MaterializeResult(
        metadata={
            "dataset": batch.dataset,
            "revision": batch.revision or "(local file)",
            "fingerprint": batch.fingerprint,
            "rows_read": batch.rows_read,
            "rows_mapped": len(batch.records),
            "rows_rejected": len(batch.rejected),
            **{f"rejected_{reason}": n for reason, n in sorted(Counter(r.reason for r in batch.rejected).items())},
            "uri": uri,
        }
    )


class GoldSetConfig(dg.Config):
    max_lazy_share: float = 0.15
    redact_secrets: bool = True


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    kinds={"ollama", "python"},
    code_version="1",
    deps=[mined_reviews, hf_supplement],
    description="Structured gold reviews written by the teacher (or structured from the human comment when no teacher "
    "answers), after the quality gates; split train/val/test by a stable hash, the test split frozen once written. "
    "Every input row is kept or quarantined with a reason.",
)
def gold_set(
    context: dg.AssetExecutionContext,
    config: GoldSetConfig,
    teacher: Teacher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.MaterializeResult:
    key = context.partition_key
    mined, mined_rejected = _read_records(artifacts, key, "mined_reviews")
    supp, supp_rejected = _read_records(artifacts, key, "hf_supplement")
    records, upstream_rejected = mined + supp, mined_rejected + supp_rejected
    rows_in = len(records) + len(upstream_rejected)
    context.log.info(f"enriching {len(records)} records with the teacher")
    teacher_name, candidates = teacher.enrich(records)
    outcome = apply_quality_gates(
        candidates,
        upstream_rejected,
        GateConfig(max_lazy_share=config.max_lazy_share, max_example_chars=recipe.load().max_example_tokens * 4, redact_secrets=config.redact_secrets),
    )
    if len(outcome.kept) + len(outcome.quarantined) != rows_in:
        raise RuntimeError(f"row accounting broken: {rows_in} in, {len(outcome.kept)} kept + {len(outcome.quarantined)} quarantined")

    frozen_uri = artifacts.uri(*FROZEN_TEST)
    frozen_rows = artifacts.read_jsonl(frozen_uri) if artifacts.exists(frozen_uri) else None
    frozen_keys = {GoldExample.model_validate(r).hunk_key for r in frozen_rows} if frozen_rows is not None else None
    assign_splits(outcome.kept, frozen_keys)
    splits = {name: [e.model_dump(mode="json") for e in outcome.kept if e.split == name] for name in ("train", "val", "test")}
    if frozen_rows is None:
        artifacts.write_jsonl(frozen_uri, splits["test"])
        context.log.info(f"froze the test split: {len(splits['test'])} rows at {frozen_uri}")
        frozen_rows = splits["test"]
    for name in ("train", "val"):
        artifacts.write_jsonl(artifacts.iteration_uri(key, "gold_set", f"{name}.jsonl"), splits[name])
    # The test split is the frozen one, byte for byte, so every iteration is scored on the same rows.
    artifacts.write_jsonl(artifacts.iteration_uri(key, "gold_set", "test.jsonl"), frozen_rows)
    quarantine_uri = artifacts.iteration_uri(key, "gold_set", "quarantine.jsonl")
    artifacts.write_jsonl(quarantine_uri, [q.model_dump(mode="json") for q in outcome.quarantined])

    kept = outcome.kept
    lazy_share = sum(e.lazy for e in kept) / len(kept) if kept else 0.0
    return dg.MaterializeResult(
        metadata={
            "teacher": teacher_name,
            "rows_in": rows_in,
            "rows_kept": len(kept),
            "rows_quarantined": len(outcome.quarantined),
            **{f"quarantined_{reason}": n for reason, n in sorted(outcome.reason_counts().items())},
            "secrets_redacted": outcome.secrets_redacted,
            "lazy_share": round(lazy_share, 4),
            "train_rows": len(splits["train"]),
            "val_rows": len(splits["val"]),
            "test_rows": len(frozen_rows),
            "uri": artifacts.iteration_uri(key, "gold_set"),
            "quarantine_uri": quarantine_uri,
            "quarantine_preview": _preview([q.model_dump() for q in outcome.quarantined], ["row_id", "reason", "field", "detail"], 12),
        }
    )
