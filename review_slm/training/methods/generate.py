"""Batched greedy generation: the SFT model on training prompts (preference pairs) and every
compared model on the evaluation prompts. One process loads each model in turn."""

from __future__ import annotations

import time
from pathlib import Path

from review_slm.core.recipe import Recipe
from review_slm.core.tables import ANSWERS, write_parquet
from review_slm.training.data import read_rows
from review_slm.training.job_spec import GenerateRequest, JobSpec
from review_slm.training.models import device, load_model, load_policy, load_tokenizer, resolve_model_ref


def _load(entry: GenerateRequest, recipe: Recipe, cache_dir: Path):
    path, revision = resolve_model_ref(entry.model, recipe, cache_dir)
    tokenizer = load_tokenizer(path, revision)
    if entry.adapter:  # the SFT policy: parent + adapter, or the full model SFT saved
        model = load_policy(path, revision, entry.adapter, None, trainable=False)
        merge = getattr(model, "merge_and_unload", None)  # a PEFT model; full weights have nothing to merge
        model = merge() if merge is not None else model
    else:
        model = load_model(path, revision, for_training=False)
    model.eval()
    return model, tokenizer


def generate_answers(
    model, tokenizer, prompts: list[dict], max_new_tokens: int, batch_size: int, on_batch=None
) -> list[dict]:
    import torch

    eos = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    out: list[dict] = []
    # Sorting by length keeps padding (wasted compute) low inside each batch.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]["messages"][-1]["content"]))
    for start in range(0, len(order), batch_size):
        batch = [prompts[i] for i in order[start : start + batch_size]]
        texts = [
            tokenizer.apply_chat_template(p["messages"], tokenize=False, add_generation_prompt=True) for p in batch
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.inference_mode():
            generated = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = generated[:, enc["input_ids"].shape[1] :]
        for prompt, ids in zip(batch, new_tokens):
            out.append({"id": prompt["id"], "answer": tokenizer.decode(ids, skip_special_tokens=True)})
        if on_batch:
            on_batch(min(start + batch_size, len(order)), len(order))
    return out


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    recipe = spec.recipe
    cache_dir = Path(spec.cache_dir)
    summary: dict[str, dict] = {}
    for entry in spec.generate:
        started = time.monotonic()
        prompts = read_rows(entry.prompts_file)
        model, tokenizer = _load(entry, recipe, cache_dir)
        pipes.log.info(f"generating {len(prompts)} reviews with {entry.name} ({entry.model}) on {device()}")
        answers = generate_answers(
            model,
            tokenizer,
            prompts,
            recipe.generation.max_new_tokens,
            recipe.generation.batch_size,
            on_batch=lambda done, total, name=entry.name: pipes.log.info(f"{name}: {done}/{total} prompts"),
        )
        Path(entry.output_file).parent.mkdir(parents=True, exist_ok=True)
        write_parquet(entry.output_file, answers, ANSWERS)
        summary[entry.name] = {"prompts": len(prompts), "seconds": round(time.monotonic() - started, 2)}
        del model
    return {"generation": summary}
