import json
import uuid

import dagster as dg
import pytest

from review_slm.ingest.review_corpus import ReviewCorpus, mine_into_corpus
from review_slm.partitions import iteration_partitions
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.feedback_source import FileFeedbackSource
from review_slm.resources.review_source import SnapshotReviewSource
from review_slm.sensors import ITERATION_JOB, new_reviews_sensor

SOURCE = SnapshotReviewSource(repos=["kubeflow/trainer"])


def started_run(instance, job_name: str, status, tags: dict | None = None) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name=job_name, run_id=str(uuid.uuid4()), status=status, tags=tags or {}))


def evaluate(instance, artifacts, cursor=None):
    ctx = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"review_source": SOURCE, "artifacts": artifacts, "feedback": FileFeedbackSource()},
    )
    return new_reviews_sensor(ctx)


def test_enough_new_reviews_start_one_iteration_and_only_one(monkeypatch, tmp_path):
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "20")
    artifacts = LocalArtifactStore(root=str(tmp_path))
    with dg.instance_for_test() as instance:
        result = evaluate(instance, artifacts)
        assert isinstance(result, dg.SensorResult)
        (request,) = result.run_requests
        assert request.run_key == "iter-0001" and request.partition_key == "iter-0001"
        assert result.dynamic_partitions_requests[0].partition_keys == ["iter-0001"]
        assert json.loads(result.cursor)["requested"]["kubeflow/trainer"].startswith("2026-")

        # The next tick (or a restarted daemon, which reads the stored cursor) does not ask again.
        assert isinstance(evaluate(instance, artifacts, result.cursor), dg.SkipReason)

        # While an iteration runs, nothing else starts, whatever the count.
        instance.add_dynamic_partitions(iteration_partitions.name, ["iter-0001"])
        run = started_run(instance, ITERATION_JOB, dg.DagsterRunStatus.STARTED)
        busy = evaluate(instance, artifacts)
        assert isinstance(busy, dg.SkipReason) and "in flight" in busy.skip_message
        instance.report_run_canceled(run)
        assert isinstance(evaluate(instance, artifacts), dg.SensorResult)  # finished: no longer in flight


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED])
def test_an_iteration_launched_from_the_ui_or_cli_also_holds_the_sensor(monkeypatch, tmp_path, status):
    """`dagster asset materialize`, `dg launch`, `make run` and the UI's "Materialize all" run `__ASSET_JOB`
    with the partition tag, not `iteration_job`: the guard must see them too."""
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "20")
    artifacts = LocalArtifactStore(root=str(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(iteration_partitions.name, ["iter-0001"])
        started_run(instance, "some_other_job", dg.DagsterRunStatus.STARTED)  # unrelated: no partition
        assert isinstance(evaluate(instance, artifacts), dg.SensorResult)
        started_run(instance, "__ASSET_JOB", status, tags={"dagster/partition": "iter-0001"})
        busy = evaluate(instance, artifacts)
        assert isinstance(busy, dg.SkipReason) and "__ASSET_JOB, partition iter-0001" in busy.skip_message


def test_counts_from_the_mined_corpus_cursor(monkeypatch, tmp_path):
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "1")
    artifacts = LocalArtifactStore(root=str(tmp_path))
    mine_into_corpus(SOURCE, ReviewCorpus(artifacts, SOURCE.source_name))
    with dg.instance_for_test() as instance:
        result = evaluate(instance, artifacts)
        assert isinstance(result, dg.SkipReason) and result.skip_message.startswith("0 new")


def test_below_the_threshold_skips(monkeypatch, tmp_path):
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "100000")
    with dg.instance_for_test() as instance:
        result = evaluate(instance, LocalArtifactStore(root=str(tmp_path)))
        assert isinstance(result, dg.SkipReason) and "need 100000" in result.skip_message
