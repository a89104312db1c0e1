"""Data assets: mined GitHub reviews, the Hugging Face supplement, and the gold set."""

from collections import Counter
from typing import Literal

import dagster as dg

from review_slm.assets.partitions import OWNERS, iteration_partitions
from review_slm.core import tables
from review_slm.core.github_comments import parse_threads
from review_slm.core.iterations import validate_iteration_key
from review_slm.core.quality_gates import GateConfig
from review_slm.core.recipe import Recipe
from review_slm.core.schema import RejectedRow, ReviewRecord
from review_slm.core.scrub import scrub_record
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.review_source import ReviewSource
from review_slm.resources.student_tokenizer import StudentTokenizer
from review_slm.resources.supplement import HFSupplementSource
from review_slm.resources.teacher import Teacher, TeacherBudget
from review_slm.resources.training_config import TrainingRecipe
from review_slm.stages.gold import GoldLimits, build_gold_set
from review_slm.storage.layout import IterationArtifacts, RecordSource, iteration
from review_slm.storage.review_corpus import ReviewCorpus, mine_into_corpus
from review_slm.storage.teacher_cache import TeacherCache

QUARANTINE_COLUMNS = ["row_id", "source", "reason", "field", "detail"]
QUARANTINE_TABLE_ROWS = 500


def _preview(rows: list[dict], columns: list[str], limit: int = 8) -> dg.MetadataValue:
    def cell(v) -> str:
        text = str(v).replace("\n", " ").replace("|", "\\|")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows[:limit]]
    return dg.MetadataValue.md("\n".join(lines))


def _write_records(
    layout: IterationArtifacts, source: RecordSource, records: list[ReviewRecord], rejected: list[RejectedRow]
) -> str:
    uri = layout.store.write_table(layout.records(source), [r.model_dump(mode="json") for r in records], tables.RECORDS)
    layout.store.write_table(layout.rejected(source), [r.model_dump(mode="json") for r in rejected], tables.REJECTED)
    return uri


class MinedReviewsConfig(dg.Config):
    full_resync: bool = False  # list everything again: finds comments deleted on GitHub since they were mined


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    owners=OWNERS,
    tags={"stage": "data"},
    kinds={"github", "python"},
    code_version="2",
    description="Pull-request review comments (diff hunk, path, line, body, author, PR, thread) on Go, Python and "
    "Kubernetes YAML. Mined incrementally with PyGithub into a durable per-repository corpus (cursor on `updated_at`, "
    "edits update, deletions found by a full resync); the bundled snapshot stands in when there is no GITHUB_TOKEN.",
)
def mined_reviews(
    context: dg.AssetExecutionContext, config: MinedReviewsConfig, review_source: ReviewSource, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    validate_iteration_key(context.partition_key)  # a root asset: refuse a key of the wrong form before any work
    corpus = ReviewCorpus(artifacts, review_source.source_name)
    report = mine_into_corpus(review_source, corpus, full_resync=config.full_resync, progress=context.log.info)
    bots = frozenset(b.lower() for b in review_source.extra_bots)
    records, rejected, attached, clean_left_out = [], [], 0, Counter()
    for repo in review_source.repos:
        parsed = parse_threads(list(corpus.comments(repo).values()), repo, bots)
        records += parsed.records
        rejected += parsed.rejected
        attached += parsed.replies_attached
        passed = review_source.passed_hunks(repo, list(corpus.comments(repo).values()), report.usage)
        # Hunks nobody commented on: redacted like any mined text before they are written.
        records += [scrub_record(r)[0] for r in passed.records]
        clean_left_out.update(passed.left_out)
    uri = _write_records(iteration(artifacts, context.partition_key), "mined_reviews", records, rejected)
    skipped = Counter(r.reason for r in rejected)
    context.log.info(
        f"corpus of {review_source.source_name}: {len(records)} records, {attached} replies attached, skipped "
        f"{dict(skipped)}"
    )
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
            "clean_hunks": sum(r.clean for r in records),
            **{f"clean_left_out_{reason}": n for reason, n in sorted(clean_left_out.items())},
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
    owners=OWNERS,
    tags={"stage": "data"},
    kinds={"huggingface", "python"},
    code_version="2",
    description="A public code-review dataset streamed through `datasets` (REVIEW_SLM_HF_DATASET: hub id at a pinned "
    "revision, or a local file), mapped to the review record schema by a shape adapter (codereviewer, instruction, "
    "critique); malformed rows are kept aside with a reason. Rows are written as they stream, never all in memory.",
)
def hf_supplement(
    context: dg.AssetExecutionContext, supplement: HFSupplementSource, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    key = validate_iteration_key(context.partition_key)  # a root asset: refuse a key of the wrong form before any work
    info = supplement.info()
    reasons = Counter()
    layout = iteration(artifacts, key)
    records_uri = layout.records("hf_supplement")
    with (
        artifacts.table_writer(records_uri, tables.RECORDS) as write_record,
        artifacts.table_writer(layout.rejected("hf_supplement"), tables.REJECTED) as write_rejected,
    ):
        for record, rejected in supplement.iter_rows(info):
            if record:
                write_record(record.model_dump(mode="json"))
            else:
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
    return dg.MaterializeResult(
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
            "uri": records_uri,
        }
    )


