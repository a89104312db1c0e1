"""Build the gold set of one iteration: read the records, gate, enrich with the teacher, gate again,
split (the test split frozen), order for the curriculum, write, and estimate the training cost.

Plain code over resources and the artifact layout, no Dagster: the `gold_set` asset only wires it,
and tests drive it directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from review_slm.core import tables
from review_slm.core.cost import CostEstimate, estimate_training_cost
from review_slm.core.diff_hunks import hunk_shape, through_last_change
from review_slm.core.gold import Candidate, GoldExample, QuarantinedRow, held_out_of_training
from review_slm.core.hunk_comments import merge_comments_on_hunks
from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import render_review, student_user_prompt
from review_slm.core.quality_gates import (
    GateConfig,
    GateOutcome,
    QuarantineReason,
    apply_quality_gates,
    folded_rows,
    gate_before_teacher,
)
from review_slm.core.recipe import Recipe
from review_slm.core.schema import RejectedRow, ReviewRecord, content_hash
from review_slm.gold.frozen_split import Frozen, freeze_test_split
from review_slm.gold.manifest import GoldLimits, GoldSetManifest, GoldSplit
from review_slm.ingest.manifest import RecordsManifest
from review_slm.resources.artifact_layout import SPLITS, IterationArtifacts, SharedArtifacts, Split
from review_slm.resources.teacher import EnrichmentReport, Teacher, TeacherBudget
from review_slm.resources.teacher_cache import TeacherCache

CLEAN_TEACHER = "reviewed-and-passed"
"""The `teacher` of a clean example: its empty review is the reviewers' silence, not a model's answer."""


@dataclass
class GoldBuild:
    rows_in: int
    outcome: GateOutcome
    enrichment: EnrichmentReport
    frozen: Frozen
    splits: dict[str, list[dict]]
    train_tokens: int
    estimate: CostEstimate
    comments_on_hunk: dict[str, int]  # record id of an example built from several comments -> how many

    def metadata(self) -> dict:
        """Plain values (numbers and strings) for the asset's metadata; the same keys every iteration, except
        `teacher_calls_per_kept_row`: absent when no row was kept (`teacher_calls_per_kept_row_absent` says why)."""
        kept = self.outcome.kept
        difficulties = [e.difficulty for e in kept if e.split == "train"]
        lazy_share = sum(e.lazy for e in kept) / len(kept) if kept else 0.0
        per_kept_row = (
            {"teacher_calls_per_kept_row": round(self.enrichment.teacher_calls / len(kept), 3)}
            if kept
            else {"teacher_calls_per_kept_row_absent": "no row was kept: there is nothing to divide by"}
        )
        multi = [e for e in kept if e.record_id in self.comments_on_hunk]
        return {
            **asdict(self.enrichment),
            "teacher": self.enrichment.teacher_model,
            **per_kept_row,
            "rows_in": self.rows_in,
            "rows_kept": len(kept),
            "rows_quarantined": len(self.outcome.quarantined),
            **{f"quarantined_{reason}": n for reason, n in sorted(self.outcome.reason_counts().items())},
            "comments_merged": self.outcome.reason_counts()["merged_into_hunk"],
            "multi_comment_examples": len(multi),
            "comments_in_multi_comment_examples": sum(self.comments_on_hunk[e.record_id] for e in multi),
            "multi_finding_examples": sum(len(e.review.findings) > 1 for e in kept),
            "findings_kept": sum(len(e.review.findings) for e in kept),
            "secrets_redacted": self.outcome.secrets_redacted,
            "rows_token_counted": self.outcome.tokens_counted,
            "lazy_share": round(lazy_share, 4),
            "clean_examples": sum(e.clean for e in kept),
            "clean_share": round(sum(e.clean for e in kept) / len(kept), 4) if kept else 0.0,
            **shapes_by_kind(kept),
            "train_rows": len(self.splits["train"]),
            "val_rows": len(self.splits["val"]),
            "test_rows": len(self.splits["test"]),
            "test_split": self.frozen.status,
            "train_tokens": self.train_tokens,
            "train_difficulty_range": f"{min(difficulties, default=0)}–{max(difficulties, default=0)}",
            **self.estimate.as_metadata(),
        }

    def manifest(self, layout: IterationArtifacts, gates: GateConfig, limits: GoldLimits) -> GoldSetManifest:
        """What the asset returns: the written splits by URI, the counts, the thresholds the checks hold it to."""
        return GoldSetManifest(
            **{name: GoldSplit(uri=layout.gold_split(name), rows=len(self.splits[name])) for name in SPLITS},
            quarantine_uri=layout.gold_quarantine,
            rows_in=self.rows_in,
            rows_kept=len(self.outcome.kept),
            rows_quarantined=len(self.outcome.quarantined),
            test_split=self.frozen.status,
            gates=gates,
            limits=limits,
        )


def read_records(
    layout: IterationArtifacts, sources: Sequence[RecordsManifest]
) -> tuple[list[ReviewRecord], list[RejectedRow]]:
    """Every upstream's records and rejected rows, in the order of `sources`."""
    store = layout.store
    records = [ReviewRecord.model_validate(r) for s in sources for r in store.read_table(s.records_uri)]
    rejected = [RejectedRow.model_validate(r) for s in sources for r in store.read_table(s.rejected_uri)]
    return records, rejected


