"""QLoRA SFT throughput, peak memory and MFU of a random-weight model with the production student's shape.

No weights are downloaded: `--config qwen2.5-coder-1.5b` builds Qwen2.5-Coder-1.5B-Instruct's published
configuration in code (1.54B parameters) with random weights, saves it to a temporary folder and loads
it back through the project's own path (`load_model`: 4-bit NF4 + double quantisation, bf16 compute on
CUDA), then trains it with TRL's SFTTrainer set up as production sets it up (`trainer_kwargs`,
`lora_config`: LoRA r=32 / alpha=64 on every projection, gradient checkpointing, all from the recipe).
Random weights train at the same speed as real ones, so the figures hold for the real model.

The batches are synthetic token ids of one fixed length (every row exactly `--seq-len` tokens, no
padding): a throughput bench wants each step to cost the same, and the token ids only have to be in
range. The tokenizer is the tiny model's (`train_tokenizer`), needed only for its pad and EOS tokens.
Production packs several examples per row (BFD), which saves a little attention work against this.
One micro-batch is one optimizer step here (no gradient accumulation; LoRA's optimizer step is cheap).

Timed: from the end of the last warm-up step to the end of the last step (CUDA synchronised), so
kernel selection and allocator growth in the first steps are left out. Peak memory is
`torch.cuda.max_memory_allocated` from the model load on (the random-weight build is excluded) on
CUDA; the process's peak RSS on CPU. MFU uses the project's rule (`review_slm/core/cost.py`: 4·N
FLOPs per token for LoRA, no attention term, N counted on the unquantised model) over the dense bf16
peak of the GPU, from `--peak-tflops` or the table below; on CPU it is "n/a".

QLoRA is CUDA-only: on CPU the `tiny` config (a small Qwen2, runs in seconds) trains plain LoRA in
float32, which says nothing about a GPU and is there so the bench itself is tested.

    .venv/bin/python bench/gpu_train.py --config qwen2.5-coder-1.5b [--steps 10] [--warmup-steps 2]
    .venv/bin/python bench/gpu_train.py --config tiny --json figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from review_slm.training.memory_plan import KNOWN_CONFIGS  # noqa: E402  (after the environment default above)

# Qwen/Qwen2.5-Coder-1.5B-Instruct's config.json, the values that shape compute and memory (the shape is the memory
# plan's, so the bench and the plan measure the same model).
QWEN25_CODER_1_5B = {
    **KNOWN_CONFIGS["Qwen/Qwen2.5-Coder-1.5B-Instruct"],
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "hidden_act": "silu",
}
TINY = {
    "vocab_size": 2048,
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
}
CONFIGS = {"qwen2.5-coder-1.5b": QWEN25_CODER_1_5B, "tiny": TINY}
# (seq-len, micro-batch) when not given: the recipe's for the real shape; seconds on a CPU for tiny.
TINY_SHAPE = (256, 8)

# Dense bf16 peak TFLOP/s by a substring of torch.cuda.get_device_name(); first match wins.
PEAK_BF16_TFLOPS = [("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0), ("L4", 121.0)]


def qwen2_config(name: str, pad_token_id: int | None = None, eos_token_id: int | None = None):
    from transformers import Qwen2Config

    return Qwen2Config(**CONFIGS[name], bos_token_id=None, pad_token_id=pad_token_id, eos_token_id=eos_token_id)


def param_count(config) -> int:
    """Parameters of the unquantised model (tied embeddings counted once), built on the meta device:
    no memory, and unlike counting a 4-bit model's tensors it is not halved by the packing."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def peak_tflops_for(gpu_name: str) -> float | None:
    return next((tflops for key, tflops in PEAK_BF16_TFLOPS if key in gpu_name), None)


def build_random_model(config, tokenizer, out_dir: Path, on_cuda: bool) -> None:
    """Random weights saved with save_pretrained, so loading goes through the production path."""
    import torch
    from transformers import AutoModelForCausalLM

    # Built on the GPU in bf16 when there is one: initialising 1.5B weights on a CPU takes minutes.
    with torch.device("cuda" if on_cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if on_cuda else torch.float32)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    del model
    if on_cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()  # the peak is the training run's, not the builder's


def make_step_clock(warmup_steps: int):
    import torch
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        """Wall time from the end of the warm-up to the end of the last step."""

        start = end = None

        def _now(self) -> float:
            if torch.cuda.is_available():
                torch.cuda.synchronize()  # kernels are asynchronous: wait for the step's work to finish
            return time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            if warmup_steps == 0:
                self.start = self._now()

        def on_step_end(self, args, state, control, **kwargs):
            now = self._now()
            if state.global_step == warmup_steps:
                self.start = now
            self.end = now

    return StepClock()


