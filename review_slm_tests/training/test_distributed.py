"""DDP: two processes under torchrun (gloo on CPU), configured the way a PyTorchJob pod is, reach the
same weights as one process with the same global batch. Only rank 0 reports."""

import socket

from safetensors.torch import load_file

from review_slm.resources.artifact_layout import iteration
from review_slm.resources.launcher import LocalProcessLauncher
from review_slm_tests.training.conftest import sft_adapter, tiny_recipe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(harness, tmp_path, monkeypatch):
    # 20 examples pack into 10 rows: 2 steps of 4 rows stay inside the first epoch, where no rank
    # has to repeat samples to even out a short last batch.
    steps = {"sft.max_steps": 2, "sft.save_steps": 1}
    harness.write_upstream("iter-0001")
    harness.write_upstream("iter-0002")
    single = harness.materialize(
        sft_adapter, "iter-0001", tiny_recipe(tmp_path, **steps, **{"sft.per_device_batch_size": 4})
    )
    assert single.success

    # What the training operator puts in a PyTorchJob master pod; torchrun reads its topology from PET_*.
    port = str(_free_port())
    for name, value in {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
        "WORLD_SIZE": "1",
        "RANK": "0",
        "PET_NNODES": "1",
        "PET_NPROC_PER_NODE": "2",
        "PET_NODE_RANK": "0",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": port,
    }.items():
        monkeypatch.setenv(name, value)
    launcher = LocalProcessLauncher(torchrun_from_env=True)
    assert launcher.command()[-3:] == ["torch.distributed.run", "-m", "review_slm.training.entrypoint"]
    ddp = harness.materialize(
        sft_adapter, "iter-0002", tiny_recipe(tmp_path, **steps, **{"sft.per_device_batch_size": 2}), launcher
    )
    assert ddp.success

    one, two = harness.metadata("sft_adapter", "iter-0001"), harness.metadata("sft_adapter", "iter-0002")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert one["tokens_seen"] == two["tokens_seen"]  # the same examples, summed over both ranks
    assert abs(one["final_loss"] - two["final_loss"]) < 1e-3
    # Rank 0 alone promoted checkpoints and reported: one materialization, one MLflow run.
    assert two["checkpoints_promoted"] == 2 and len(harness.mlflow_runs("sft_adapter", "iter-0002")) == 1
    weights = {
        key: load_file(
            str(
                harness.artifacts.local_path(iteration(harness.artifacts, key).sft_adapter)
                / "adapter_model.safetensors"
            )
        )
        for key in ("iter-0001", "iter-0002")
    }
    for name, tensor in weights["iter-0001"].items():
        assert (weights["iter-0002"][name] - tensor).abs().max().item() < 1e-4, name
    assert any(t.abs().sum() > 0 for n, t in weights["iter-0002"].items() if "lora_B" in n)  # it did train