def remembering(
    count_tokens: Callable[[list[tuple[str, str]]], list[int]],
) -> Callable[[list[tuple[str, str]]], list[int]]:
    """The token counter, asked once per distinct (prompt, answer) in a build: the budget gate after the teacher
    and the cost estimate count the same kept rows. Keys are content hashes, so memory stays small."""
    seen: dict[str, int] = {}

    def count(pairs: list[tuple[str, str]]) -> list[int]:
        keys = [content_hash(prompt, answer) for prompt, answer in pairs]
        missing = {key: pair for key, pair in zip(keys, pairs) if key not in seen}
        seen.update(zip(missing, count_tokens(list(missing.values())) if missing else []))
        return [seen[key] for key in keys]

    return count


def shapes_by_kind(kept: list[GoldExample]) -> dict[str, float]:
    """The share of clean and of commented examples whose hunk deletes a line, and ends on an unchanged line: where
    the two differ a student can learn the shape instead of the code, and go quiet on what merely looks clean."""
    out = {}
    for kind, rows in (("clean", [e for e in kept if e.clean]), ("commented", [e for e in kept if not e.clean])):
        shapes = [hunk_shape(e.diff_hunk) for e in rows]
        if shapes:
            out[f"{kind}_deleting_lines_share"] = round(sum(d for d, _ in shapes) / len(shapes), 4)
            out[f"{kind}_ending_unchanged_share"] = round(sum(u for _, u in shapes) / len(shapes), 4)
    return out


def presented_like_commented(record: ReviewRecord) -> ReviewRecord:
    """A reviewed-and-passed hunk as GitHub shows the hunk of a comment: up to its last change, header unchanged.

    A pull request's file gives whole hunks, GitHub's `diff_hunk` of a comment ends at the commented line with the
    whole hunk's header: shown as they come, clean and commented hunks differ in shape (94 % of the bundled clean
    rows end on an unchanged line, 9 % of the mined comments), and a student could stay quiet on every hunk that
    looks whole, as every hunk it reviews does. No changed line is cut."""
    if not record.clean:
        return record
    return record.model_copy(update={"diff_hunk": through_last_change(record.diff_hunk)})


