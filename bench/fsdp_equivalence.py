"""Sharded training (FSDP2, `hardware.sharding: fsdp`) on CPU with gloo: do two ranks train like one?

Through the real `sft_adapter` asset and training entrypoint (the tests' harness), on the bundled bug suite,
with the tiny student: for full fine-tuning and for LoRA, one run on one rank (micro-batch 2, a process group
of one) and one on two ranks under torchrun (micro-batch 1: the same global batch), each step's loss side by
side. The 20 examples pack into 10 rows: up to 5 steps stay inside the first epoch, where no rank repeats rows
to even out a short last batch (past it, two ranks see other rows than one, and the losses part).
Then resume across world sizes: two ranks diverge at the last step (an injected NaN: the asset fails without
a retry and keeps its sharded checkpoints), and the same iteration rerun on one rank resumes the two-rank
checkpoint and must end at the one-rank run's loss and weights. Ends with
`fsdp 2 ranks vs 1: max loss diff X, resume 2->1 ok` (or what failed).

    PYTHONPATH=. .venv/bin/python bench/fsdp_equivalence.py [--steps 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WEIGHT_FILES = {"full": "model.safetensors", "lora": "adapter_model.safetensors"}


def main() -> None:
    import dagster as dg
    from safetensors.torch import load_file

    from review_slm.resources.artifact_layout import iteration
    from review_slm.resources.launcher import LocalProcessLauncher
    from review_slm_tests.training.conftest import Harness, sft_adapter, tiny_recipe

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="SFT steps of 2 packed rows (5 in the first epoch)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        tmp_path = Path(tmp)
        harness = Harness(tmp_path / "home", tmp_path / "models", tmp_path, instance)
        os.environ["REVIEW_SLM_HOME"] = str(tmp_path / "home")
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        two = LocalProcessLauncher(nproc_per_node=2)
        diffs, failures, keys = [], [], iter(f"iter-{i:04d}" for i in range(1, 100))

        def recipe(finetuning: str, micro: int) -> Path:
            shape = {"finetuning": finetuning, "hardware.sharding": "fsdp", "sft.max_steps": args.steps}
            return tiny_recipe(tmp_path, **shape, **{"sft.save_steps": 1, "sft.per_device_batch_size": micro})

        def train(finetuning: str, micro: int, launcher=None, key: str | None = None) -> tuple[str, bool]:
            key = key or next(keys)
            harness.write_upstream(key)
            return key, harness.materialize(sft_adapter, key, recipe(finetuning, micro), launcher).success

        def weights(key: str, finetuning: str) -> dict:
            path = harness.artifacts.local_path(iteration(harness.artifacts, key).sft_adapter)
            return load_file(str(path / WEIGHT_FILES[finetuning]))

        print("| fine-tuning | step | 1 rank | 2 ranks | diff |\n|---|---:|---:|---:|---:|")
        references = {}
        for finetuning in ("full", "lora"):
            (one, ok1), (two_key, ok2) = train(finetuning, 2), train(finetuning, 1, two)
            if not (ok1 and ok2):
                failures.append(f"{finetuning}: a run failed (1 rank: {ok1}, 2 ranks: {ok2})")
                continue
            references[finetuning] = one
            a, b = harness.losses("sft_adapter", one), harness.losses("sft_adapter", two_key)
            for step in sorted(a):
                diff = abs(a[step] - b.get(step, float("nan")))
                diffs.append(diff)
                print(f"| {finetuning} | {step} | {a[step]:.6f} | {b.get(step, float('nan')):.6f} | {diff:.2e} |")
            w1, w2 = weights(one, finetuning), weights(two_key, finetuning)
            print(f"| {finetuning} | weights | | | {max((w1[n] - w2[n]).abs().max().item() for n in w1):.2e} |")

        resume = "not run"
        if "full" in references:
            os.environ["REVIEW_SLM_FAULT"] = f"sft:nan@{args.steps}"
            key, diverged = train("full", 1, two)
            del os.environ["REVIEW_SLM_FAULT"]
            _, resumed = train("full", 2, key=key)
            meta = harness.metadata("sft_adapter", key)
            ref = references["full"]
            losses = harness.losses("sft_adapter", key)
            last = losses.get(args.steps, float("nan")) - harness.losses("sft_adapter", ref)[args.steps]
            wdiff = max((weights(key, "full")[n] - t).abs().max().item() for n, t in weights(ref, "full").items())
            print(
                f"\nresume 2->1: diverged run failed: {not diverged}, resumed: {resumed}, resumed_from_step "
                f"{meta.get('resumed_from_step')} at world size {meta.get('world_size')}; last-step loss diff "
                f"{abs(last):.2e}, max weight diff {wdiff:.2e} vs the uninterrupted 1-rank run"
            )
            ok = not diverged and resumed and meta.get("resumed_from_step") == args.steps - 1
            ok = ok and abs(last) < 1e-4 and wdiff < 1e-4
            resume = "ok" if ok else "FAILED"
        for failure in failures:
            print(failure)
        worst = f"{max(diffs):.1e}" if diffs else "n/a (no run finished)"
        print(f"fsdp 2 ranks vs 1: max loss diff {worst}, resume 2->1 {resume}")


if __name__ == "__main__":
    main()
