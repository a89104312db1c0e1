"""The pre-launch memory plan: its arithmetic on known shapes, and the refusal that names what to change."""

import dagster as dg
import pytest

from review_slm.core.recipe import load_recipe
from review_slm.train.assets import _check_memory_plan
from review_slm.training.memory_plan import GIB, KNOWN_CONFIGS, ModelShape, main, plan_memory


def _terms(plan) -> dict[str, float]:
    return {t.name: t.bytes / GIB for t in plan.terms}


def test_parameter_counts_match_the_published_model_sizes():
    # Qwen2.5-Coder model cards: 1.54B and 7.61B parameters.
    assert ModelShape.from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-Coder-1.5B-Instruct"]).params / 1e9 == pytest.approx(
        1.54, abs=0.005
    )
    assert ModelShape.from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-Coder-7B-Instruct"]).params / 1e9 == pytest.approx(
        7.61, abs=0.01
    )


def test_the_1_5b_qlora_plan_term_by_term():
    """Each term recomputed by hand for the shipped recipe (s=4096, b=8, r=32 on all 7 projections)."""
    plan = plan_memory(load_recipe("qwen2.5-coder-1.5b-qlora"), "sft")
    shape = ModelShape.from_config(KNOWN_CONFIGS["Qwen/Qwen2.5-Coder-1.5B-Instruct"])
    terms = _terms(plan)
    # QLoRA paper: NF4 with double quantisation costs 4.127 bits per quantised weight; the rest is fp32 once PEFT's
    # prepare_model_for_kbit_training has upcast it.
    nf4 = shape.linear_params * 4.127 / 8 + shape.other_params * 4
    assert terms["weights"] == pytest.approx(nf4 / GIB, rel=1e-3)
    lora = 28 * 32 * (2 * (1536 + 1536) + 2 * (1536 + 256) + 2 * (1536 + 8960) + (8960 + 1536))
    assert terms["LoRA weights + grads + AdamW"] == pytest.approx(lora * 16 / GIB)
    assert terms["logits + loss"] == pytest.approx(4096 * 8 * 151936 * 14 / GIB)
    assert 6 < terms["activations"] < 8  # 28 checkpointed inputs (2sbh) + one recomputed layer
    # No GPU measurement exists yet (README); on CPU the plan came within 6% of measured peaks
    # (bench/memory_plan_cpu.py). 70-78 GiB: it fits the A100-80GB's 79.3, narrowly.
    assert 70 < plan.total_bytes / GIB < 78 and plan.fits


def test_checkpointing_and_quantisation_lower_the_plan():
    recipe = load_recipe("qwen2.5-coder-1.5b-qlora")
    without = recipe.model_copy(update={"sft": recipe.sft.model_copy(update={"gradient_checkpointing": False})})
    assert _terms(plan_memory(without, "sft"))["activations"] > 5 * _terms(plan_memory(recipe, "sft"))["activations"]
    bf16 = recipe.model_copy(update={"quantization": recipe.quantization.model_copy(update={"load_in_4bit": False})})
    assert _terms(plan_memory(bf16, "sft"))["weights"] == pytest.approx(1.5437e9 * 2 / GIB, rel=1e-3)


def test_7b_full_finetune_is_refused_on_one_gpu_and_fits_sharded_over_16():
    sharded = load_recipe("qwen2.5-coder-7b-full-fsdp")
    plan = plan_memory(sharded, "dpo")
    assert plan.world_size == 16 and plan.fits
    one_gpu = sharded.model_copy(
        update={"hardware": sharded.hardware.model_copy(update={"sharding": "none", "gpus_per_node": 1, "nodes": 1})}
    )
    refused = plan_memory(one_gpu, "sft")
    assert not refused.fits
    assert _terms(refused)["full: weights + grads + AdamW"] == pytest.approx(7.6156e9 * 8 / GIB, rel=1e-3)
    message = refused.refusal()
    for setting in ("per_device_batch_size 4 -> 2", "max_length 4096", "load_in_4bit: true", "hardware.sharding: fsdp"):
        assert setting in message


def test_the_asset_check_refuses_before_launch_and_only_on_cuda():
    context = dg.build_asset_context()
    recipe = load_recipe("qwen2.5-coder-7b-qlora")
    huge = recipe.model_copy(update={"sft": recipe.sft.model_copy(update={"per_device_batch_size": 32})})
    with pytest.raises(dg.Failure, match="sft.per_device_batch_size 32 -> 16") as failure:
        _check_memory_plan(context, huge, "sft")
    assert "memory_plan" in failure.value.metadata and not failure.value.allow_retries
    assert "fits" in _check_memory_plan(context, recipe, "sft").line()
    # The same shape on CPU is only logged: the tiny default never refuses.
    on_cpu = huge.model_copy(update={"hardware": huge.hardware.model_copy(update={"accelerator": "cpu"})})
    assert _check_memory_plan(context, on_cpu, "sft").capacity_bytes is None
    # The sharded 7B full fine-tune fits its 16 GPUs and is launched (no refusal since sharding trains).
    assert _check_memory_plan(context, load_recipe("qwen2.5-coder-7b-full-fsdp"), "sft").fits


def test_unknown_base_model_plans_weights_from_params_b_and_says_activations_are_unknown():
    recipe = load_recipe("qwen2.5-coder-7b-qlora").model_copy(update={"base_model": "acme/private-7b"})
    terms = {t.name: t for t in plan_memory(recipe, "sft").terms}
    assert terms["weights"].bytes == pytest.approx(7.62e9 * 4.127 / 8, rel=1e-3)
    assert terms["activations"].bytes == 0 and "unknown" in terms["activations"].how


