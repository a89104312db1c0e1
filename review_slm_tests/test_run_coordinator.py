"""dagster.yaml's run coordinator refuses a run for a malformed iteration key before any step starts."""

import uuid
from pathlib import Path

import dagster as dg
import yaml

from review_slm.run_coordinator import IterationRunCoordinator

INSTANCE_YAML = yaml.safe_load((Path(__file__).parents[1] / "instance" / "dagster.yaml").read_text())


def _submit(instance, key: str) -> dg.DagsterRun:
    run = dg.DagsterRun(job_name="iteration_job", run_id=str(uuid.uuid4()), tags={"dagster/partition": key})
    instance.add_run(run)
    return instance.run_coordinator.submit_run(dg.SubmitRunContext(run, workspace=None))


def test_a_malformed_key_is_refused_at_submission_and_a_good_one_is_queued(monkeypatch):
    queued = []
    monkeypatch.setattr(
        dg.QueuedRunCoordinator,
        "submit_run",
        lambda self, context: queued.append(context.dagster_run.tags) or context.dagster_run,
    )
    with dg.instance_for_test(overrides=INSTANCE_YAML) as instance:
        assert isinstance(instance.run_coordinator, IterationRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1  # `concurrency: runs:`
        refused = _submit(instance, "my experiment")
        assert refused.status == dg.DagsterRunStatus.FAILURE
        messages = [e.message for e in instance.all_logs(refused.run_id)]
        assert any(
            "run refused before any step: iteration key 'my experiment' is not of the form iter-NNNN" in m
            for m in messages
        )
        _submit(instance, "iter-0007")  # handed to Dagster's queue as usual
        assert queued == [{"dagster/partition": "iter-0007"}]
