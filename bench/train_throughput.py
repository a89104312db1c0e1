"""Training throughput of padded vs packed batches, on the bundled data, with the real trainers.

SFT: the same examples, once padded per micro-batch and once BFD-packed (padding-free rows with
per-example position ids). DPO: pairs in random order vs sorted by length, so each micro-batch pads
to similar lengths (TRL 1.16's DPO has no padding-free path). For each it prints non-padding tokens
per second and the share of non-padding tokens in what the model was fed, then the ratios; on CUDA
with the recipe's hardware spec it also prints model FLOPs utilisation (4·N FLOPs per token for LoRA,
6·N for full fine-tuning).

    .venv/bin/python bench/train_throughput.py [--recipe tiny] [--steps 12] [--repeat 2] [--json PATH]

Gold rows are the bundled bug suite (labelled reviews) plus the bundled supplement's comments as
one-finding reviews: realistic prompt and answer lengths, without running the data assets.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from importlib import resources
from pathlib import Path

import results

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bundled_gold_rows() -> list[dict]:
    data = resources.files("review_slm.data")
    rows = [
        json.loads(line) for line in (data / "bug_suite" / "bug_suite.jsonl").read_text().splitlines() if line.strip()
    ]
    for line in (data / "hf_supplement" / "code_review_supplement.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        src = json.loads(line)
        if src.get("lang") not in ("go", "python", "yaml") or not src.get("patch") or not src.get("msg"):
            continue
        finding = {
            "path": src["path"],
            "line": 1,
            "severity": "medium",
            "category": "correctness",
            "comment": src["msg"],
            "suggestion": "",
        }
        rows.append(
            {
                "id": src["id"],
                "language": src["lang"],
                "path": src["path"],
                "diff_hunk": src["patch"],
                "review": {"findings": [finding], "summary": src["msg"][:120]},
            }
        )
    return rows


def preference_pairs(rows: list[dict]) -> list[dict]:
    from review_slm.core.lazy import NO_ISSUES
    from review_slm.core.prompts import render_review, student_messages
    from review_slm.core.schema import Review

    lazy = render_review(NO_ISSUES)
    return [
        {
            "prompt": student_messages(r["path"], r["language"], r["diff_hunk"]),
            "chosen": [{"role": "assistant", "content": render_review(Review.model_validate(r["review"]))}],
            "rejected": [{"role": "assistant", "content": lazy}],
        }
        for r in rows
    ]


def batch_token_counts(trainer, steps: int) -> tuple[int, int]:
    """(non-padding tokens, all token positions) over the micro-batches of `steps` optimizer steps.

    A token is padding when it is the pad token, which never occurs in text (pad != eos)."""
    pad = trainer.processing_class.pad_token_id
    real = total = 0
    micro_batches = steps * trainer.args.gradient_accumulation_steps
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i >= micro_batches:
            break
        for key in ("input_ids", "prompt_ids", "chosen_ids", "rejected_ids"):
            if key in batch:
                total += batch[key].numel()
                real += int((batch[key] != pad).sum())
    return real, total


def timed_train(trainer, steps: int) -> float:
    trainer.args.max_steps = steps
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def measure(label: str, make_trainer, steps: int, repeat: int, recipe) -> dict:
    from review_slm.core.cost import mfu
    from review_slm.training.models import device

    best = None
    for _ in range(repeat):
        trainer = make_trainer()
        real, total = batch_token_counts(trainer, steps)
        seconds = timed_train(trainer, steps)
        tokens = trainer.state.num_input_tokens_seen or real
        row = {
            "mode": label,
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds,
            "non_padding_share": real / total if total else 1.0,
        }
        if device() == "cuda" and recipe.hardware.peak_tflops:
            params = sum(p.numel() for p in trainer.model.parameters())
            row["mfu"] = mfu(params, recipe.finetuning == "full", row["tokens_per_s"], recipe.hardware.peak_tflops)
        best = row if best is None or row["tokens_per_s"] > best["tokens_per_s"] else best
    return best


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(
        f"{'mode':<22}{'tokens/s':>12}{'non-padding':>14}{'tokens':>10}{'seconds':>10}"
        + ("{:>8}".format("MFU") if "mfu" in rows[0] else "")
    )
    for r in rows:
        mfu = f"{r['mfu']:>8.3f}" if "mfu" in r else ""
        print(
            f"{r['mode']:<22}{r['tokens_per_s']:>12.0f}{r['non_padding_share']:>14.3f}{r['tokens']:>10}{r['seconds']:>10.2f}{mfu}"
        )
    base, better = rows
    print(
        f"ratio {better['mode']} / {base['mode']}: throughput x{better['tokens_per_s'] / base['tokens_per_s']:.2f}, "
        f"non-padding share {better['non_padding_share']:.3f} vs {base['non_padding_share']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="tiny", help="recipe name or YAML path (the real recipe on a GPU)")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps timed per mode")
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode; the fastest counts")
    parser.add_argument(
        "--cache-dir", default=str(Path(os.environ.get("REVIEW_SLM_HOME", ".review_slm")) / "cache" / "models")
    )
    results.add_json_option(parser)
    args = parser.parse_args()

    import transformers
    from datasets import Dataset

    from review_slm.core import tables
    from review_slm.core.recipe import load_recipe
    from review_slm.training.data import dpo_rows
    from review_slm.training.experiment import write_rows
    from review_slm.training.job_spec import JobSpec
    from review_slm.training.methods import dpo, sft
    from review_slm.training.methods.common import trainer_kwargs
    from review_slm.training.models import device, load_policy, load_tokenizer, resolve_model_ref

    transformers.logging.set_verbosity_error()
    recipe = load_recipe(args.recipe)
    rows = bundled_gold_rows()
    work = Path(tempfile.mkdtemp(prefix="train-throughput-"))
    train_file = write_rows(work / "train.parquet", rows, tables.GOLD)  # Parquet, as the gold_set asset writes it
    spec = JobSpec(
        task="sft",
        recipe=recipe,
        parent_model=recipe.base_model,
        cache_dir=args.cache_dir,
        output_dir=str(work / "out"),
        train_file=str(train_file),
    )
    print(
        f"recipe {recipe.label} on {device()}: {len(rows)} bundled examples, max_length {recipe.sft.max_length}, "
        f"micro-batch {recipe.sft.per_device_batch_size}, {args.steps} steps per mode"
    )

    def sft_trainer(packing: bool):
        stage = recipe.sft.model_copy(update={"packing": packing, "save_steps": 0, "logging_steps": 10_000})
        return lambda: sft.build_trainer(
            # no line-offset copies: the supplement rows' findings sit at line 1, which no shifted hunk shows
            spec,
            recipe.model_copy(update={"sft": stage, "curriculum": False, "line_offset_copies": 0}),
            callbacks=[],
        )

    sft_rows = [
        measure("padded", sft_trainer(False), args.steps, args.repeat, recipe),
        measure("packed (BFD)", sft_trainer(True), args.steps, args.repeat, recipe),
    ]
    print_table("SFT", sft_rows)

    # DPO on the SFT policy: a LoRA adapter saved from one short SFT run.
    policy = work / "policy"
    trainer = sft_trainer(False)()
    timed_train(trainer, 1)
    trainer.save_model(str(policy))
    model_path, revision = resolve_model_ref(recipe.base_model, recipe, Path(args.cache_dir))
    tokenizer = load_tokenizer(model_path, revision)
    pairs = preference_pairs(rows)

    def dpo_trainer(by_length: bool):
        ordered = sorted(pairs, key=lambda p: len(json.dumps(p))) if by_length else pairs
        stage = recipe.dpo.model_copy(update={"save_steps": 0, "logging_steps": 10_000})
        kwargs = trainer_kwargs(stage, work / "dpo", sequential=by_length)
        return lambda: dpo.make_trainer(
            load_policy(model_path, revision, policy, recipe.quantization, trainable=True),
            kwargs,
            Dataset.from_list(dpo_rows(ordered)),
            tokenizer,
            [],
            recipe,
        )

    dpo_rows_measured = [
        measure("padded (random order)", dpo_trainer(False), args.steps, args.repeat, recipe),
        measure("length-sorted batches", dpo_trainer(True), args.steps, args.repeat, recipe),
    ]
    print_table("DPO", dpo_rows_measured)
    tables = {
        stage: [_rounded(r) for r in measured] for stage, measured in (("SFT", sft_rows), ("DPO", dpo_rows_measured))
    }
    summary = {
        "recipe": recipe.label,
        "device": device(),
        "examples": len(rows),
        "steps": args.steps,
        "sft_packed_over_padded": round(sft_rows[1]["tokens_per_s"] / sft_rows[0]["tokens_per_s"], 2),
        "dpo_sorted_over_random": round(dpo_rows_measured[1]["tokens_per_s"] / dpo_rows_measured[0]["tokens_per_s"], 2),
    }
    results.write(args.json, results.results("train_throughput", tables, summary))


def _rounded(row: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


if __name__ == "__main__":
    main()
