"""The reviewer alone (file and pull-request review through an endpoint, posting) runs without the platform:
no torch, transformers, TRL, PEFT, Dagster, MLflow. Run in `.venv-reviewer/` and with those imports blocked."""

import json
import re
import subprocess
import tomllib

import pytest

from review_slm_tests.light import ROOT, python_command
from review_slm_tests.light.without_platform import BLOCKED
from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin
from review_slm_tests.servers import serve
from review_slm_tests.test_cli import DIFF
from review_slm_tests.test_pr_review import pull_files

MODES = ["blocked", "venv"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ANSWER = json.dumps(
    {"summary": "Leak.", "findings": [{"line": 44, "severity": "high", "category": "resource-leak", "comment": "x"}]}
)


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def test_the_light_dependencies_hold_none_of_the_platform_and_the_model_extra_is_part_of_it():
    light = {requirement_name(r) for r in PROJECT["dependencies"]}
    extras = PROJECT["optional-dependencies"]
    assert not light & {"torch", "transformers", "trl", "peft", "dagster", "mlflow", "mlflow-skinny", "datasets"}
    assert {requirement_name(r) for r in extras["model"]} <= {requirement_name(r) for r in extras["platform"]}
    # what the blocker hides is what the platform adds: the light tests would pass for nothing otherwise
    assert {"torch", "transformers", "trl", "peft", "dagster", "mlflow"} <= BLOCKED


def run(mode: str, args: list[str], **env) -> subprocess.CompletedProcess:
    argv, base = python_command(mode, "-m", "review_slm.cli", *args)
    return subprocess.run(argv, env={**base, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mode", MODES)
def test_a_diff_file_is_reviewed_through_an_endpoint(mode, tmp_path):
    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    with vllm_standin() as (url, state):
        done = run(mode, ["review", str(diff), "--endpoint", url, "--format", "sarif"])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and len(state.requests) == 1
    result = json.loads(done.stdout)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pkg/pool.go"


@pytest.mark.parametrize("mode", MODES)
def test_a_pull_request_is_reviewed_and_posted_through_an_endpoint(mode):
    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as github, vllm_standin(VllmState(answer=ANSWER)) as (endpoint, _vllm):
        args = ["review", "--pr", "acme/x#7", "--post", "--endpoint", endpoint]
        done = run(mode, args, GITHUB_TOKEN="test-token", GITHUB_API_URL=github)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["posted"]["action"] == "created"
    assert [c["line"] for c in state.review_comments("acme/x#7")] == [44]


def test_in_process_review_and_iterations_say_which_extra_to_install(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    review = run("blocked", ["review", str(diff), "--model", str(tmp_path / "model")])
    iteration = run("blocked", ["iteration", "next"])
    assert review.returncode != 0 and "pip install 'review-slm[model]'" in review.stderr
    assert iteration.returncode != 0 and "pip install 'review-slm[platform]'" in iteration.stderr
    assert "Traceback" not in review.stderr + iteration.stderr
