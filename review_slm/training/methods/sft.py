"""Supervised fine-tuning with TRL's SFTTrainer: LoRA, QLoRA (4-bit base on CUDA) or full weights.

Loss is on the assistant turn only (labels from the chat template's generation tags, as TRL's
`assistant_only_loss` makes them; the rows are prepared here and handed over with `skip_prepare_dataset`).
With `packing`, BFD packs whole examples into rows of `max_length` and the collator emits per-example
position ids with no attention mask, so attention never crosses from one example into the next
(flattened padding-free batches with FlashAttention, one row per packed row otherwise: see packing.py).
With `curriculum`, examples go easy to hard and the sampler is sequential; packing then works in
consecutive windows of `CURRICULUM_PACK_WINDOW` examples (BFD reorders by length inside a window
only), so the order survives packing up to one window.
"""

from __future__ import annotations

from pathlib import Path

from review_slm.core.recipe import Recipe
from review_slm.training import distributed, packed_attention
from review_slm.training.data import curriculum_order, read_rows, sft_rows, with_line_offset_copies
from review_slm.training.job_spec import JobSpec, TrainerOutputs
from review_slm.training.lm_head import SFT_OUTPUTS, use_dense_lm_head
from review_slm.training.methods.common import TrainingRun, describe_adapter_mode, lora_config, trainer_kwargs
from review_slm.training.models import attention_implementation, device, load_model, load_tokenizer, resolve_model_ref
from review_slm.training.packing import RowPackedCollator
from review_slm.training.sharding import is_sharded

CURRICULUM_PACK_WINDOW = 64