def test_command_prints_both_stages(capsys):
    main(["--recipe", "tiny"])
    out = capsys.readouterr().out
    assert "tiny@v3 `sft`" in out and "tiny@v3 `dpo`" in out and "| **total** |" in out


def _with(recipe, stage: str | None = None, hardware: dict | None = None, **spec):
    update = {"hardware": recipe.hardware.model_copy(update=hardware)} if hardware else {}
    if stage:
        update[stage] = getattr(recipe, stage).model_copy(update=spec)
    return recipe.model_copy(update=update)


def _loads(plan) -> dict[str, float]:
    return {t.name: t.bytes / GIB for t in plan.load_terms}


def test_sharded_full_finetune_loads_the_whole_fp32_model_on_every_rank_whatever_the_world_size():
    recipe = load_recipe("qwen2.5-coder-7b-full-fsdp")
    params = 7.6156e9
    # accelerate upcasts the whole bf16 model to fp32 before fully_shard; DPO adds TRL's reference, sharded by then
    assert _loads(plan_memory(recipe, "sft")) == {
        "load: whole model before sharding": pytest.approx((params * 4) / GIB + 2, rel=1e-3)
    }
    dpo = _loads(plan_memory(recipe, "dpo"))
    assert dpo["load: whole model before sharding"] == pytest.approx((params * 4 + params * 2 / 16) / GIB + 2, rel=1e-3)
    # 64 GPUs of 24 GiB and 1 x 1024 tokens: the sharded steps need 6.3 GiB, the load 30.4 GiB.
    small = _with(
        recipe,
        "sft",
        {"gpus_per_node": 8, "nodes": 8, "gpu_memory_gib": 24.0},
        max_length=1024,
        per_device_batch_size=1,
    )
    plan = plan_memory(small, "sft")
    assert plan.training_bytes / GIB < 8 and plan.load_bytes / GIB > 30 and not plan.fits
    assert plan.total_bytes == plan.load_bytes
    message = plan.refusal()
    assert "load: whole model before sharding 30.37 GiB" in message and "load_in_4bit: true (QLoRA)" in message
    assert "per_device_batch_size" not in message and "more GPUs" not in message  # neither lowers a load peak


def test_publishing_merges_on_rank_0_after_the_trainer_is_released():
    # The 7B QLoRA on a 22.1 GiB A10G at 1 x 1024 tokens: the steps fit, and so does the merge, which holds only the
    # bf16 base and the adapter once methods/common.release_training_memory has freed the trainer.
    recipe = _with(load_recipe("qwen2.5-coder-7b-qlora"), hardware={"gpu_type": "a10g"})
    recipe = _with(recipe, "sft", max_length=1024, per_device_batch_size=1)
    recipe = _with(recipe, "dpo", max_length=1024, per_device_batch_size=1)
    sft, dpo = plan_memory(recipe, "sft"), plan_memory(recipe, "dpo")
    assert sft.load_terms == [] and sft.fits  # SFT saves its adapter: nothing merged
    merge = _loads(dpo)["load: merging to publish"]
    adapter = 28 * 32 * (2 * (3584 + 3584) + 2 * (3584 + 512) + 3 * (3584 + 18944)) * 4 / GIB  # r=32, fp32
    delta = 3584 * 18944 * 4 / GIB  # gate_proj's fp32 delta, the largest projection (smaller than the adapter)
    assert adapter > delta
    # base + the adapter + its file's copy on the GPU (PEFT loads it before copying it in) + the CUDA overhead
    assert merge == pytest.approx(7.6156e9 * 2 / GIB + 2 * adapter + 2, rel=1e-3)
    assert dpo.training_bytes / GIB < merge < 22.1 and dpo.fits  # held with the trainer it was 24.8: refused
    # On a GPU of 16 GiB the steps (1 pair = 2 sequences) still fit, the merge of the whole bf16 base does not.
    small = _with(recipe, hardware={"gpu_memory_gib": 16.0})
    plan = plan_memory(small, "dpo")
    assert plan.training_bytes / GIB < 16 < plan.load_bytes / GIB and not plan.fits
    with pytest.raises(dg.Failure, match="rank 0 loads the whole model in bf16 to merge") as failure:
        _check_memory_plan(dg.build_asset_context(), small, "dpo")
    shown = str(failure.value.metadata["memory_plan"].value)  # the markdown table
    assert "| training peak |" in shown and "| load: merging to publish |" in shown and "does not fit" in shown
    # Full fine-tuning merges nothing: the trained policy, whole in bf16, whatever the training states were.
    full = plan_memory(load_recipe("qwen2.5-coder-7b-full-fsdp"), "dpo")
    assert _loads(full)["load: merging to publish"] == pytest.approx(7.6156e9 * 2 / GIB + 2, rel=1e-3)


def test_a_sharded_cpu_run_keeps_the_dpo_reference_whole_on_every_rank():
    # sharding.shard_on_cpu turns FSDP on at train(), after TRL placed the reference: on CPU it is not sharded.
    recipe = _with(load_recipe("tiny"), hardware={"sharding": "fsdp", "gpus_per_node": 2})
    assert recipe.finetuning == "full" and recipe.tiny_model is not None
    params = ModelShape.from_config({**recipe.tiny_model.model_dump(), "tie_word_embeddings": True}).params
    on_cpu = _terms(plan_memory(recipe, "dpo"))
    assert on_cpu["DPO reference"] == pytest.approx(params * 4 / GIB)  # fp32, whole
    assert on_cpu["full: weights + grads + AdamW"] == pytest.approx(params * 16 / 2 / GIB)  # the policy is sharded
    on_cuda = _terms(plan_memory(_with(recipe, hardware={"accelerator": "cuda"}), "dpo"))
    assert on_cuda["DPO reference"] == pytest.approx(params * 2 / 2 / GIB)  # bf16, sharded with the policy
