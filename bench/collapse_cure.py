"""Collapse and cure, at miniature scale: the headline claim of the pipeline, reproduced in one run.

(a) SFT of the recipe's base on the clean gold train split; (b) SFT on a poisoned copy in which a share
of the buggy examples answer "No issues found." (the collapse a lazy teacher or an "LGTM"-heavy dataset
teaches); (c) the recipe's preference step (DPO, or ORPO) from (b) on pairs built by the pipeline's own
`build_preference_pairs` from (b)'s answers to the training prompts. Each model is scored with the
project's metrics on the frozen test split plus the labelled bug suite.

The gold set is built by the real data assets on the bundled data (snapshot + supplement, the rule-based
teacher), in a temporary home. Prints a table, writes a PNG chart, and ends with exactly one line:

    collapse <no-issues rate after b> -> cure <no-issues rate after c>, validity <format validity after c>, clean
    accuracy <clean-diff accuracy after c>

(clean accuracy: the share of the clean diffs, those of the frozen test split and of the bug suite, that (c) answers
with "No issues found."; the gold set holds reviewed-and-passed hunks, capped by `clean_share`.) Before it, the pairs'
balance (how many choose the empty review) and each model's answers by shape (`scoring.answer_shape`) say why.

    .venv/bin/python bench/collapse_cure.py [--recipe tiny] [--lazy-share 0.6] [--chart collapse_cure.png]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import results

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STAGES = {"a": "SFT on clean gold", "b": "SFT on poisoned gold", "c": "(b) + preference step"}
SHOWN = ("format_validity", "f1", "no_issues_rate_on_buggy", "clean_accuracy", "score")


def bundled_gold_splits(home: Path, gold_config: dict | None = None) -> dict[str, list[dict]]:
    """The gold set of the embedded default, built by the data assets themselves (no teacher); `gold_config`
    overrides `gold_set`'s run config (e.g. clean_share)."""
    os.environ["REVIEW_SLM_HOME"] = str(home)
    import dagster as dg

    from review_slm import definitions
    from review_slm.partitions import iteration_partitions
    from review_slm.resources.teacher import HumanCommentTeacher

    resources = {**definitions.local_resources(), "teacher": HumanCommentTeacher()}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(iteration_partitions.name, ["iter-0001"])
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if gold_config:
        quiet["ops"] = {"gold_set": {"config": gold_config}}
    result = dg.materialize(
        [definitions.mined_reviews, definitions.hf_supplement, definitions.gold_set],
        partition_key="iter-0001",
        resources=resources,
        instance=instance,
        raise_on_error=True,
        run_config=quiet,
    )
    assert result.success
    return gold_splits_in(home, ("train", "test"))


def gold_splits_in(home: Path, names: tuple[str, ...]) -> dict[str, list[dict]]:
    """The gold splits `bundled_gold_splits` wrote under `home` (a work dir's `home`)."""
    from review_slm.resources.artifact_layout import iteration
    from review_slm.resources.artifacts import LocalArtifactStore

    layout = iteration(LocalArtifactStore(root=str(home / "artifacts")), "iter-0001")
    return {name: layout.store.read_table(layout.gold_split(name)) for name in names}


def shapes(rows: list[dict], answers: dict[str, str]) -> dict[str, int]:
    """How many answers are the empty review, findings, "No issues found." then findings, or invalid."""
    from collections import Counter

    from review_slm.core.scoring import answer_shape

    return dict(Counter(answer_shape(answers[r["id"]], r["path"]) for r in rows if r["id"] in answers))


