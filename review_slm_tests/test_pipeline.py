"""Two iterations end to end in-process (real training subprocesses on the tiny recipe), then a gate refusal."""

import json
from pathlib import Path

import dagster as dg
import pytest

from review_slm import definitions
from review_slm.deploy.manifest import ReleaseManifest
from review_slm.evaluate.manifest import EvaluationManifest
from review_slm.partitions import iteration_partitions
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.feedback_source import FileFeedbackSource
from review_slm.resources.manifest_io import ManifestIOManager, read_manifest
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm.resources.training_recipe import TrainingRecipe

ASSET_KEYS = [a.key.to_user_string() for a in definitions.ASSETS]  # the set test_definitions pins


READS: list[tuple[str, str]] = []  # (the asset running, the URI it read)


def running_asset() -> str | None:
    """The asset whose step is running in this process; None in an asset check or outside a run."""
    try:
        return dg.AssetExecutionContext.get().asset_key.to_user_string()
    except Exception:
        return None


class RecordingArtifactStore(LocalArtifactStore):
    """The local store, noting which asset reads which artifact: the lineage the graph must declare."""

    def local_path(self, uri: str) -> Path:
        asset = running_asset()
        if asset is not None:
            READS.append((asset, uri))
        return super().local_path(uri)

    def read_text(self, uri: str) -> str:
        return self.local_path(uri).read_text(encoding="utf-8")


def producer(uri: str, root: str) -> str | None:
    """The asset that wrote `uri`: `<root>/iterations/<key>/<asset>/...` (None for shared artifacts)."""
    parts = Path(uri).relative_to(root).parts
    return parts[2] if parts[0] == "iterations" else None


def feedback_export(path: Path) -> FileFeedbackSource:
    """Three of the reviewer's comments, exported with the 👍, the 👎 and the reply they got."""
    hunks = {
        name: f"@@ -40,2 +40,3 @@ func (p *{name}) Start() {{\n \tfor i := 0; i < p.{name}Size; i++ {{\n"
        f"+\t\tgo func() {{ p.{name}[i] = 1 }}()\n \t}}"
        for name in ("Pool", "Queue", "Cache")
    }
    marker = (
        '<!-- review-slm-finding {"line": 41, "severity": "high", "category": "concurrency", "comment": "COMMENT"} -->'
    )
    url = "https://api.github.com/repos/kubeflow/trainer/pulls/9"
    root = {"user": {"login": "review-bot"}, "line": 41, "pull_request_url": url}
    comments = [
        {
            **root,
            "id": 1,
            "path": "pkg/a.go",
            "diff_hunk": hunks["Pool"],
            "body": marker.replace("COMMENT", "p.m is written without a lock"),
            "reactions": {"+1": 1},
        },
        {
            **root,
            "id": 2,
            "path": "pkg/b.go",
            "diff_hunk": hunks["Queue"],
            "body": marker.replace("COMMENT", "the loop variable is shared"),
            "reactions": {"-1": 1},
        },
        {
            **root,
            "id": 3,
            "path": "pkg/c.go",
            "diff_hunk": hunks["Cache"],
            "body": marker.replace("COMMENT", "style nit"),
            "reactions": {},
        },
        {
            "id": 4,
            "in_reply_to_id": 3,
            "user": {"login": "alice"},
            "body": "The real problem is the data race on p.m: use a mutex",
            "pull_request_url": url,
        },
    ]
    path.write_text(json.dumps({"kubeflow/trainer": {"comments": comments, "resolved": []}}))
    return FileFeedbackSource(repos=["kubeflow/trainer"], bot_login="review-bot", path=str(path))


