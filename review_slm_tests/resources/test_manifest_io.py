"""The one IO manager: manifests as JSON at the layout's place, on a local folder or S3, loaded as typed arguments."""

import json
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import BaseModel

from review_slm.partitions import iteration_partitions
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import ArtifactStore, LocalArtifactStore
from review_slm.resources.manifest_io import ManifestIOManager, read_manifest
from review_slm.resources.s3_artifacts import S3ArtifactStore

KEY = "iter-0001"


class Made(BaseModel):
    uri: str
    rows: int


class Used(BaseModel):
    rows_seen: int


@dg.asset(partitions_def=iteration_partitions)
def made() -> dg.Output[Made]:
    return dg.Output(Made(uri="s3://somewhere/rows.parquet", rows=3), metadata={"rows": 3})


@dg.asset(partitions_def=iteration_partitions)
def used(made: Made) -> Used:
    assert isinstance(made, Made)  # validated as the declared type, not a dict
    return Used(rows_seen=made.rows)


@dg.asset_check(asset=made, blocking=True, partitions_def=iteration_partitions)
def made_has_rows(made: Made) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=made.rows > 0, metadata={"rows": made.rows})


def _materialize(store: ArtifactStore, assets: list, instance, key: str = KEY) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions(iteration_partitions.name, [key])
    return dg.materialize(
        assets,
        partition_key=key,
        instance=instance,
        resources={"io_manager": ManifestIOManager(artifacts=store)},
        raise_on_error=False,
    )


def test_manifests_are_json_at_the_layout_place_and_load_as_the_declared_type(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    with dg.instance_for_test() as instance:
        result = _materialize(store, [made, used, made_has_rows], instance)
        assert result.success
        path = Path(iteration(store, KEY).manifest("made"))
        assert path == tmp_path / "iterations" / KEY / "made" / "manifest.json"
        assert json.loads(path.read_text()) == {"uri": "s3://somewhere/rows.parquet", "rows": 3}
        assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json"]  # no temp file left by the write
        assert read_manifest(store, KEY, "used", Used) == Used(rows_seen=3)
        (check,) = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["rows"].value == 3
        (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == made.key]
        assert event.materialization.metadata["rows"].value == 3  # dg.Output's metadata reaches the UI


def test_a_missing_upstream_manifest_says_what_to_materialize(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    with dg.instance_for_test() as instance:
        result = _materialize(store, [used, dg.AssetSpec("made", partitions_def=iteration_partitions)], instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "made has no manifest for iter-0001: materialize it for this iteration first" in str(
        failure.step_failure_data.error
    )


def test_an_asset_returning_something_else_than_a_manifest_fails(tmp_path):
    @dg.asset(name="made", partitions_def=iteration_partitions)
    def returns_a_dict() -> dict:
        return {"uri": "x"}

    with dg.instance_for_test() as instance:
        result = _materialize(LocalArtifactStore(root=str(tmp_path)), [returns_a_dict], instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "made returned dict: assets return a pydantic manifest" in str(failure.step_failure_data.error)
    assert not Path(iteration(LocalArtifactStore(root=str(tmp_path)), KEY).manifest("made")).exists()


def test_on_s3_the_manifest_is_an_object_beside_the_artifacts(s3_bucket, tmp_path):
    store = S3ArtifactStore(
        s3=S3Resource(region_name="us-east-1"), bucket=s3_bucket, prefix="review-slm", cache_dir=str(tmp_path)
    )
    with dg.instance_for_test() as instance:
        assert _materialize(store, [made, used], instance).success
    uri = f"s3://{s3_bucket}/review-slm/iterations/{KEY}/used/manifest.json"
    assert iteration(store, KEY).manifest("used") == uri
    assert json.loads(store.read_text(uri)) == {"rows_seen": 3}


def test_an_unpartitioned_run_is_told_to_pick_an_iteration(tmp_path):
    @dg.asset(name="made")
    def unpartitioned() -> Made:
        return Made(uri="x", rows=1)

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [unpartitioned],
            instance=instance,
            resources={"io_manager": ManifestIOManager(artifacts=LocalArtifactStore(root=str(tmp_path)))},
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "pick an iteration partition" in str(failure.step_failure_data.error)
