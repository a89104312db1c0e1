"""Supervised fine-tuning with TRL's SFTTrainer: LoRA, QLoRA (4-bit base on CUDA) or full weights.

Loss is on the assistant turn only (`assistant_only_loss`, generation tags in the chat template).
With `packing`, BFD packs whole examples into rows of `max_length` and the collator emits per-example
position ids with no attention mask, so attention never crosses from one example into the next
(flattened padding-free batches with FlashAttention, one row per packed row otherwise: see packing.py).
With `curriculum`, examples go easy to hard and the sampler is sequential; packing then works in
consecutive windows of `CURRICULUM_PACK_WINDOW` examples (BFD reorders by length inside a window
only), so the order survives packing up to one window.
"""

from __future__ import annotations

from pathlib import Path

from review_slm.training.job_spec import JobSpec, TrainerOutputs
from review_slm.core.recipe import Recipe
from review_slm.training import distributed
from review_slm.training.data import curriculum_order, read_rows, sft_rows, with_line_offset_copies
from review_slm.training.methods.common import TrainingRun, describe_adapter_mode, lora_config, trainer_kwargs
from review_slm.training.models import attention_implementation, load_model, load_tokenizer, resolve_model_ref
from review_slm.training.packing import RowPackedCollator


CURRICULUM_PACK_WINDOW = 64


def _curriculum_trainer_class():
    """SFTTrainer whose BFD packing keeps the curriculum order across windows of examples.

    TRL packs each `datasets.map` batch (1000 examples) sorted by length, which would undo the
    curriculum of any smaller gold set: here the same packing runs on small consecutive windows.
    """
    from trl import SFTTrainer
    from trl.data_utils import pack_dataset

    class CurriculumSFTTrainer(SFTTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
            prepared = super()._prepare_dataset(dataset, processing_class, args, False, formatting_func, dataset_name)
            if not packing:
                return prepared
            return pack_dataset(prepared.select_columns(["input_ids", "labels"]), args.max_length, args.packing_strategy,
                                {"batch_size": CURRICULUM_PACK_WINDOW})

    return CurriculumSFTTrainer


def build_trainer(spec: JobSpec, recipe: Recipe, callbacks: list, tokenizer=None):
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    stage = recipe.sft
    set_seed(stage.seed)  # LoRA initialisation must be identical on every rank and every retry
    model_path, revision = resolve_model_ref(spec.parent_model, recipe, Path(spec.cache_dir))
    tokenizer = tokenizer or load_tokenizer(model_path, revision)
    model = load_model(model_path, revision, recipe.quantization)
    gold = read_rows(spec.train_file)
    if recipe.curriculum:
        gold = curriculum_order(gold)
    gold = with_line_offset_copies(gold, recipe.line_offset_copies, stage.seed)
    val_rows = sft_rows(read_rows(spec.val_file)) if spec.val_file else []
    args = SFTConfig(
        **trainer_kwargs(stage, Path(spec.output_dir) / "checkpoints", sequential=recipe.curriculum),
        assistant_only_loss=True,
        packing=stage.packing,
        packing_strategy="bfd",
        shuffle_dataset=False,
    )
    trainer_class = _curriculum_trainer_class() if recipe.curriculum else SFTTrainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(sft_rows(gold)),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
        callbacks=callbacks,
    )
    if stage.packing and attention_implementation() != "flash_attention_2":
        # TRL rejects a custom collator with packing, so it is swapped in after construction.
        trainer.data_collator = RowPackedCollator(tokenizer.pad_token_id)
    trainer.train_examples = len(gold)
    return trainer


def run(spec: JobSpec, pipes, mlflow_client, run_id: str | None) -> dict:
    recipe = spec.recipe
    mode = describe_adapter_mode(recipe)
    pipes.log.info(f"SFT of {spec.parent_model} with {mode}, recipe {recipe.label}, packing={recipe.sft.packing}, "
                   f"curriculum={recipe.curriculum}, micro-batch {recipe.sft.per_device_batch_size} x accumulation "
                   f"{recipe.sft.gradient_accumulation_steps} x {distributed.world_size()} process(es)")
    files = [spec.train_file] + ([spec.val_file] if spec.val_file else [])
    session = TrainingRun("sft", spec, recipe, recipe.sft, pipes, mlflow_client, run_id, files)
    trainer = build_trainer(spec, recipe, session.callbacks())
    session.train(trainer)
    eval_loss = trainer.evaluate()["eval_loss"] if trainer.eval_dataset is not None else None
    out_dir = Path(spec.output_dir) / TrainerOutputs.SFT_ADAPTER
    trainer.save_model(str(out_dir))  # the adapter for LoRA, the full model otherwise; main process only
    if distributed.is_main_process():
        trainer.processing_class.save_pretrained(out_dir)
    return {
        **session.finish(trainer),
        "adapter_mode": mode,
        "packing": recipe.sft.packing,
        "curriculum": recipe.curriculum,
        "train_examples": trainer.train_examples,
        "train_sequences": len(trainer.train_dataset),  # packed sequences when packing (gold rows are `train_examples`)
        "val_examples": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "eval_loss": round(eval_loss, 4) if eval_loss is not None else None,
    }
