"""GRPO on the tiny student after its SFT: does the rubric's reward rise?

SFT of the recipe's base on the embedded default's gold train split (built by the real data assets,
as in `bench/collapse_cure.py`), then `--steps` GRPO steps (TRL `GRPOTrainer`, the recipe's `grpo`
section and reward weights) on the same bundled train prompts, through the training method the
entrypoint runs. Prints the mean weighted reward of each step (and each reward function's mean),
the greedy format validity on the frozen test split + bug suite before and after GRPO, and ends with
exactly one line:

    reward <first> -> <last>, validity <before> -> <after>

`<first>` and `<last>` are the mean reward of the first and of the last `--window` steps (one step's
mean over 16 sampled answers swings too much to compare two single steps).

    .venv/bin/python bench/grpo_reward.py [--recipe tiny-grpo] [--steps 40] [--window 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from collapse_cure import bundled_gold_splits  # noqa: E402 - the same gold set, built the same way


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny-grpo", help="recipe name or YAML path (its grpo section is used)")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps (default: the recipe's grpo.max_steps)")
    parser.add_argument("--window", type=int, default=5, help="steps averaged for the first and the last reward")
    parser.add_argument("--work-dir", default=None, help="keep the models here (default: a temp folder)")
    parser.add_argument("--sft-model", default=None, help="start from this SFT model folder instead of training one")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a grpo setting for tuning, e.g. --set learning_rate=1e-3 --set temperature=0.8",
    )
    args = parser.parse_args()

    import transformers
    import yaml

    from review_slm.core.languages import DEFAULT_LANGUAGES
    from review_slm.core.recipe import load_recipe
    from review_slm.evaluate.eval_sets import eval_items
    from review_slm.training import experiment
    from review_slm.training.models import device

    transformers.logging.set_verbosity_error()
    started = time.monotonic()
    recipe = load_recipe(args.recipe)
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.steps:
        overrides["max_steps"] = args.steps
    recipe = recipe.model_copy(update={"grpo": recipe.grpo.model_validate({**recipe.grpo.model_dump(), **overrides})})
    g = recipe.grpo
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="grpo-reward-"))
    cache = work / "cache"
    gold = bundled_gold_splits(work / "home")
    items = eval_items(gold["test"], DEFAULT_LANGUAGES)
    train = sorted(gold["train"], key=lambda r: r["id"])
    prompts_per_step = g.per_device_batch_size * g.gradient_accumulation_steps // g.num_generations
    print(
        f"recipe {recipe.label} on {device()}: {len(train)} train prompts, {g.max_steps} GRPO steps of "
        f"{prompts_per_step} prompts x {g.num_generations} answers, lr {g.learning_rate:g}, temperature "
        f"{g.temperature:g}, beta {g.beta:g}, loss {g.loss_type}, weights {g.reward_weights}; work dir {work}",
        flush=True,
    )

    base = recipe.base_model
    if args.sft_model:
        sft_model = args.sft_model
    else:
        t0 = time.monotonic()
        sft_model, _ = experiment.sft(recipe, base, train, work / "sft", cache)
        print(f"  SFT ({recipe.sft.max_steps} steps): {time.monotonic() - t0:.0f} s", flush=True)
    before = experiment.evaluate(recipe, sft_model, items, work / "eval-sft", cache)["all"]
    t0 = time.monotonic()
    grpo_model, summary = experiment.grpo(recipe, base, sft_model, train, work / "grpo", cache)
    grpo_s = time.monotonic() - t0
    after = experiment.evaluate(recipe, grpo_model, items, work / "eval-grpo", cache)["all"]

    steps = [h for h in summary["loss_history"] if "reward" in h]
    per_func = sorted({k for h in steps for k in h if k.startswith("rewards_") and k.endswith("_mean")})
    names = [k.removeprefix("rewards_").removesuffix("_mean") for k in per_func]
    print("\n| step | reward | " + " | ".join(names) + " | tokens |")
    print("|---|---|" + "---|" * len(per_func) + "---|")
    for h in steps:
        cells = " | ".join(f"{h[k]:.3f}" if k in h else "" for k in per_func)
        print(f"| {h['step']} | {h['reward']:.3f} | {cells} | {h.get('completions_mean_length', 0):.0f} |")
    rewards = [h["reward"] for h in steps]
    w = max(1, min(args.window, len(rewards) // 2))
    first, last = sum(rewards[:w]) / w, sum(rewards[-w:]) / w
    print(
        f"\nGRPO {len(steps)} steps: {grpo_s:.0f} s; greedy on {len(items)} evaluation items: "
        f"validity {before.format_validity:.2f} -> {after.format_validity:.2f}, "
        f"f1 {before.f1:.3f} -> {after.f1:.3f}, "
        f"no-issues on buggy {before.no_issues_rate_on_buggy:.2f} -> {after.no_issues_rate_on_buggy:.2f}, "
        f"clean accuracy {before.clean_accuracy:.2f} -> {after.clean_accuracy:.2f}; "
        f"{time.monotonic() - started:.0f} s in all"
    )
    print(f"reward {first:.3f} -> {last:.3f}, validity {before.format_validity:.2f} -> {after.format_validity:.2f}")


if __name__ == "__main__":
    sys.exit(main())
