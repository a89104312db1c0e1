"""eval_report with an OpenAI-compatible teacher and judge (stand-in replica on 127.0.0.1): the teacher column
survives a failed item, every compared model gets a judge score, and a rerun asks the teacher nothing.

The trainer's generation of the candidate's and base's answers is replaced at the process boundary (the
launcher): what is under test is what eval_report does with the teacher; generation has its own tests."""

import json

import dagster as dg
import pytest

from review_slm.core import tables
from review_slm.evaluate.assets import eval_report
from review_slm.partitions import iteration_partitions
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.launcher import LocalProcessLauncher
from review_slm.resources.openai_teacher import OpenAITeacher
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm_tests.resources.fleet_standin import ANSWER, ReplicaState, fleet_standin
from review_slm_tests.training.conftest import Harness, bug_suite_rows, tiny_recipe


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
            return {}

    return AnswersWithoutATrainer()


@pytest.fixture
def harness(home, model_cache, tmp_path):
    with dg.instance_for_test() as instance:
        yield Harness(home, model_cache, tmp_path, instance)


def test_teacher_column_and_judge_scores_in_eval_report_and_a_rerun_asks_nothing(harness, tmp_path):
    key = "iter-0001"
    harness.artifacts.write_table(
        iteration(harness.artifacts, key).gold_split("test"), bug_suite_rows()[:6], tables.GOLD
    )
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
            "teacher": OpenAITeacher(urls=urls, model="teacher"),
        }
        result = dg.materialize([eval_report], partition_key=key, instance=harness.instance, resources=resources)
        assert result.success
        return harness.metadata("eval_report", key)

    with fleet_standin([state]) as urls:
        first = run(urls)
        # The 6 test rows are bug-suite hunks, so 30 items are 24 distinct prompts (each asked once): the refused
        # one stands for 2 items.
        distinct = 24
        assert first["teacher_compared"] == "yes" and first["teacher_failed_items"] == 2
        assert isinstance(first["teacher_f1"], float) and first["judge"] == "yes"
        assert first["candidate_judge_score"] == 1.0 and first["base_judge_score"] == 0.0
        assert first["teacher_judge_score"] == 1.0 and first["judge_failed_items"] == 0
        asked = state.posts
        # Answers, then a verdict per distinct (item, answer): the teacher's answers are the candidate's, judged once.
        assert asked == distinct + 2 * distinct

        second = run(urls)  # only the failed prompt is asked again (its verdict is already known)
        assert second["teacher_failed_items"] == 0 and state.posts == asked + 1
        third = run(urls)
        assert state.posts == asked + 1 and third["teacher_judge_score"] == 1.0  # nothing asked at all
