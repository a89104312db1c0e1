import dagster as dg
import pytest
from pydantic import BaseModel

from review_slm.definitions import ASSETS, defs

EXPECTED = {
    "mined_reviews",
    "hf_supplement",
    "gold_set",
    "gold_set_quarantine",
    "parent_model",
    "sft_adapter",
    "preference_pairs",
    "dpo_model",
    "eval_report",
    "deployed_endpoint",
}
GROUPS = {"data", "training", "evaluation", "deployment"}


def test_graph_reads_like_the_pipeline():
    graph = defs.resolve_asset_graph()
    specs = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    assert set(specs) == EXPECTED
    for name, node in specs.items():
        assert node.partitions_def is not None and node.partitions_def.name == "iteration", name
        assert node.group_name in GROUPS, name
        assert node.description and node.code_version and node.kinds, name
    assert {p.to_user_string() for p in graph.get(dg.AssetKey("gold_set")).parent_keys} == {
        "mined_reviews",
        "hf_supplement",
    }
    parents = lambda asset: {p.to_user_string() for p in graph.get(dg.AssetKey(asset)).parent_keys}  # noqa: E731
    # Everything each asset reads is declared (test_pipeline checks this against the reads of a real run): the
    # upstreams are typed arguments, so the graph's edges are the assets' signatures, and no deps= is left.
    assert parents("sft_adapter") == {"gold_set", "parent_model"}
    assert parents("preference_pairs") == {"sft_adapter", "gold_set"}
    assert parents("dpo_model") == {"preference_pairs", "sft_adapter", "parent_model", "gold_set"}
    assert parents("eval_report") == {"dpo_model", "gold_set"}
    assert parents("deployed_endpoint") == {"eval_report", "dpo_model"}
    for asset in ASSETS:
        for name, key in asset.keys_by_input_name.items():
            typ = asset.op.input_def_named(name).dagster_type
            assert not typ.is_nothing and issubclass(typ.typing_type, BaseModel), f"{asset.key}: {key} is not typed"
    for name, node in specs.items():
        assert node.owners and node.tags.get("stage"), name
    check = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey("eval_report"), "no_regression_vs_champion"))
    assert check.blocking
    assert defs.resolve_job_def("iteration_job") is not None


def test_the_k8s_profile_validates_and_trains_with_kubeflow_jobs(monkeypatch, tmp_path):
    """What the code location in the cluster loads: S3 artifacts, PyTorchJob (or TrainJob) trainers, KServe."""
    import os
    import subprocess
    import sys

    from review_slm.definitions import k8s_resources
    from review_slm.resources.kserve import KServeServing
    from review_slm.resources.kubeflow import PyTorchJobLauncher, TrainJobLauncher
    from review_slm.resources.s3_artifacts import S3ArtifactStore

    env = {
        **os.environ,
        "REVIEW_SLM_PROFILE": "k8s",
        "DAGSTER_HOME": str(tmp_path),
        "REVIEW_SLM_ARTIFACT_URI": "s3://models/review-slm",
    }
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    result = subprocess.run(
        [dagster, "definitions", "validate", "-m", "review_slm.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    monkeypatch.setenv("REVIEW_SLM_ARTIFACT_URI", "s3://models/review-slm")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.review-slm.svc:9000")
    resources = k8s_resources()
    launcher = resources["launcher"]
    assert isinstance(launcher, PyTorchJobLauncher) and launcher.namespace == "review-slm" and launcher.in_cluster
    assert launcher.env["AWS_ENDPOINT_URL"] == "http://minio.review-slm.svc:9000"
    assert set(launcher.secret_env) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # by reference, never values
    artifacts = resources["artifacts"]
    assert (
        isinstance(artifacts, S3ArtifactStore)
        and artifacts.uri("iterations", "iter-0001") == "s3://models/review-slm/iterations/iter-0001"
    )
    assert isinstance(resources["serving"], KServeServing)
    # The manifests live beside the artifacts, on S3, as JSON (no pickles in a second place).
    assert resources["io_manager"].artifacts is artifacts
    monkeypatch.setenv("REVIEW_SLM_LAUNCHER", "trainjob")
    assert isinstance(k8s_resources()["launcher"], TrainJobLauncher)
    monkeypatch.setenv("REVIEW_SLM_LAUNCHER", "mpijob")
    with pytest.raises(ValueError, match="REVIEW_SLM_LAUNCHER='mpijob'"):
        k8s_resources()


def test_dg_finds_the_project_and_loads_its_definitions(tmp_path):
    """`dg` (`[tool.dg]` in pyproject.toml) loads review_slm.definitions, so `dg launch` / `dg dev` work."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "REVIEW_SLM_HOME": str(tmp_path / "home")}
    dg_cli = os.path.join(os.path.dirname(sys.executable), "dg")
    result = subprocess.run(
        [dg_cli, "list", "defs", "--json"],
        cwd=Path(__file__).parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    listed = json.loads(result.stdout)
    assert {a["asset_key"] for a in listed["assets"]} == EXPECTED
    assert [j["name"] for j in listed["jobs"]] == ["iteration_job"]
    assert [s["name"] for s in listed["sensors"]] == ["new_reviews_sensor"]
