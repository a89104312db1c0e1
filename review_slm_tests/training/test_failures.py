"""Injected failures through the real assets and trainer processes (REVIEW_SLM_FAULT, see training/faults.py)."""

import dagster as dg
from safetensors.torch import load_file

from review_slm.resources.artifact_layout import iteration
from review_slm_tests.training.conftest import sft_adapter, tiny_recipe


def _adapter_weights(harness, key):
    path = harness.artifacts.local_path(iteration(harness.artifacts, key).sft_adapter)
    return load_file(str(path / "adapter_model.safetensors"))


def _step_failure(result) -> dg.DagsterEvent:
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    return failures[0]


def test_killed_trainer_is_retried_and_resumes_from_its_last_checkpoint(harness, tmp_path, monkeypatch):
    recipe = tiny_recipe(tmp_path, **{"sft.max_steps": 6, "sft.save_steps": 2, "sft.per_device_batch_size": 2})
    harness.write_upstream("iter-0001")
    harness.write_upstream("iter-0002")
    assert harness.materialize(sft_adapter, "iter-0001", recipe).success  # the uninterrupted reference

    monkeypatch.setenv("REVIEW_SLM_FAULT", "sft:kill@3")  # SIGKILL after step 3; the checkpoint of step 2 exists
    result = harness.materialize(sft_adapter, "iter-0002", recipe)
    assert result.success
    assert len([e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]) == 1

    meta = harness.metadata("sft_adapter", "iter-0002")
    assert meta["resumed_from_step"] == 2 and meta["steps"] == 6
    first, retry = harness.mlflow_runs("sft_adapter", "iter-0002")
    assert first.info.status == "FAILED" and retry.info.status == "FINISHED"
    assert retry.data.tags["review_slm.resumed_from_step"] == "2"
    # Optimizer, scheduler, RNG and data position came back: the resumed run ends where the uninterrupted one did.
    assert meta["final_loss"] == harness.metadata("sft_adapter", "iter-0001")["final_loss"]
    reference, resumed = _adapter_weights(harness, "iter-0001"), _adapter_weights(harness, "iter-0002")
    for name, tensor in reference.items():
        assert (resumed[name] - tensor).abs().max().item() < 1e-5, name
    # Checkpoints are dropped once the adapter is saved: the next run of this iteration starts fresh.
    assert not harness.artifacts.exists(iteration(harness.artifacts, "iter-0002").checkpoints("sft_adapter"))


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_effective_batch(harness, tmp_path, monkeypatch):
    recipe = tiny_recipe(tmp_path, **{"sft.max_steps": 2, "sft.per_device_batch_size": 4})
    harness.write_upstream("iter-0001")
    monkeypatch.setenv("REVIEW_SLM_FAULT", "sft:oom>1")
    result = harness.materialize(sft_adapter, "iter-0001", recipe)
    assert result.success
    meta = harness.metadata("sft_adapter", "iter-0001")
    assert meta["oom_retries"] == 2 and meta["micro_batch_attempts"] == "4x1 -> 2x2 -> 1x4"
    assert (meta["micro_batch"], meta["gradient_accumulation"]) == (1, 4) and meta["steps"] == 2
    # The pre-launch memory plan of the recipe as given (CPU: logged, never refused).
    assert "| **total** |" in meta["memory_plan"] and "s=1024, b=4" in meta["memory_plan"]
    (run,) = harness.mlflow_runs("sft_adapter", "iter-0001")
    assert run.data.tags["review_slm.micro_batch_attempts"] == "4x1 -> 2x2 -> 1x4"
    # Reproducibility lock and the loss plot, on the same MLflow run.
    assert run.data.tags["stack.torch"].startswith("2.") and run.data.tags["mlflow.source.git.commit"] != "unknown"
    artifacts = {
        a.path for d in ("repro", "plots") for a in harness.tracking.client().list_artifacts(run.info.run_id, d)
    }
    assert {"repro/sft_lock.json", "repro/sft_recipe.resolved.yaml", "plots/sft_loss.png"} <= artifacts
    assert run.data.metrics["sft/tokens_per_s"] > 0 and run.data.metrics["sft/peak_memory_mb"] > 0


def test_out_of_memory_at_the_floor_fails_saying_what_was_tried(harness, tmp_path, monkeypatch):
    recipe = tiny_recipe(
        tmp_path, **{"sft.max_steps": 2, "sft.per_device_batch_size": 4, "resilience.min_micro_batch": 2}
    )
    harness.write_upstream("iter-0001")
    monkeypatch.setenv("REVIEW_SLM_FAULT", "sft:oom>1")
    result = harness.materialize(sft_adapter, "iter-0001", recipe)
    assert not result.success
    failure = _step_failure(result).step_failure_data
    assert (
        "4x1, 2x2" in failure.user_failure_data.description
        and "min_micro_batch=2" in failure.user_failure_data.description
    )
    assert failure.user_failure_data.metadata["failure"].value == "oom"
    assert not harness.metadata("sft_adapter", "iter-0001")
    (run,) = harness.mlflow_runs("sft_adapter", "iter-0001")  # not retried by the asset's retry policy
    assert run.info.status == "FAILED" and run.data.tags["review_slm.failure"] == "oom"


def test_divergence_stops_the_run_fails_the_asset_and_promotes_nothing(harness, tmp_path, monkeypatch):
    recipe = tiny_recipe(tmp_path, **{"sft.max_steps": 6, "sft.save_steps": 2})
    harness.write_upstream("iter-0001")
    monkeypatch.setenv("REVIEW_SLM_FAULT", "sft:nan@3")
    result = harness.materialize(sft_adapter, "iter-0001", recipe)
    assert not result.success
    failure = _step_failure(result).step_failure_data.user_failure_data
    assert "diverged at step 3" in failure.description and "Nothing was promoted" in failure.description
    assert failure.metadata["step"].value == 3 and failure.metadata["loss"].value == "nan"
    assert not harness.metadata("sft_adapter", "iter-0001")
    assert not harness.artifacts.exists(iteration(harness.artifacts, "iter-0001").sft_adapter)
    (run,) = harness.mlflow_runs("sft_adapter", "iter-0001")
    assert run.info.status == "FAILED"
    assert run.data.tags["review_slm.failure"] == "divergence" and run.data.tags["review_slm.failure.step"] == "3"
    assert run.data.metrics["sft/loss"] > 0  # the steps before the divergence were logged
