"""eval_report with an OpenAI-compatible teacher and judge (stand-in replica on 127.0.0.1): the teacher column
survives a failed item, every compared model gets a judge score, and a rerun asks the teacher nothing.

The trainer's generation of the candidate's and base's answers is replaced at the process boundary (the
launcher): what is under test is what eval_report does with the teacher; generation has its own tests."""

import json

import dagster as dg
import pytest

from review_slm.core import tables
from review_slm.evaluate.assets import eval_report, no_regression_vs_champion
from review_slm.partitions import iteration_partitions
from review_slm.resources.launcher import LocalProcessLauncher, TrainerReport
from review_slm.resources.manifest_io import ManifestIOManager, write_manifest
from review_slm.resources.openai_teacher import OpenAITeacher
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm.train.manifest import CandidateModel
from review_slm_tests.resources.fleet_standin import ANSWER, ReplicaState, fleet_standin
from review_slm_tests.training.conftest import Harness, bug_suite_rows, tiny_recipe, upstream_specs


def answers_without_a_trainer(artifacts) -> LocalProcessLauncher:
    """The candidate names the problem (the stand-in judge's "right"), the base answers in prose."""

    class AnswersWithoutATrainer(LocalProcessLauncher):
        def launch(self, context, spec, env):
            assert spec.task == "generate"
            for request in spec.generate:
                answer = json.dumps(ANSWER) if request.name == "candidate" else "LGTM"
                prompts = artifacts.read_table(request.prompts_file)
                artifacts.write_table(
                    request.output_file, [{"id": p["id"], "answer": answer} for p in prompts], tables.ANSWERS
                )
            return TrainerReport()

    return AnswersWithoutATrainer()


@pytest.fixture
def harness(home, model_cache, tmp_path):
    with dg.instance_for_test() as instance:
        yield Harness(home, model_cache, tmp_path, instance)


def test_teacher_column_and_judge_scores_in_eval_report_and_a_rerun_asks_nothing(harness, tmp_path):
    key = "iter-0001"
    harness.write_gold(key, {"train": [], "val": [], "test": bug_suite_rows()[:6]})
    candidate = CandidateModel(
        model_uri="answered-by-the-stand-in", adapter_uri=None, parent_model_uri="base", method="dpo", mlflow_run_id=""
    )
    write_manifest(harness.artifacts, key, "dpo_model", candidate)
    harness.instance.add_dynamic_partitions(iteration_partitions.name, [key])
    recipe = TrainingRecipe(name=str(tiny_recipe(tmp_path)), cache_dir=str(harness.model_cache))
    launcher = answers_without_a_trainer(harness.artifacts)
    state = ReplicaState(fail_first=[400])  # the teacher's first request is refused for good

    def run(urls) -> dict:
        resources = {
            "tracking": harness.tracking,
            "launcher": launcher,
            "artifacts": harness.artifacts,
            "recipe": recipe,
            # One request at a time, in item order: the refused first request is then always test row 0, a
            # bug-suite hunk that stands for 2 items (concurrent requests reach the stand-in in any order).
            "teacher": OpenAITeacher(urls=urls, model="teacher", concurrency=1, per_replica_concurrency=1),
            "io_manager": ManifestIOManager(artifacts=harness.artifacts),
        }
        result = dg.materialize(
            [eval_report, no_regression_vs_champion, *upstream_specs(eval_report)],
            partition_key=key,
            instance=harness.instance,
            resources=resources,
        )
        assert result.success
        # The blocking check runs on the partition (a check-only run without one: test_check_partitions.py).
        assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
        return harness.metadata("eval_report", key)

    with fleet_standin([state]) as urls:
        first = run(urls)
        # The 6 test rows are bug-suite hunks, so 30 items are 24 distinct prompts (each asked once): the refused
        # one stands for 2 items.
        distinct = 24
        assert first["teacher_compared"] == "yes" and first["teacher_failed_items"] == 2
        assert isinstance(first["teacher_score"], float) and first["judge"] == "yes"
        assert first["candidate_judge_score"] == 1.0 and first["base_judge_score"] == 0.0
        assert first["teacher_judge_score"] == 1.0 and first["judge_failed_items"] == 0
        asked = state.posts
        reads_for_people(harness, key)
        # Answers, then a verdict per distinct (item, answer): the teacher's answers are the candidate's, judged once.
        assert asked == distinct + 2 * distinct

        second = run(urls)  # only the failed prompt is asked again (its verdict is already known)
        assert second["teacher_failed_items"] == 0 and state.posts == asked + 1
        third = run(urls)
        assert state.posts == asked + 1 and third["teacher_judge_score"] == 1.0  # nothing asked at all


NUMERIC = (dg.IntMetadataValue, dg.FloatMetadataValue, dg.BoolMetadataValue)


def reads_for_people(harness, key: str) -> None:
    """What the UI shows first is the gate's verdict; the numbers fit what it charts (at most 100, here at most
    60 with four models compared); samples read as code and all of them are an artifact; the per-language and
    per-category figures are a table and MLflow metrics."""
    record = harness.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("eval_report"), asset_partitions=[key]), limit=1
    ).records[0]
    metadata = record.asset_materialization.metadata
    assert list(metadata)[:2] == ["gate_passed", "gate_reason"]
    assert isinstance(metadata["gate_passed"], dg.BoolMetadataValue) and metadata["gate_passed"].value is True
    numeric = [k for k, v in metadata.items() if isinstance(v, NUMERIC)]
    assert len(numeric) <= 60, f"{len(numeric)} numeric entries: {numeric}"
    assert {"candidate_score", "reference_score", "base_score", "teacher_score", "candidate_bug_suite_f1"} <= set(
        numeric
    )
    samples = metadata["samples"].value
    assert samples.count("```diff\n") == 4 and "Candidate:" in samples
    everything = harness.artifacts.read_table(metadata["samples_uri"].value)
    assert len(everything) == metadata["items"].value and metadata["samples_uri"].value in samples
    assert {a["model"] for row in everything for a in row["answers"]} == {"candidate", "base", "teacher"}
    assert "| language go |" in metadata["eval_table_by_group"].value
    metrics = harness.mlflow_runs("eval_report", key)[0].data.metrics
    assert {"candidate/lang_go/f1", "base/lang_python/recall"} <= set(metrics)