def chart(rows: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = ("no_issues_rate_on_buggy", "format_validity", "f1", "clean_accuracy")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / len(rows)
    for k, (stage, values) in enumerate(rows.items()):
        xs = [i + k * width for i in range(len(metrics))]
        bars = ax.bar(xs, [values[m] for m in metrics], width, label=f"({stage}) {STAGES[stage]}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(
        [i + width * (len(rows) - 1) / 2 for i in range(len(metrics))], [m.replace("_", " ") for m in metrics]
    )
    ax.set_ylim(0, 1.1)
    ax.set_title("Collapse into 'no issues found', and its cure (test split + bug suite)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny", help="recipe name or YAML path")
    parser.add_argument(
        "--lazy-share", type=float, default=0.6, help='share of the training rows that answer "No issues found." in (b)'
    )
    parser.add_argument("--chart", default="collapse_cure.png", help="where the PNG chart goes")
    parser.add_argument(
        "--gold",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a gold_set config value (JSON), e.g. --gold clean_share=0.3 --gold hunk_comments=separate",
    )
    parser.add_argument("--work-dir", default=None, help="keep the models and answers here (default: a temp folder)")
    results.add_json_option(parser)
    args = parser.parse_args()

    import transformers

    from review_slm.core import tables
    from review_slm.core.languages import DEFAULT_LANGUAGES
    from review_slm.core.metrics import markdown_table
    from review_slm.core.pairing import LAZY_ANSWER, build_preference_pairs
    from review_slm.core.recipe import load_recipe
    from review_slm.evaluate.eval_sets import eval_items
    from review_slm.training import experiment
    from review_slm.training.models import device

    transformers.logging.set_verbosity_error()
    started = time.monotonic()
    recipe = load_recipe(args.recipe)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="collapse-cure-"))
    cache = work / "cache"
    gold_config = {key: json.loads(value) for key, value in (kv.split("=", 1) for kv in args.gold)}
    gold = bundled_gold_splits(work / "home", gold_config)
    items = eval_items(gold["test"], DEFAULT_LANGUAGES)
    train = sorted(gold["train"], key=lambda r: r["id"])
    poisoned = experiment.poisoned_copy(train, args.lazy_share)
    clean_rows = sum(bool(r.get("clean")) for r in train)
    print(
        f"recipe {recipe.label} ({recipe.finetuning}, {recipe.preference_method}) on {device()}: {len(train)} train "
        f"rows "
        f"({sum(not r['review']['findings'] for r in poisoned)} of them lazy after poisoning, was "
        f"{sum(not r['review']['findings'] for r in train)}, {clean_rows} of them reviewed-and-passed hunks), "
        f"{len(items)} evaluation items; gold_set config {gold_config or 'default'}; work dir {work}",
        flush=True,
    )

    def timed(label: str, fn):
        t0 = time.monotonic()
        out = fn()
        print(f"  {label}: {time.monotonic() - t0:.0f} s", flush=True)
        return out

    base = recipe.base_model
    model_a, _ = timed("(a) SFT on clean gold", lambda: experiment.sft(recipe, base, train, work / "a", cache))
    model_b, _ = timed("(b) SFT on poisoned gold", lambda: experiment.sft(recipe, base, poisoned, work / "b", cache))
    prompts = train[: recipe.generation.max_prompts]
    answers_b = timed(
        "(b) answers the training prompts",
        lambda: experiment.answers(recipe, model_b, prompts, work / "b-train", cache),
    )
    outcome = build_preference_pairs(prompts, answers_b)
    chosen_empty = sum(p["chosen"][0]["content"] == LAZY_ANSWER for p in outcome.pairs)
    print(
        f"  pairs: {len(outcome.pairs)} ({dict(outcome.kinds)}) from {len(prompts)} prompts "
        f"({sum(bool(r.get('clean')) for r in prompts)} clean); chosen the empty review in {chosen_empty}, "
        f"findings in {len(outcome.pairs) - chosen_empty}; (b) on the prompts: {shapes(prompts, answers_b)}",
        flush=True,
    )
    model_c, summary_c = timed(
        f"(c) {recipe.preference_method.upper()} from (b)",
        lambda: experiment.prefer(recipe, base, model_b, outcome.pairs, work / "c", cache),
    )

    scores = {}
    for stage, model in (("a", model_a), ("b", model_b), ("c", model_c)):
        scores[stage] = timed(
            f"evaluate ({stage})",
            lambda m=model, s=stage: experiment.evaluate(recipe, m, items, work / f"eval-{s}", cache),
        )
    overall = {
        f"({s}) {STAGES[s]}": {k: v for k, v in r["all"].as_dict().items() if k in SHOWN or k == "items"}
        for s, r in scores.items()
    }
    print("\n" + markdown_table(overall))
    by_set = {
        f"({s}) {name}": {k: getattr(m, k) for k in SHOWN}
        for s, r in scores.items()
        for name, m in r.items()
        if name != "all"
    }
    print("\n" + markdown_table(by_set))
    # Why clean accuracy is what it is: what each model says, whatever the hunk (scoring.answer_shape).
    for stage in scores:
        said = {a["id"]: a["answer"] for a in tables.read_parquet(work / f"eval-{stage}" / "answers.parquet")}
        print(f"({stage}) answers on the {len(items)} evaluation items: {shapes(items, said)}")
    chart({s: r["all"].as_dict() for s, r in scores.items()}, Path(args.chart))
    print(f"\nchart: {args.chart}; {time.monotonic() - started:.0f} s in all")
    b, c = scores["b"]["all"], scores["c"]["all"]
    print(
        f"collapse {b.no_issues_rate_on_buggy:.2f} -> cure {c.no_issues_rate_on_buggy:.2f}, validity "
        f"{c.format_validity:.2f}, clean accuracy {c.clean_accuracy:.2f}"
    )
    summary = {
        "recipe": recipe.label,
        "lazy_share": args.lazy_share,
        "gold_config": gold_config,
        "train_rows": len(train),
        "clean_train_rows": clean_rows,
        "pairs": len(outcome.pairs),
        "collapse_no_issues_rate_b": round(b.no_issues_rate_on_buggy, 3),
        "cure_no_issues_rate_c": round(c.no_issues_rate_on_buggy, 3),
        "validity_c": round(c.format_validity, 3),
        "clean_accuracy_c": round(c.clean_accuracy, 3),
        "seconds": round(time.monotonic() - started),
    }
    report_tables = {
        "all evaluation items": [{"model": k, **_rounded(v)} for k, v in overall.items()],
        "per evaluation set": [{"model": k, **_rounded(v)} for k, v in by_set.items()],
    }
    results.write(args.json, results.results("collapse_cure", report_tables, summary))


def _rounded(metrics: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()}


if __name__ == "__main__":
    sys.exit(main())