def build_gold_set(
    layout: IterationArtifacts,
    sources: Sequence[RecordsManifest],
    *,
    recipe: Recipe,
    gates: GateConfig,
    limits: GoldLimits,
    teacher: Teacher,
    count_tokens: Callable[[list[tuple[str, str]]], list[int]],
    open_cache: Callable[[str, str], TeacherCache],
    run_id: str,
    refreeze_reason: str = "",
    budget: TeacherBudget | None = None,
    info: Callable[[str], None] = print,
    warn: Callable[[str], None] = print,
    error: Callable[[str], None] = print,
) -> GoldBuild:
    """Everything `gold_set` does, from the upstream records to the written splits."""
    count_tokens = remembering(count_tokens)
    records, upstream_rejected = read_records(layout, sources)
    rows_in = len(records) + len(upstream_rejected)
    records = [presented_like_commented(r) for r in records]
    # Several comments on one hunk: one record, so one prompt and one example with every finding.
    merge = merge_comments_on_hunks(records, gates.hunk_comments)
    records, folded = merge.records, folded_rows(merge)
    # The cheap gates first: the teacher is only paid for rows that can still be kept.
    worth_asking, before_teacher = gate_before_teacher(records, gates, count_tokens)
    before_teacher = folded + before_teacher
    # A hunk reviewers let pass needs no teacher: its gold answer is the empty review, whatever a model would add.
    to_ask = [r for r in worth_asking if not r.clean]
    info(
        f"enriching {len(to_ask)} of {len(records)} records with the teacher "
        f"({len(worth_asking) - len(to_ask)} reviewed-and-passed hunks need none; {len(before_teacher)} quarantined "
        f"before it: {dict(Counter(q.reason for q in before_teacher))})"
    )
    asked, enrichment = teacher.enrich(to_ask, cache_factory=open_cache, progress=info, budget=budget)
    answers = iter(asked)
    candidates = [
        Candidate(r, NO_ISSUES.model_copy(deep=True), CLEAN_TEACHER) if r.clean else next(answers) for r in worth_asking
    ]
    if enrichment.teacher_warning:
        warn(enrichment.teacher_warning)
    outcome = apply_quality_gates(candidates, upstream_rejected, gates, count_tokens, before_teacher=before_teacher)
    if len(outcome.kept) + len(outcome.quarantined) != rows_in:
        raise RuntimeError(
            f"row accounting broken: {rows_in} in, {len(outcome.kept)} kept + {len(outcome.quarantined)} quarantined"
        )

    frozen = freeze_test_split(
        SharedArtifacts(layout.store),
        outcome.kept,
        iteration=layout.key,
        run_id=run_id,
        min_test_rows=limits.min_test_rows,
        refreeze_reason=refreeze_reason,
        warn=warn,
        error=error,
    )
    if frozen.rows is not None:
        hold_out_test_split_changes(outcome, frozen.rows)
    if recipe.curriculum:
        # Stable: equal difficulty keeps the input order, so reruns write the same file.
        outcome.kept.sort(key=lambda e: e.difficulty)
    splits = {name: [e.model_dump(mode="json") for e in outcome.kept if e.split == name] for name in SPLITS}
    # The test split is the frozen one, row for row, so every iteration is scored on the same rows (or, when
    # nothing could be frozen, this run's candidates, which the blocking checks then refuse).
    if frozen.rows is not None:
        splits["test"] = frozen.rows
    write_gold_set(layout, splits, outcome)

    train = [e for e in outcome.kept if e.split == "train"]
    train_tokens = sum(
        count_tokens([(student_user_prompt(e.path, e.language, e.diff_hunk), render_review(e.review)) for e in train])
    )
    estimate = estimate_training_cost(recipe, train_tokens)
    info(
        f"training {recipe.label} on {train_tokens} tokens: {estimate.gpu_hours} GPU-hours, ${estimate.cost_usd} "
        f"({estimate.assumptions})"
    )
    comments_on_hunk = {r.record_id: len(r.comments) for r in records if r.also_on_hunk}
    return GoldBuild(rows_in, outcome, enrichment, frozen, splits, train_tokens, estimate, comments_on_hunk)


def hold_out_test_split_changes(outcome: GateOutcome, frozen_rows: list[dict]) -> None:
    """Move the kept examples that extend a frozen test change, or that one extends, to the quarantine."""
    held = held_out_of_training(outcome.kept, frozen_rows)
    if not held:
        return
    ids = {id(e) for e in held}
    outcome.kept = [e for e in outcome.kept if id(e) not in ids]
    outcome.quarantined += [
        QuarantinedRow(
            row_id=e.record_id,
            source=e.source,
            reason=QuarantineReason.TEST_SPLIT_CHANGE,
            field="diff_hunk",
            detail="extends, or is extended by, a hunk of the frozen test split",
        )
        for e in held
    ]


def write_gold_set(
    layout: IterationArtifacts,
    splits: dict[str, list[dict]],
    outcome: GateOutcome,
) -> None:
    store = layout.store
    for name in SPLITS:
        store.write_table(layout.gold_split(name), splits[name], tables.GOLD)
    store.write_table(
        layout.gold_quarantine, [q.model_dump(mode="json") for q in outcome.quarantined], tables.QUARANTINE
    )


def read_gold_split(layout: IterationArtifacts, split: Split) -> list[GoldExample]:
    return [GoldExample.model_validate(r) for r in layout.store.read_table(layout.gold_split(split))]
