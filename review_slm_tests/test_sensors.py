import json

import dagster as dg

from review_slm.assets.partitions import iteration_partitions
from review_slm.resources.review_source import SnapshotReviewSource
from review_slm.sensors import new_reviews_sensor


def evaluate(instance, cursor=None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"review_source": SnapshotReviewSource(repos=["kubeflow/trainer"])})
    return new_reviews_sensor(ctx)


def test_enough_new_reviews_start_the_next_iteration(monkeypatch):
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "20")
    with dg.instance_for_test() as instance:
        result = evaluate(instance)
        assert isinstance(result, dg.SensorResult)
        (request,) = result.run_requests
        assert request.run_key == "iter-0001" and request.partition_key == "iter-0001"
        assert result.dynamic_partitions_requests[0].partition_keys == ["iter-0001"]
        cursor = json.loads(result.cursor)
        assert cursor["kubeflow/trainer"].startswith("2026-")

        # Nothing new since that cursor: skip, and no duplicate run for the same key.
        assert isinstance(evaluate(instance, result.cursor), dg.SkipReason)

        # With iter-0001 existing and an older cursor, the next key is iter-0002.
        instance.add_dynamic_partitions(iteration_partitions.name, ["iter-0001"])
        older = json.dumps({"kubeflow/trainer": "2026-01-01T00:00:00Z"})
        again = evaluate(instance, older)
        assert again.run_requests[0].run_key == "iter-0002"


def test_below_the_threshold_skips(monkeypatch):
    monkeypatch.setenv("REVIEW_SLM_MIN_NEW_COMMENTS", "100000")
    with dg.instance_for_test() as instance:
        result = evaluate(instance)
        assert isinstance(result, dg.SkipReason) and "need 100000" in result.skip_message
