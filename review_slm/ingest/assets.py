"""Ingest: review comments mined from GitHub (or the bundled snapshot) and the public review dataset."""

from collections import Counter

import dagster as dg

from review_slm.core import tables
from review_slm.core.github_comments import parse_threads
from review_slm.core.iterations import validate_iteration_key
from review_slm.core.schema import RejectedRow, ReviewRecord
from review_slm.core.scrub import scrub_record
from review_slm.ingest.manifest import RecordsManifest
from review_slm.ingest.review_corpus import ReviewCorpus, mine_into_corpus
from review_slm.partitions import iteration_asset
from review_slm.resources.artifact_layout import IterationArtifacts, RecordSource, iteration
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.review_source import ReviewSource
from review_slm.resources.supplement import HFSupplementSource


def _preview(rows: list[dict], columns: list[str], limit: int = 8) -> dg.MetadataValue:
    def cell(v) -> str:
        text = str(v).replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows[:limit]]
    return dg.MetadataValue.md("\n".join(lines))


def _write_records(
    layout: IterationArtifacts, source: RecordSource, records: list[ReviewRecord], rejected: list[RejectedRow]
) -> RecordsManifest:
    return RecordsManifest(
        source=source,
        records_uri=layout.store.write_table(
            layout.records(source), [r.model_dump(mode="json") for r in records], tables.RECORDS
        ),
        rejected_uri=layout.store.write_table(
            layout.rejected(source), [r.model_dump(mode="json") for r in rejected], tables.REJECTED
        ),
        records=len(records),
        rejected=len(rejected),
    )


class MinedReviewsConfig(dg.Config):
    full_resync: bool = False  # list everything again: finds comments deleted on GitHub since they were mined


@iteration_asset(
    group="data",
    kinds={"github", "python"},
    code_version="2",
    description="Pull-request review comments (diff hunk, path, line, body, author, PR, thread) on Go, Python and "
    "Kubernetes YAML. Mined incrementally with PyGithub into a durable per-repository corpus (cursor on `updated_at`, "
    "edits update, deletions found by a full resync); the bundled snapshot stands in when there is no GITHUB_TOKEN.",
)
def mined_reviews(
    context: dg.AssetExecutionContext, config: MinedReviewsConfig, review_source: ReviewSource, artifacts: ArtifactStore
) -> dg.Output[RecordsManifest]:
    validate_iteration_key(context.partition_key)  # a root asset: refuse a key of the wrong form before any work
    corpus = ReviewCorpus(artifacts, review_source.source_name)
    report = mine_into_corpus(review_source, corpus, full_resync=config.full_resync, progress=context.log.info)
    bots = frozenset(b.lower() for b in review_source.extra_bots)
    records, rejected, attached, clean_left_out = [], [], 0, Counter()
    for repo in review_source.repos:
        parsed = parse_threads(list(corpus.comments(repo).values()), repo, tuple(review_source.languages), bots)
        records += parsed.records
        rejected += parsed.rejected
        attached += parsed.replies_attached
        passed = review_source.passed_hunks(repo, list(corpus.comments(repo).values()), report.usage)
        # Hunks nobody commented on: redacted like any mined text before they are written.
        records += [scrub_record(r)[0] for r in passed.records]
        clean_left_out.update(passed.left_out)
    manifest = _write_records(iteration(artifacts, context.partition_key), "mined_reviews", records, rejected)
    skipped = Counter(r.reason for r in rejected)
    context.log.info(
        f"corpus of {review_source.source_name}: {len(records)} records, {attached} replies attached, skipped "
        f"{dict(skipped)}"
    )
    return dg.Output(
        manifest,
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
            "clean_hunks": sum(r.clean for r in records),
            **{f"clean_left_out_{reason}": n for reason, n in sorted(clean_left_out.items())},
            "api_calls": report.usage.api_calls,
            "api_retries": report.usage.retries,
            "rate_limit_waits": report.usage.rate_limit_waits,
            "rate_limit_wait_s": round(report.usage.rate_limit_wait_s, 1),
            "cursors": {repo: r.cursor for repo, r in report.repos.items()},
            "languages": dict(Counter(r.language for r in records)),
            "uri": manifest.records_uri,
            "preview": _preview([r.model_dump() for r in records], ["source_id", "path", "line", "author", "body"]),
        },
    )


@iteration_asset(
    group="data",
    kinds={"huggingface", "python"},
    code_version="2",
    description="A public code-review dataset streamed through `datasets` (REVIEW_SLM_HF_DATASET: hub id at a pinned "
    "revision, or a local file), mapped to the review record schema by a shape adapter (codereviewer, instruction, "
    "critique); malformed rows are kept aside with a reason. Rows are written as they stream, never all in memory.",
)
def hf_supplement(
    context: dg.AssetExecutionContext, supplement: HFSupplementSource, artifacts: ArtifactStore
) -> dg.Output[RecordsManifest]:
    key = validate_iteration_key(context.partition_key)  # a root asset: refuse a key of the wrong form before any work
    info = supplement.info()
    reasons = Counter()
    layout = iteration(artifacts, key)
    manifest = RecordsManifest(
        source="hf_supplement",
        records_uri=layout.records("hf_supplement"),
        rejected_uri=layout.rejected("hf_supplement"),
        records=0,
        rejected=0,
    )
    with (
        artifacts.table_writer(manifest.records_uri, tables.RECORDS) as write_record,
        artifacts.table_writer(manifest.rejected_uri, tables.REJECTED) as write_rejected,
    ):
        for record, rejected in supplement.iter_rows(info):
            if record:
                write_record(record.model_dump(mode="json"))
            else:
                assert rejected is not None  # map_row gives a record or a rejection
                write_rejected(rejected.model_dump(mode="json"))
                reasons[rejected.reason] += 1
                if sum(reasons.values()) <= 20:
                    context.log.warning(f"supplement row rejected: {rejected.describe()}")
            if info.rows_read % 100_000 == 0:
                context.log.info(f"supplement: {info.rows_read} rows streamed")
    if info.rows_read != info.rows_mapped + info.rows_rejected:
        raise RuntimeError(
            f"supplement row accounting broken: {info.rows_read} read, {info.rows_mapped} mapped + "
            f"{info.rows_rejected} rejected"
        )
    return dg.Output(
        manifest.model_copy(update={"records": info.rows_mapped, "rejected": info.rows_rejected}),
        metadata={
            "dataset": info.dataset,
            "revision": info.revision or "(local file)",
            "adapter": info.adapter,
            "fingerprint": info.fingerprint,
            "rows_in": info.rows_read,
            "rows_kept": info.rows_mapped,
            "rows_quarantined": info.rows_rejected,
            "duplicate_ids_renamed": info.duplicate_ids_renamed,
            "rows_redacted": info.rows_redacted,
            **{f"quarantined_{reason}": n for reason, n in sorted(reasons.items())},
            "uri": manifest.records_uri,
        },
    )