def _encode(example: dict, tokenizer) -> dict:
    """One conversation as TRL's SFT preparation tokenizes it with `assistant_only_loss`: label -100 off
    the assistant turns (the chat template's `{% generation %}` tags)."""
    encoded = tokenizer.apply_chat_template(
        example["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(encoded["input_ids"]), encoded["assistant_masks"]
    if 1 not in mask:
        raise RuntimeError(
            "a training example has no assistant tokens: the chat template lost its {% generation %} tags"
        )
    return {"input_ids": ids, "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)]}


def prepare_dataset(rows: list[dict], tokenizer, max_length: int, packing: bool, pack_window: int | None = None):
    """Tokenized (and packed) rows, ready for the collator: what SFTTrainer would prepare, built here and
    handed over with `skip_prepare_dataset`, so packing can keep the curriculum and our collator can be
    passed at construction (TRL's public extension points; it rejects a custom collator when it packs).

    Examples are cut to `max_length` (keeping the start) and one with no label left is dropped. With
    `packing`, BFD packs whole examples into rows of `max_length` with a `seq_lengths` column; TRL packs
    each `datasets.map` batch (1000 examples) sorted by length, which would undo the curriculum of any
    smaller gold set, so a curriculum packs consecutive windows of `pack_window` examples instead.
    """
    from datasets import Dataset
    from trl import pack_dataset  # pyright: ignore[reportPrivateImportUsage]  (trl's lazy __init__ exports it)

    dataset = Dataset.from_list(rows).map(_encode, fn_kwargs={"tokenizer": tokenizer}, remove_columns=["messages"])
    dataset = dataset.map(lambda ex: {"input_ids": ex["input_ids"][:max_length], "labels": ex["labels"][:max_length]})
    dataset = dataset.filter(lambda ex: any(label != -100 for label in ex["labels"]))
    if not packing:
        return dataset
    return pack_dataset(dataset, max_length, "bfd", {"batch_size": pack_window} if pack_window else None)


def collator(tokenizer, packing: bool):
    """Packed rows: one row per packed row under SDPA (packing.py), TRL's padding-free flattening with
    FlashAttention; unpacked: TRL's default padding collator."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    if packing and attention_implementation() != "flash_attention_2":
        return RowPackedCollator(tokenizer.pad_token_id)
    return DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=packing)


def build_trainer(spec: JobSpec, recipe: Recipe, callbacks: list, tokenizer=None):
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer  # pyright: ignore[reportPrivateImportUsage]  (trl's lazy __init__ exports it)

    stage = recipe.sft
    set_seed(stage.seed)  # LoRA initialisation must be identical on every rank and every retry
    model_path, revision = resolve_model_ref(spec.needed("parent_model"), recipe, Path(spec.cache_dir))
    tokenizer = tokenizer or load_tokenizer(model_path, revision)
    model = load_model(model_path, revision, recipe.quantization, sharded=is_sharded(recipe))
    # What SFTTrainer does itself when it builds the collator: the model agrees with the tokenizer on padding.
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    gold = read_rows(spec.needed("train_file"))
    if recipe.curriculum:
        gold = curriculum_order(gold)
    gold = with_line_offset_copies(gold, recipe.line_offset_copies, stage.seed)
    val_rows = sft_rows(read_rows(spec.val_file)) if spec.val_file else []
    window = CURRICULUM_PACK_WINDOW if recipe.curriculum else None
    args = SFTConfig(
        **trainer_kwargs(
            stage,
            Path(spec.needed("output_dir")) / "checkpoints",
            sequential=recipe.curriculum,
            sharded=is_sharded(recipe),
        ),
        # prepare_dataset() tokenized, masked (assistant-only loss) and packed the rows; TRL's own
        # `assistant_only_loss` applies only to the preparation it skips, so it is left off.
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        data_collator=collator(tokenizer, stage.packing),
        train_dataset=prepare_dataset(sft_rows(gold), tokenizer, stage.max_length, stage.packing, window),
        eval_dataset=prepare_dataset(val_rows, tokenizer, stage.max_length, stage.packing, window)
        if val_rows
        else None,
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
        callbacks=callbacks,
    )
    if recipe.hardware.cpu_fast_paths and device() == "cpu":
        if isinstance(trainer.data_collator, RowPackedCollator):  # one causal SDPA call per packed example
            trainer.model.set_attn_implementation(packed_attention.register())  # pyright: ignore[reportOptionalMemberAccess, reportCallIssue]  (the Trainer's model is set; transformers types it loosely)
        use_dense_lm_head(trainer, SFT_OUTPUTS)
    # the gold-row count (before packing) rides on the trainer to run()'s summary
    trainer.train_examples = len(gold)  # pyright: ignore[reportAttributeAccessIssue]
    return trainer


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    recipe = spec.recipe
    mode = describe_adapter_mode(recipe)
    pipes.log.info(
        f"SFT of {spec.parent_model} with {mode}, recipe {recipe.label}, packing={recipe.sft.packing}, "
        f"curriculum={recipe.curriculum}, micro-batch {recipe.sft.per_device_batch_size} x accumulation "
        f"{recipe.sft.gradient_accumulation_steps} x {distributed.world_size()} process(es)"
    )
    files = [spec.needed("train_file")] + ([spec.val_file] if spec.val_file else [])
    session = TrainingRun("sft", spec, recipe, recipe.sft, pipes, mlflow_client, run_id, files)
    trainer = build_trainer(spec, recipe, session.callbacks())
    session.train(trainer)
    eval_loss = trainer.evaluate()["eval_loss"] if trainer.eval_dataset is not None else None
    out_dir = Path(spec.needed("output_dir")) / TrainerOutputs.SFT_ADAPTER
    # The adapter for LoRA, the full model otherwise; written by the main process (sharded: gathered by all).
    trainer.save_model(str(out_dir))
    if distributed.is_main_process() and trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(out_dir)
    return {
        **session.finish(trainer),
        "adapter_mode": mode,
        "packing": recipe.sft.packing,
        "curriculum": recipe.curriculum,
        # the datasets are the `datasets.Dataset`s build_trainer made (sized); TRL types them as any dataset
        "train_examples": trainer.train_examples,  # pyright: ignore[reportAttributeAccessIssue]
        "train_sequences": len(trainer.train_dataset),  # pyright: ignore[reportArgumentType]  (packed sequences)
        "val_examples": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,  # pyright: ignore[reportArgumentType]
        "eval_loss": round(eval_loss, 4) if eval_loss is not None else None,
    }
