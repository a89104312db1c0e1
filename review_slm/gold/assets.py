"""The gold set: teacher-structured, gated examples split into train / test, and its quarantine."""

from collections import Counter
from typing import Literal

import dagster as dg

from review_slm.core.quality_gates import GateConfig
from review_slm.core.recipe import Recipe
from review_slm.gold.build import build_gold_set
from review_slm.gold.manifest import GoldLimits, GoldSetManifest, QuarantineManifest
from review_slm.ingest.manifest import RecordsManifest
from review_slm.partitions import iteration_asset
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.student_tokenizer import StudentTokenizer
from review_slm.resources.teacher import Teacher, TeacherBudget
from review_slm.resources.teacher_cache import TeacherCache
from review_slm.resources.training_recipe import TrainingRecipe

QUARANTINE_COLUMNS = ["row_id", "source", "reason", "field", "detail"]
QUARANTINE_TABLE_ROWS = 500


class GoldSetConfig(dg.Config):
    """The gates' knobs (see core/quality_gates/), settable per run from the launchpad."""

    max_lazy_share: float = 0.15
    # Reviewed-and-passed hunks: at most this share of the kept rows; unset: the recipe's `clean_share`
    # (docs/training.md).
    clean_share: float | None = None
    redact_secrets: bool = True
    max_redacted_share: float = 0.8
    near_duplicate_threshold: float = 0.85
    # How far comments on one hunk merge into one example (core/hunk_comments.py); empty: the recipe's
    # `hunk_comments`, which a small student sets lower than a real one (docs/benchmarks.md).
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


@iteration_asset(
    group="data",
    kinds={"ollama", "python"},
    code_version="2",
    description="Structured gold reviews written by the teacher (cached by content, so an iteration pays only for new "
    "rows; structured from the human comment when no teacher answers), after the named quality gates; split "
    "train/val/test by a stable hash, the test split frozen once written, train ordered easy to hard when the recipe "
    "asks for a curriculum. Every input row is kept or quarantined with a reason; the training cost is estimated here.",
)
def gold_set(
    context: dg.AssetExecutionContext,
    config: GoldSetConfig,
    mined_reviews: RecordsManifest,
    hf_supplement: RecordsManifest,
    teacher: Teacher,
    artifacts: ArtifactStore,
    recipe: TrainingRecipe,
) -> dg.Output[GoldSetManifest]:
    key = context.partition_key
    rec = recipe.load()
    layout = iteration(artifacts, key)
    tokenizer = StudentTokenizer(rec, recipe.cache_dir)

    def open_cache(model: str, digest: str) -> TeacherCache:
        cache = TeacherCache(artifacts, model, run_name=f"{key}-{context.run.run_id[:8]}", digest=digest)
        if cache.pruned_shards:
            context.log.info(f"teacher cache: pruned {cache.pruned_shards} shards of other digests / prompt versions")
        return cache

    gates, limits = config.gates(rec), config.limits()
    build = build_gold_set(
        layout,
        [mined_reviews, hf_supplement],
        recipe=rec,
        gates=gates,
        limits=limits,
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
    return dg.Output(
        build.manifest(layout, gates, limits),
        metadata={
            **build.metadata(),
            "curriculum": rec.curriculum,
            "uri": layout.gold_dir,
            "quarantine_uri": layout.gold_quarantine,
        },
    )


@iteration_asset(
    group="data",
    kinds={"python"},
    code_version="1",
    description="The rows the gold set's gates kept out, one per row with the rule (reason), the field and why: "
    "browse them here rather than in a Parquet file.",
)
def gold_set_quarantine(gold_set: GoldSetManifest, artifacts: ArtifactStore) -> dg.Output[QuarantineManifest]:
    rows = artifacts.read_table(gold_set.quarantine_uri)
    shown = rows[:QUARANTINE_TABLE_ROWS]
    by_reason = dict(sorted(Counter(r["reason"] for r in rows).items()))
    return dg.Output(
        QuarantineManifest(uri=gold_set.quarantine_uri, rows=len(rows), by_reason=by_reason),
        metadata={
            "rows": len(rows),
            **{f"reason_{reason}": n for reason, n in by_reason.items()},
            "by_source": dict(Counter(r["source"] for r in rows)),
            "quarantine": dg.MetadataValue.table(
                records=[dg.TableRecord({c: str(r.get(c) or "")[:200] for c in QUARANTINE_COLUMNS}) for r in shown],
                schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in QUARANTINE_COLUMNS]),
            ),
            "shown": f"{len(shown)} of {len(rows)} (all rows: the quarantine Parquet file)",
        },
    )
