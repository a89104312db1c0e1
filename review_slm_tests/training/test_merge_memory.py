"""Rank 0 merges the trained policy only once training's memory is released: during the merge nothing reaches the
trainer, the model it trained, its optimizer or (full fine-tuning) TRL's reference model any more. The merge
loads the base whole, so anything still held would add to that peak (memory_plan's "load: merging to publish").
In process (the method's `run`, not the entrypoint): the objects are watched through weak references."""

import weakref

import pytest
from transformers import TrainerCallback

from review_slm.core.recipe import load_recipe
from review_slm.resources.artifact_layout import iteration
from review_slm.training.distributed import RankLocalPipes
from review_slm.training.job_spec import TrainerOutputs
from review_slm.training.methods import dpo, preference
from review_slm.training.methods.common import lora_config
from review_slm.training.models import load_model, resolve_model_ref
from review_slm_tests.training.conftest import tiny_recipe


class WatchTraining(TrainerCallback):
    """Weak references to what the trainer holds at the end of training."""

    def __init__(self):
        self.refs: dict[str, weakref.ref] = {}

    def on_train_end(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        self.refs.update(model=weakref.ref(model), optimizer=weakref.ref(optimizer))
        self.refs["scheduler"] = weakref.ref(lr_scheduler)


@pytest.mark.parametrize("finetuning", ["lora", "full"])
def test_the_merge_starts_after_the_trainer_its_optimizer_and_reference_are_released(
    harness, tmp_path, monkeypatch, finetuning
):
    recipe = load_recipe(str(tiny_recipe(tmp_path, finetuning=finetuning, **{"dpo.max_steps": 1})))
    model_path, revision = resolve_model_ref("builtin:tiny-qwen2", recipe, harness.model_cache)
    sft_policy = tmp_path / "sft-policy"  # what sft_adapter would have saved: an untrained adapter, or the base
    base = load_model(model_path, revision, None, for_training=False)
    if finetuning == "lora":
        from peft import get_peft_model

        config = lora_config(recipe)
        assert config is not None
        base = get_peft_model(base, config)
    base.save_pretrained(sft_policy)
    del base
    harness.write_pairs("iter-0001")
    pairs = str(harness.artifacts.local_path(iteration(harness.artifacts, "iter-0001").pairs))
    spec = harness.job_spec("dpo", recipe, tmp_path / "out", pairs_file=pairs, adapter_dir=str(sft_policy))

    watch = WatchTraining()

    def make_trainer(model, args_kwargs, dataset, tokenizer, callbacks, recipe):
        trainer = dpo.make_trainer(model, args_kwargs, dataset, tokenizer, [*callbacks, watch], recipe)
        watch.refs["trainer"] = weakref.ref(trainer)
        if trainer.ref_model is not None:
            watch.refs["reference"] = weakref.ref(trainer.ref_model)
        return trainer

    alive_at_merge: list[str] = []
    merge = preference.merge_policy

    def watched_merge(*args, **kwargs):
        alive_at_merge.extend(name for name, ref in watch.refs.items() if ref() is not None)
        return merge(*args, **kwargs)

    monkeypatch.setattr(preference, "merge_policy", watched_merge)
    result = preference.run_preference("dpo", spec, RankLocalPipes({}), None, None, make_trainer)

    watched = {"trainer", "model", "optimizer", "scheduler"} | ({"reference"} if finetuning == "full" else set())
    assert set(watch.refs) == watched  # each was alive once, so its weak reference says something
    assert alive_at_merge == []
    # What is reported after the merge was gathered before it.
    assert result["steps"] == 1 and result["final_reward_accuracy"] is not None
    assert (tmp_path / "out" / TrainerOutputs.MERGED_MODEL / "config.json").is_file()
