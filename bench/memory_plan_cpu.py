"""The memory plan against a measured peak on CPU: full fine-tuning of random-weight Qwen2 models in float32.

Measures what training adds on top of the loaded weights (peak RSS during 3 AdamW steps minus the RSS
once the model is built): gradients, AdamW states, activations and logits. The plan's terms for the
same (compares its total minus the fp32 weights). No GPU figure exists yet: this is the only check of
the activation and logits arithmetic against a real run. Ends with `plan X GiB vs measured Y GiB` per shape.

    PYTHONPATH=. .venv/bin/python bench/memory_plan_cpu.py
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from review_slm.core.recipe import load_recipe
from review_slm.training.memory_plan import GIB, plan_memory

SHAPES = {
    # the tiny recipe's model at its SFT shape (1024 tokens x 2)
    "tiny": dict(
        vocab_size=2048, hidden_size=128, intermediate_size=256, num_hidden_layers=2, heads=4, kv=2, s=1024, b=2
    ),
    # big enough that what the plan counts dominates the allocator's noise
    "mid": dict(
        vocab_size=32000, hidden_size=512, intermediate_size=1408, num_hidden_layers=4, heads=8, kv=2, s=1024, b=4
    ),
}


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(shape: dict, checkpointing: bool) -> tuple[float, float]:
    config = Qwen2Config(
        vocab_size=shape["vocab_size"],
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["num_hidden_layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv"],
        tie_word_embeddings=True,
    )
    # from_config takes the attention implementation (Qwen2Config's typed signature has no such field)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa")
    if checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, shape["vocab_size"], (shape["b"], shape["s"]))
    gc.collect()
    base = rss_bytes()
    for _ in range(3):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    recipe = load_recipe("tiny")
    assert recipe.tiny_model is not None  # the tiny recipe builds its student from this spec
    recipe = recipe.model_copy(
        update={
            "tiny_model": recipe.tiny_model.model_copy(
                update={
                    "vocab_size": shape["vocab_size"],
                    "hidden_size": shape["hidden_size"],
                    "intermediate_size": shape["intermediate_size"],
                    "num_hidden_layers": shape["num_hidden_layers"],
                    "num_attention_heads": shape["heads"],
                    "num_key_value_heads": shape["kv"],
                }
            ),
            "sft": recipe.sft.model_copy(
                update={
                    "max_length": shape["s"],
                    "per_device_batch_size": shape["b"],
                    "gradient_checkpointing": checkpointing,
                }
            ),
        }
    )
    planned = plan_memory(recipe, "sft").training_bytes - params * 4  # the weights are in `base` already
    return planned / GIB, (peak - base) / GIB


def main() -> None:
    """Each measurement in its own process: ru_maxrss is the process's peak so far."""
    if len(sys.argv) == 3:
        torch.set_num_threads(1)
        planned, measured = measure(SHAPES[sys.argv[1]], sys.argv[2] == "1")
        print(f"{planned} {measured}")
        return
    for name, shape in SHAPES.items():
        for checkpointing in ("0", "1"):
            out = subprocess.run(
                [sys.executable, __file__, name, checkpointing], capture_output=True, text=True, check=True
            ).stdout.split()
            planned, measured = float(out[-2]), float(out[-1])
            print(
                f"{name} s={shape['s']} b={shape['b']} checkpointing={checkpointing == '1'}: "
                f"plan {planned:.3f} GiB vs measured {measured:.3f} GiB (ratio {planned / measured:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
