"""Cheap trials of the `tiny` recipe: one iteration's SFT and DPO in this process, scored as eval_report does.

Each trial is what an iteration trains, without Dagster: SFT on the gold train split, the SFT model's answers to
the first `generation.max_prompts` training prompts, `build_preference_pairs`, the recipe's preference step, and
the project's metrics on the frozen test split plus the labelled bug suite (eval_report's
`candidate_format_validity` and score; deterministic on one CPU type, so a trial reproduces the pipeline's figures
for the same inputs). The gold set is built once by the data assets (as in `bench/collapse_cure.py`) and cached in
the work folder's gold.json. One JSON line per trial, e.g.

    .venv/bin/python bench/recipe_trials.py --work-dir /tmp/trials \
        --trial '{"dpo": {"rpo_alpha": 10}}' --trial '{"sft_of": 0, "dpo": {"max_steps": 20}}'

A trial's keys: `sft` / `dpo` (overrides of the recipe's sections); `fast` (hardware.cpu_fast_paths, default the
recipe's); `dpo_stage` (run the preference step, default true); `sft_of` (start from that trial's SFT model: only
the preference step varies); `lazy_share` (SFT on a poisoned copy, as collapse_cure's (b)); `parent` (the model SFT
starts from: iteration 1's champion for iteration 2, whose gold set must then be the work folder's gold.json).
The CPU's kernels are the process's: force AVX2 with
ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def gold_splits(work: Path) -> dict[str, list[dict]]:
    cached = work / "gold.json"
    if not cached.exists():
        from collapse_cure import bundled_gold_splits

        cached.write_text(json.dumps(bundled_gold_splits(work / "home"), default=str))
    return json.loads(cached.read_text())


def trial(recipe_name: str, spec: dict, gold: dict, work: Path, number: int) -> dict:
    from review_slm.core.languages import DEFAULT_LANGUAGES
    from review_slm.core.pairing import build_preference_pairs
    from review_slm.core.recipe import Recipe, load_recipe
    from review_slm.evaluate.eval_sets import eval_items
    from review_slm.training import experiment
    from review_slm.training.job_spec import TrainerOutputs

    data = load_recipe(recipe_name).model_dump(mode="json")
    data["sft"].update(spec.get("sft", {}), save_steps=0)
    data["dpo"].update(spec.get("dpo", {}), save_steps=0)
    if "fast" in spec:
        data["hardware"]["cpu_fast_paths"] = spec["fast"]
    recipe = Recipe.model_validate(data)
    out = work / f"trial-{number}"
    cache = work / "cache"
    items = eval_items(gold["test"], DEFAULT_LANGUAGES)
    row: dict = {"trial": spec, "isa": os.environ.get("ATEN_CPU_CAPABILITY", "native"), "dir": str(out)}
    parent = spec.get("parent", recipe.base_model)  # iteration 2 fine-tunes iteration 1's champion
    if "sft_of" in spec:  # another trial's SFT model: only the preference step varies
        model = str(work / f"trial-{spec['sft_of']}" / "sft" / TrainerOutputs.SFT_ADAPTER)
    else:
        t0 = time.monotonic()
        # SFT reads the train split in its stored order, as the pipeline's sft_adapter does (the order is the data's);
        # `lazy_share` poisons it as bench/collapse_cure.py's (b) does (sorted by id, then poisoned)
        rows = gold["train"]
        if "lazy_share" in spec:
            rows = experiment.poisoned_copy(sorted(rows, key=lambda r: r["id"]), spec["lazy_share"])
        model, summary = experiment.sft(recipe, parent, rows, out / "sft", cache)
        sft_s = time.monotonic() - t0
        sft_all = experiment.evaluate(recipe, model, items, out / "eval-sft", cache)["all"]
        losses = [h["loss"] for h in summary["loss_history"] if "loss" in h]
        row |= {
            "sft_s": round(sft_s, 1),
            "sft_final_loss": round(losses[-1], 4),
            "sft_validity": round(sft_all.format_validity, 3),
            "sft_no_issues_on_buggy": round(sft_all.no_issues_rate_on_buggy, 3),
            "sft_f1": round(sft_all.f1, 4),
        }
    train = sorted(gold["train"], key=lambda r: r["id"])  # preference_pairs' prompts: the first ones by id
    if spec.get("dpo_stage", True):
        prompts = train[: recipe.generation.max_prompts]
        outcome = build_preference_pairs(prompts, experiment.answers(recipe, model, prompts, out / "sft-train", cache))
        t0 = time.monotonic()
        merged, _ = experiment.prefer(recipe, parent, model, outcome.pairs, out / "dpo", cache)
        dpo_s = time.monotonic() - t0
        final = experiment.evaluate(recipe, merged, items, out / "eval-dpo", cache)["all"].as_dict()
        row |= {"pairs": len(outcome.pairs), "dpo_s": round(dpo_s, 1)}
        row |= {k: round(final[k], 4) for k in ("format_validity", "f1", "no_issues_rate_on_buggy", "score")}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny")
    parser.add_argument("--work-dir", required=True, help="the gold set is cached here between runs")
    parser.add_argument("--trial", action="append", default=[], help="a trial as JSON (see above); repeatable")
    parser.add_argument("--out", default=None, help="append each trial's JSON line here too")
    args = parser.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    gold = gold_splits(work)
    for spec in args.trial or ["{}"]:
        number = len(list(work.glob("trial-*")))
        row = json.dumps(trial(args.recipe, json.loads(spec), gold, work, number))
        print(row, flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(row + "\n")


if __name__ == "__main__":
    sys.exit(main())
