"""FSDP2 (`hardware.sharding: fsdp`) on CPU with gloo, through the real asset and entrypoint: two ranks train the
tiny student to the losses of one rank with the same global batch (2 rows a step), and a sharded checkpoint
written by two ranks resumes on one. Full fine-tuning, as the sharded 7B recipe does.

Tolerance: 1e-4 on each step's loss and 1e-4 on every weight. The ranks sum their gradient shards in another
order than one process sums its batch, so float32 results agree to about 1e-6, not bit for bit.
"""

from safetensors.torch import load_file

from review_slm.resources.artifact_layout import iteration
from review_slm.resources.launcher import LocalProcessLauncher
from review_slm_tests.training.conftest import dpo_model, sft_adapter, tiny_recipe

TOLERANCE = 1e-4


def _weights(harness, key: str) -> dict:
    path = harness.artifacts.local_path(iteration(harness.artifacts, key).sft_adapter)
    return load_file(str(path / "model.safetensors"))


def test_two_ranks_match_one_and_a_two_rank_checkpoint_resumes_on_one(harness, tmp_path, monkeypatch):
    # 20 examples pack into 10 rows: 3 steps of 2 rows stay inside the first epoch, where no rank has to repeat
    # rows to even out a short last batch (which would make two ranks see other rows than one).
    shape = {"finetuning": "full", "hardware.sharding": "fsdp", "sft.max_steps": 3, "sft.save_steps": 1}
    one_rank = tiny_recipe(tmp_path, **shape, **{"sft.per_device_batch_size": 2})
    two_ranks = tiny_recipe(tmp_path, **shape, **{"sft.per_device_batch_size": 1})
    harness.write_upstream("iter-0001")
    harness.write_upstream("iter-0002")

    reference = harness.materialize(sft_adapter, "iter-0001", one_rank)  # a process group of one
    assert reference.success

    # Two ranks, diverging (injected NaN) at step 3: the asset fails without a retry and the sharded checkpoints of
    # steps 1 and 2 stay in the store, one DCP shard file per rank.
    monkeypatch.setenv("REVIEW_SLM_FAULT", "sft:nan@3")
    diverged = harness.materialize(sft_adapter, "iter-0002", two_ranks, LocalProcessLauncher(nproc_per_node=2))
    assert not diverged.success
    store = harness.artifacts.local_path(iteration(harness.artifacts, "iter-0002").checkpoints("sft_adapter"))
    last = sorted(store.glob("step-*"))[-1]
    assert last.name == "step-00000002"
    assert sorted(p.name for p in (last / "pytorch_model_fsdp_0").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    one, two = harness.losses("sft_adapter", "iter-0001"), harness.losses("sft_adapter", "iter-0002")
    assert sorted(one) == [1, 2, 3] and sorted(two) == [1, 2]
    for step in (1, 2):
        assert abs(one[step] - two[step]) < TOLERANCE, (step, one[step], two[step])

    # The same iteration again on one rank: it resumes the two-rank checkpoint of step 2 and ends where one rank did.
    monkeypatch.delenv("REVIEW_SLM_FAULT")
    resumed = harness.materialize(sft_adapter, "iter-0002", one_rank)
    assert resumed.success
    meta = harness.metadata("sft_adapter", "iter-0002")
    assert (meta["resumed_from_step"], meta["world_size"], meta["steps"]) == (2, 1, 3)
    assert abs(harness.losses("sft_adapter", "iter-0002")[3] - one[3]) < TOLERANCE
    reference_weights, resumed_weights = _weights(harness, "iter-0001"), _weights(harness, "iter-0002")
    assert reference_weights.keys() == resumed_weights.keys()
    for name, tensor in reference_weights.items():
        assert (resumed_weights[name] - tensor).abs().max().item() < TOLERANCE, name


def test_sharded_dpo_on_two_ranks_publishes_the_merged_model(harness, tmp_path):
    # DPO of a fully fine-tuned policy: TRL keeps a frozen copy as the reference (whole on each rank on CPU, where
    # it is placed before the switch to FSDP; sharded on CUDA). Rank 0 merges and publishes as without sharding.
    shape = {"finetuning": "full", "hardware.sharding": "fsdp", "sft.max_steps": 1, "dpo.max_steps": 2}
    recipe = tiny_recipe(tmp_path, **shape, **{"dpo.per_device_batch_size": 1})
    harness.write_upstream("iter-0001")
    assert harness.materialize(sft_adapter, "iter-0001", recipe).success
    harness.write_pairs("iter-0001")
    assert harness.materialize(dpo_model, "iter-0001", recipe, LocalProcessLauncher(nproc_per_node=2)).success
    meta = harness.metadata("dpo_model", "iter-0001")
    assert (meta["world_size"], meta["steps"], meta["pairs"]) == (2, 2, 8) and meta["final_loss"] > 0
    assert (harness.artifacts.local_path(meta["model_uri"]) / "model.safetensors").is_file()