def measure(args, work: Path) -> dict:
    import torch
    import transformers
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from review_slm.core.cost import flops_per_token, mfu
    from review_slm.core.recipe import load_recipe
    from review_slm.training.methods.common import describe_adapter_mode, lora_config, trainer_kwargs
    from review_slm.training.models import attention_implementation, device, load_model
    from review_slm.training.telemetry import peak_memory_mb
    from review_slm.training.tiny_model import train_tokenizer

    transformers.logging.set_verbosity_error()
    transformers.set_seed(0)
    recipe = load_recipe(args.recipe)
    on_cuda = device() == "cuda"
    full = recipe.finetuning == "full"
    qlora = on_cuda and recipe.quantization.load_in_4bit  # the recipe forbids 4-bit with full fine-tuning
    mode = "qlora-nf4-bf16" if qlora else (("full" if full else "lora") + ("-bf16" if on_cuda else "-fp32-cpu"))
    if args.config != "tiny" and not on_cuda:
        sys.exit(f"gpu_train: --config {args.config} needs CUDA (QLoRA is CUDA-only); on a CPU use --config tiny")
    default_shape = (recipe.sft.max_length, recipe.sft.per_device_batch_size) if args.config != "tiny" else TINY_SHAPE
    seq_len, micro_batch = args.seq_len or default_shape[0], args.micro_batch or default_shape[1]
    print(
        f"gpu_train: {args.config} on {torch.cuda.get_device_name() if on_cuda else 'cpu'}, recipe {recipe.label}: "
        f"{describe_adapter_mode(recipe)}"
    )

    tokenizer = train_tokenizer(TINY["vocab_size"])
    config = qwen2_config(args.config, tokenizer.pad_token_id, tokenizer.eos_token_id)
    build_random_model(config, tokenizer, work / "model", on_cuda)
    model = load_model(str(work / "model"), None, recipe.quantization)
    loaded_in_4bit = bool(getattr(model, "is_loaded_in_4bit", False))  # what bitsandbytes did, not what was asked

    stage = recipe.sft.model_copy(
        update={
            "max_steps": args.warmup_steps + args.steps,
            "per_device_batch_size": micro_batch,
            "gradient_accumulation_steps": 1,
            "max_length": seq_len,
            "packing": False,
            "save_steps": 0,
            "logging_steps": 10_000,
        }
    )
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (stage.max_steps * micro_batch, seq_len), generator=generator)
    clock = make_step_clock(args.warmup_steps)
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**trainer_kwargs(stage, work / "out"), packing=False, shuffle_dataset=False),
        train_dataset=Dataset.from_dict({"input_ids": ids.tolist()}),
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # its end-of-training dict would bury the table
    trainer.train()

    seconds = clock.end - clock.start
    tokens = args.steps * micro_batch * seq_len
    params = param_count(config)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    peak_tflops = args.peak_tflops or (peak_tflops_for(torch.cuda.get_device_name()) if on_cuda else None)
    return {
        "config": args.config,
        "mode": mode,
        "device": torch.cuda.get_device_name() if on_cuda else "cpu",
        "recipe": recipe.label,
        "attention": attention_implementation(),
        "loaded_in_4bit": loaded_in_4bit,
        "params": params,
        "trainable_params": trainable,
        "seq_len": seq_len,
        "micro_batch": micro_batch,
        "warmup_steps": args.warmup_steps,
        "steps": args.steps,
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "peak_memory_gib": peak_memory_mb() / 1024,
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if on_cuda else "peak RSS of the process",
        "flops_per_token": flops_per_token(params, full),
        "peak_tflops": peak_tflops if on_cuda else None,
        # Only a GPU's dense peak makes a utilisation; a CPU figure would compare against nothing.
        "mfu": mfu(params, full, tokens / seconds, peak_tflops) if (on_cuda and peak_tflops) else None,
    }


def print_table(f: dict) -> None:
    rows = [
        ("config", f"{f['config']} ({f['params']:,} parameters, random weights)"),
        ("device", f"{f['device']}, attention {f['attention']}"),
        (
            "mode",
            f"{f['mode']} (4-bit base: {'yes' if f['loaded_in_4bit'] else 'no'}), "
            f"{f['trainable_params'] / 1e6:.2f}M trainable",
        ),
        (
            "batch",
            f"{f['micro_batch']} x {f['seq_len']} tokens, {f['steps']} steps timed after {f['warmup_steps']} warm-up",
        ),
        ("tokens/s", f"{f['tokens_per_s']:,.0f} ({f['tokens']:,} tokens in {f['seconds']:.2f} s)"),
        ("peak memory", f"{f['peak_memory_gib']:.2f} GiB ({f['peak_memory_kind']})"),
        ("FLOPs/token", f"{f['flops_per_token']:.3g} (cost.py rule)"),
        (
            "MFU",
            f"{f['mfu']:.3f} of {f['peak_tflops']:g} TFLOP/s"
            if f["mfu"] is not None
            else "n/a" + (" (CPU)" if f["device"] == "cpu" else " (unknown GPU: pass --peak-tflops)"),
        ),
    ]
    for key, value in rows:
        print(f"{key:<14}{value}")


def summary_line(f: dict) -> str:
    mfu = f"{f['mfu']:.3f}" if f["mfu"] is not None else "n/a"
    speed = f"{f['tokens_per_s']:.0f} tok/s, peak {f['peak_memory_gib']:.2f} GiB"
    return f"gpu_train: {f['config']} {f['mode']} {speed}, MFU {mfu}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config",
        choices=sorted(CONFIGS),
        default=None,
        help="model shape; default qwen2.5-coder-1.5b on CUDA, tiny on CPU",
    )
    parser.add_argument(
        "--recipe",
        default="qwen2.5-coder-1.5b-qlora",
        help="recipe name or YAML path: quantisation, LoRA, gradient checkpointing, optimiser",
    )
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps timed")
    parser.add_argument("--warmup-steps", type=int, default=2, help="optimizer steps run first and not timed")
    parser.add_argument(
        "--seq-len", type=int, default=None, help="tokens per row; default the recipe's SFT max_length (tiny: 256)"
    )
    parser.add_argument("--micro-batch", type=int, default=None, help="rows per step; default the recipe's (tiny: 8)")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak of the GPU; default from its name"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup_steps < 0:
        parser.error("--steps must be at least 1 and --warmup-steps at least 0")
    if args.config is None:
        import torch

        args.config = "qwen2.5-coder-1.5b" if torch.cuda.is_available() else "tiny"

    with tempfile.TemporaryDirectory(prefix="gpu-train-") as work:  # the 1.5B copy is 3 GB: never leave it behind
        figures = measure(args, Path(work))
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(summary_line(figures))
    return figures


if __name__ == "__main__":
    main()