@pytest.fixture
def pipeline(home, model_cache, fast_recipe_path, tmp_path):
    resources = definitions.local_resources()
    resources["artifacts"] = RecordingArtifactStore(root=resources["artifacts"].root)
    resources["io_manager"] = ManifestIOManager(artifacts=resources["artifacts"])
    READS.clear()
    resources["teacher"] = HumanCommentTeacher()
    resources["feedback"] = feedback_export(tmp_path / "feedback.json")
    resources["recipe"] = TrainingRecipe(name=str(fast_recipe_path), cache_dir=str(model_cache))
    defs = dg.Definitions(
        assets=definitions.ASSETS,
        asset_checks=[*definitions.GOLD_SET_CHECKS, definitions.no_regression_vs_champion],
        jobs=[definitions.iteration_job],
        resources=resources,
    )
    with dg.instance_for_test() as instance:

        def run(key: str, run_config: dict | None = None):
            instance.add_dynamic_partitions(iteration_partitions.name, [key])
            job = defs.resolve_job_def("iteration_job")
            return job.execute_in_process(
                partition_key=key, instance=instance, run_config=run_config or {}, raise_on_error=False
            )

        def metadata(asset: str, key: str) -> dict:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
            ).records
            if not records:
                return {}
            return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}

        yield run, metadata, resources