class GoldSetConfig(dg.Config):
    """The gates' knobs (see core/quality_gates.py), settable per run from the launchpad."""

    max_lazy_share: float = 0.15
    # Reviewed-and-passed hunks: at most this share of the kept rows; unset: the recipe's `clean_share` (README).
    clean_share: float | None = None
    redact_secrets: bool = True
    max_redacted_share: float = 0.8
    near_duplicate_threshold: float = 0.85
    # How far comments on one hunk merge into one example (core/hunk_comments.py); empty: the recipe's
    # `hunk_comments`, which a small student sets lower than a real one (README: gold_set).
    hunk_comments: Literal["", "change", "identical", "separate"] = ""
    template_min_hunks: int = 8
    template_max_share: float = 0.02
    max_duplicate_share: float = 0.01  # what the blocking check tolerates in the kept rows
    min_kept_rows: int = 20  # the blocking check gold_min_rows: fewer kept rows is a broken input, not a small one
    min_test_rows: int = 5  # the test split is never frozen with fewer rows (every later evaluation would score on it)
    refreeze_reason: str = ""  # non-empty: replace the frozen test split (e.g. a secret was found in it); recorded
    max_teacher_prompts: int = 0  # the teacher may be asked at most this many prompts (after the cache); 0: no limit
    max_teacher_hours: float = 0.0  # ... and take at most this long at the rate measured by its probe; 0: no limit

    def gates(self, recipe: Recipe) -> GateConfig:
        return GateConfig(
            max_example_tokens=recipe.max_example_tokens,
            hunk_comments=self.hunk_comments or recipe.hunk_comments,
            clean_share=recipe.clean_share if self.clean_share is None else self.clean_share,
            **self.model_dump(include=set(GateConfig.__dataclass_fields__) - {"hunk_comments", "clean_share"}),
        )

    def limits(self) -> GoldLimits:
        return GoldLimits(**self.model_dump(include=set(GoldLimits.__dataclass_fields__)))


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    owners=OWNERS,
    tags={"stage": "data"},
    kinds={"ollama", "python"},
    code_version="2",
    deps=[mined_reviews, hf_supplement],
    description="Structured gold reviews written by the teacher (cached by content, so an iteration pays only for new "
    "rows; structured from the human comment when no teacher answers), after the named quality gates; split "
    "train/val/test by a stable hash, the test split frozen once written, train ordered easy to hard when the recipe "
    "asks for a curriculum. Every input row is kept or quarantined with a reason; the training cost is estimated here.",
)
def gold_set(
    context: dg.AssetExecutionContext,
    config: GoldSetConfig,
    teacher: Teacher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.MaterializeResult:
    key = context.partition_key
    rec = recipe.load()
    layout = iteration(artifacts, key)
    tokenizer = StudentTokenizer(rec, recipe.cache_dir)

    def open_cache(model: str, digest: str) -> TeacherCache:
        cache = TeacherCache(artifacts, model, run_name=f"{key}-{context.run.run_id[:8]}", digest=digest)
        if cache.pruned_shards:
            context.log.info(f"teacher cache: pruned {cache.pruned_shards} shards of other digests / prompt versions")
        return cache

    build = build_gold_set(
        layout,
        recipe=rec,
        gates=config.gates(rec),
        limits=config.limits(),
        teacher=teacher,
        count_tokens=tokenizer.count_examples,
        open_cache=open_cache,
        run_id=context.run.run_id,
        refreeze_reason=config.refreeze_reason,
        budget=TeacherBudget(config.max_teacher_prompts, config.max_teacher_hours),
        info=context.log.info,
        warn=context.log.warning,
        error=context.log.error,
    )
    return dg.MaterializeResult(
        metadata={
            **build.metadata(),
            "curriculum": rec.curriculum,
            "uri": layout.gold_dir,
            "quarantine_uri": layout.gold_quarantine,
        }
    )


@dg.asset(
    partitions_def=iteration_partitions,
    group_name="data",
    owners=OWNERS,
    tags={"stage": "data"},
    kinds={"python"},
    code_version="1",
    deps=[gold_set],
    description="The rows the gold set's gates kept out, one per row with the rule (reason), the field and why: "
    "browse them here rather than in a Parquet file.",
)
def gold_set_quarantine(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    rows = artifacts.read_table(iteration(artifacts, context.partition_key).gold_quarantine)
    shown = rows[:QUARANTINE_TABLE_ROWS]
    return dg.MaterializeResult(
        metadata={
            "rows": len(rows),
            **{f"reason_{reason}": n for reason, n in sorted(Counter(r["reason"] for r in rows).items())},
            "by_source": dict(Counter(r["source"] for r in rows)),
            "quarantine": dg.MetadataValue.table(
                records=[dg.TableRecord({c: str(r.get(c) or "")[:200] for c in QUARANTINE_COLUMNS}) for r in shown],
                schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in QUARANTINE_COLUMNS]),
            ),
            "shown": f"{len(shown)} of {len(rows)} (all rows: the quarantine Parquet file)",
        }
    )
