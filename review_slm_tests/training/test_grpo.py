"""GRPO (`method: sft+grpo`) through dpo_model's place in the graph, by the real entrypoint process, on CPU:
it trains on the gold train prompts, logs each reward function per step to MLflow, checkpoints, and a
killed run resumes from its last checkpoint."""

import dagster as dg

from review_slm.resources.launcher import LocalProcessLauncher
from review_slm.train.assets import preference_pairs
from review_slm.training.methods import TASKS
from review_slm_tests.training.conftest import dpo_model, sft_adapter, tiny_recipe

GRPO = {
    "sft.max_steps": 2,
    "grpo.max_steps": 4,
    "grpo.per_device_batch_size": 4,
    "grpo.num_generations": 2,
    "grpo.max_completion_length": 12,
    "grpo.max_prompts": 8,
    "grpo.save_steps": 2,
    "grpo.logging_steps": 1,
}


def test_grpo_takes_dpo_models_place_logs_each_reward_and_resumes_after_a_kill(harness, tmp_path, monkeypatch):
    assert "grpo" in TASKS
    recipe = tiny_recipe(tmp_path, method="sft+grpo", **GRPO)
    harness.write_upstream("iter-0001")  # gold train split + parent; GRPO needs no preference pairs
    assert harness.materialize(sft_adapter, "iter-0001", recipe).success

    class NoTrainer(LocalProcessLauncher):
        def launch(self, context, spec, env):
            raise AssertionError(f"preference_pairs launched `{spec.task}` for an sft+grpo recipe")

    # GRPO needs no pairs: preference_pairs records that it built none, without a generation run.
    assert harness.materialize(preference_pairs, "iter-0001", recipe, launcher=NoTrainer()).success
    pairs = harness.metadata("preference_pairs", "iter-0001")
    assert pairs["pairs"] == 0 and pairs["skipped"].startswith("sft+grpo")

    monkeypatch.setenv("REVIEW_SLM_FAULT", "grpo:kill@3")  # SIGKILL after step 3: the checkpoint of step 2 exists
    result = harness.materialize(dpo_model, "iter-0001", recipe)
    assert result.success
    assert len([e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]) == 1

    meta = harness.metadata("dpo_model", "iter-0001")
    assert meta["method"] == "grpo" and meta["generation"] == "generate" and meta["prompts"] == 8
    assert meta["resumed_from_step"] == 2 and meta["steps"] == 4
    assert isinstance(meta["first_reward"], float) and isinstance(meta["final_reward"], float)
    assert (harness.artifacts.local_path(meta["model_uri"]) / "config.json").is_file()  # merged, for eval_report

    _, retry = harness.mlflow_runs("dpo_model", "iter-0001")
    assert retry.data.params["method"] == "grpo" and "grpo.reward_weights" in retry.data.params
    client = harness.tracking.client()
    # (`severity` is not scored on clean diffs, so a step of only clean prompts has no value for it.)
    for name in ("format", "finding_match", "lazy_penalty", "length"):
        history = client.get_metric_history(retry.info.run_id, f"grpo/rewards_{name}_mean")
        assert [m.step for m in history] == [3, 4], name  # every step after the resume, each reward on its own
    assert [m.step for m in client.get_metric_history(retry.info.run_id, "grpo/reward")] == [3, 4]