def test_two_iterations_then_the_gate_refuses_a_worse_candidate(pipeline, home):
    run, metadata, resources = pipeline

    first = run("iter-0001")
    assert first.success
    # True lineage: every artifact an asset read was written by itself or by an asset it declares upstream.
    graph = definitions.defs.resolve_asset_graph()
    root = resources["artifacts"].root
    undeclared = {
        (asset, writer)
        for asset, uri in READS
        if (writer := producer(uri, root)) not in (None, asset)
        and dg.AssetKey(writer) not in graph.get(dg.AssetKey(asset)).parent_keys
    }
    assert READS and not undeclared, f"assets read artifacts of assets they do not declare: {sorted(undeclared)}"
    # The recorder sees reads: the manifests loaded as typed arguments, the artifacts they name.
    assert {("preference_pairs", "sft_adapter"), ("eval_report", "gold_set")} <= {
        (a, producer(u, root)) for a, u in READS
    }
    for asset in ASSET_KEYS:
        assert metadata(asset, "iter-0001"), f"{asset} not materialized"
    gold = metadata("gold_set", "iter-0001")
    assert gold["rows_in"] == gold["rows_kept"] + gold["rows_quarantined"]
    assert gold["rows_quarantined"] == sum(v for k, v in gold.items() if k.startswith("quarantined_"))
    assert gold["teacher"] == "none" and gold["quarantined_malformed_patch"] == 2 and gold["estimate_train_tokens"] > 0
    assert metadata("gold_set_quarantine", "iter-0001")["rows"] == gold["rows_quarantined"]
    gold_checks = {
        c.check_name: c.passed for c in first.get_asset_check_evaluations() if c.asset_key == dg.AssetKey("gold_set")
    }
    assert gold_checks == dict.fromkeys(
        [
            "gold_schema_valid",
            "gold_no_secrets",
            "gold_lazy_share_under_cap",
            "gold_duplicate_share_under_threshold",
            "gold_test_split_frozen",
            "gold_min_rows",
        ],
        True,
    )
    mined = metadata("mined_reviews", "iter-0001")
    assert mined["comments_new"] == mined["comments_fetched"] > 0 and mined["replies_attached"] > 0
    assert metadata("parent_model", "iter-0001")["parent_iteration"] == "none (first iteration)"
    assert metadata("deployed_endpoint", "iter-0001")["model_version"] == "1"
    sft = metadata("sft_adapter", "iter-0001")
    assert sft["steps"] == 4 and sft["final_loss"] > 0 and sft["mlflow_run"].startswith("http")
    pairs = metadata("preference_pairs", "iter-0001")
    kinds = {k: v for k, v in pairs.items() if k.startswith("rejected_")}
    assert pairs["pairs"] == sum(kinds.values()) + pairs["feedback_pairs"] and kinds["rejected_synthetic_lazy"] > 0
    # Every prompt is matched or rejected once; the synthetic lazy and noise pairs and the feedback pairs come on top.
    synthetic = kinds["rejected_synthetic_lazy"] + kinds.get("rejected_synthetic_noise", 0)
    assert pairs["pairs"] - synthetic - pairs["feedback_pairs"] + pairs.get("matched_gold", 0) == pairs["prompts"]
    assert pairs["pairs_on_clean_prompts"] + pairs["pairs_on_buggy_prompts"] <= pairs["pairs"]
    assert (
        pairs["feedback_accepted"],
        pairs["feedback_dismissed"],
        pairs["feedback_corrected"],
        pairs["feedback_pairs"],
    ) == (1, 1, 1, 3)
    eval_md = metadata("eval_report", "iter-0001")
    assert eval_md["gate_reference"] == "base" and "| metric | candidate | base |" in eval_md["eval_table"]
    assert eval_md["teacher_compared"] == "no: no teacher model"
    # A fully fine-tuned policy is full weights: never published as a LoRA adapter (KServe would hot-load it).
    assert metadata("dpo_model", "iter-0001")["adapter_uri"].startswith("none (full fine-tuning")
    assert "loss_plot" in sft and sft["loss_plot"].startswith("![sft loss](data:image/png;base64,")

    second = run("iter-0002")
    assert second.success
    mined2 = metadata("mined_reviews", "iter-0002")
    assert mined2["comments_new"] == 0 and mined2["records"] == mined["records"]  # incremental: nothing twice
    iter1_model = metadata("deployed_endpoint", "iter-0001")["model_uri"]
    parent = metadata("parent_model", "iter-0002")
    assert parent["parent_iteration"] == "iter-0001" and parent["model_uri"] == iter1_model
    assert metadata("sft_adapter", "iter-0002")["parent_model"] == iter1_model
    eval2 = metadata("eval_report", "iter-0002")
    assert eval2["gate_reference"] == "champion"
    # The keys Dagster's Plots chart across iterations are the same in both, and numeric.
    charted = [
        "candidate_format_validity",
        "candidate_f1",
        "candidate_no_issues_rate_on_buggy",
        "candidate_test_f1",
        "reference_score",
        "base_score",
    ]
    assert all(isinstance(m[k], float) for m in (eval_md, eval2) for k in charted)
    assert "champion_score" in eval2 and "champion_score" not in eval_md
    # The UI shows the gate's verdict first and charts every number (it drops what comes past 100).
    assert list(eval2)[:2] == ["gate_passed", "gate_reason"] and eval2["gate_passed"] is True
    assert sum(isinstance(v, (int, float)) for v in eval2.values()) <= 60
    assert resources["tracking"].champion().iteration == "iter-0002"
    # The registry holds MLflow models (loading one is test_tracking's job); the trainer got the folder above.
    assert (
        resources["tracking"].champion().registry_uri == metadata("deployed_endpoint", "iter-0002")["mlflow_model_uri"]
    )
    assert metadata("deployed_endpoint", "iter-0001")["mlflow_model_uri"].startswith("models:/m-")
    # The test split is frozen: identical rows in both iterations.
    art = resources["artifacts"]
    assert art.read_table(iteration(art, "iter-0001").gold_split("test")) == art.read_table(
        iteration(art, "iter-0002").gold_split("test")
    )

    # Iteration 3 must beat the champion by a full point: impossible, so the blocking check fails.
    third = run("iter-0003", {"ops": {"eval_report": {"config": {"regression_tolerance": -1.0}}}})
    gate = [c.passed for c in third.get_asset_check_evaluations() if c.check_name == "no_regression_vs_champion"]
    assert gate == [False]
    assert metadata("eval_report", "iter-0003") and not metadata("deployed_endpoint", "iter-0003")
    assert resources["tracking"].champion().iteration == "iter-0002"
    served = json.loads(Path(home, "serving", "champion", "SERVED.json").read_text())
    assert served["iteration"] == "iter-0002"
    # What the check decided is what the manifest says, and the refused iteration left no release manifest.
    refused = read_manifest(art, "iter-0003", "eval_report", EvaluationManifest)
    assert not refused.gate.passed and refused.gate.reason == metadata("eval_report", "iter-0003")["gate_reason"]
    release = read_manifest(art, "iter-0002", "deployed_endpoint", ReleaseManifest)
    assert release.model_version == "2" and release.endpoint.kind == "local-folder"
    assert not art.exists(iteration(art, "iter-0003").manifest("deployed_endpoint"))
