"""Packing, curriculum and ORPO: the SFT trainer built in-process, ORPO through the dpo_model asset."""

import pytest
import torch

from review_slm.core.recipe import load_recipe
from review_slm.resources.artifact_layout import iteration
from review_slm.training.data import curriculum_order
from review_slm.training.methods import TASKS
from review_slm.training.methods.sft import build_trainer
from review_slm_tests.training.conftest import bug_suite_rows, dpo_model, sft_adapter, tiny_recipe


def _trainer(harness, tmp_path, **overrides):
    harness.write_upstream("iter-0001")
    art = harness.artifacts
    recipe = load_recipe(str(tiny_recipe(tmp_path, **overrides)))
    train_file = str(art.local_path(iteration(art, "iter-0001").gold_split("train")))
    spec = harness.job_spec("sft", recipe, tmp_path / "out", train_file=train_file)
    return build_trainer(spec, recipe, callbacks=[])


def test_packed_rows_keep_examples_apart(harness, tmp_path):
    trainer = _trainer(harness, tmp_path, **{"sft.packing": True})
    pad = trainer.processing_class.pad_token_id
    for batch in trainer.get_train_dataloader():  # a row holding at least two examples
        real = batch["input_ids"] != pad
        row = next((r for r in range(len(real)) if int(((batch["position_ids"][r] == 0) & real[r]).sum()) >= 2), None)
        if row is not None:
            break
    assert "attention_mask" not in batch  # examples are separated by their position ids only
    starts = ((batch["position_ids"][row] == 0) & real[row]).nonzero().flatten().tolist()
    assert (batch["labels"][batch["position_ids"] == 0] == -100).all()  # no label across a boundary
    assert int((batch["labels"] != -100).sum()) > 0

    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[row]
        begin = starts[1]
        end = starts[2] if len(starts) > 2 else int(real[row].sum())
        alone = model(input_ids=batch["input_ids"][row : row + 1, begin:end]).logits[0]
    # The second example's logits do not depend on the example packed before it.
    assert torch.allclose(packed[begin:end], alone, atol=1e-4)


@pytest.mark.parametrize("packing", [False, True])
def test_curriculum_trains_easy_to_hard_in_order(harness, tmp_path, monkeypatch, packing):
    from review_slm.training.methods import sft

    monkeypatch.setattr(sft, "CURRICULUM_PACK_WINDOW", 4)  # 20 examples: 5 windows, so the order is visible
    trainer = _trainer(harness, tmp_path, curriculum=True, **{"sft.packing": packing})
    assert isinstance(trainer._get_train_sampler(), torch.utils.data.SequentialSampler)
    ordered = curriculum_order(bug_suite_rows()[:20])
    batches = [
        trainer.processing_class.decode(ids) for batch in trainer.get_train_dataloader() for ids in batch["input_ids"]
    ]
    first, last = batches[0], batches[-1]
    assert any(ex["diff_hunk"].splitlines()[1] in first for ex in ordered[:4])  # the easiest window comes first
    assert any(ex["diff_hunk"].splitlines()[1] in last for ex in ordered[-4:])  # the hardest window comes last
    rows = bug_suite_rows()[:3]
    rows[0].pop("difficulty")
    assert curriculum_order(rows)[0] is rows[0]  # rows from before the field count as easiest
    rows[1]["difficulty"] = "hard"
    with pytest.raises(ValueError, match=f"gold row {rows[1]['id']}: field 'difficulty'"):
        curriculum_order(rows)


def test_orpo_trains_the_sft_policy_through_the_same_asset(harness, tmp_path):
    assert {"sft", "dpo", "orpo"} <= set(TASKS)
    recipe = tiny_recipe(tmp_path, method="sft+orpo", **{"sft.max_steps": 2})
    harness.write_upstream("iter-0001")
    assert harness.materialize(sft_adapter, "iter-0001", recipe).success
    harness.write_pairs("iter-0001")
    assert harness.materialize(dpo_model, "iter-0001", recipe).success
    meta = harness.metadata("dpo_model", "iter-0001")
    assert meta["method"] == "orpo" and meta["pairs"] == 8 and meta["steps"] == 2 and meta["final_loss"] > 0
    # The loss headline leads the metadata; the chart is one click away, here and in the MLflow run it links.
    assert list(meta)[:4] == ["first_loss", "final_loss", "min_loss", "min_loss_step"]
    assert meta["min_loss"] <= min(meta["first_loss"], meta["final_loss"]) and meta["min_loss_step"] in (1, 2)
    assert meta["loss_plot"].startswith("![orpo loss](data:image/png;base64,")
    assert meta["loss_plot_mlflow"] == f"{meta['mlflow_run']}/artifacts/plots/orpo_loss.png"
    logged = harness.tracking.client().list_artifacts(meta["mlflow_run_id"], "plots")
    assert [a.path for a in logged] == ["plots/orpo_loss.png"]
    assert (harness.artifacts.local_path(meta["model_uri"]) / "config.json").is_file()
