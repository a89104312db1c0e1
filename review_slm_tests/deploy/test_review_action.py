"""The GitHub Action (`action.yml`): its input check, and its script run as the runner runs it (in the light install
`make reviewer` builds, and with the platform's imports blocked) against the GitHub and endpoint stand-ins."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from review_slm_tests.light import python_command
from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin
from review_slm_tests.servers import serve
from review_slm_tests.test_pr_review import pull_files

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "deploy" / "github-actions" / "review_pull_request.py"
CHECK_INPUTS = ROOT / "deploy" / "github-actions" / "check_inputs.sh"
# The majors that run on Node 24 (Node 20 actions are deprecated on GitHub's runners).
NODE24_MAJORS = {"actions/setup-python": 6, "actions/cache": 5, "actions/checkout": 5}
ANSWER = json.dumps(
    {
        "summary": "Leak.",
        "findings": [
            {"line": 44, "severity": "high", "category": "resource-leak", "comment": "channel closed twice"},
            {"line": 2, "severity": "info", "category": "style", "comment": "name it"},
        ],
    }
)


def test_action_is_composite_and_passes_every_input_to_the_script():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "review")
    assert "deploy/github-actions/review_pull_request.py" in step["run"]
    used = set(re.findall(r"(?<![\w.])inputs\.([\w-]+)", json.dumps(action["runs"])))
    assert used == set(action["inputs"])  # no input is declared and then ignored
    script = SCRIPT.read_text()
    assert all(name in script or name in ("GITHUB_TOKEN", "OPENAI_API_KEY") for name in step["env"])
    workflow = yaml.safe_load((ROOT / "deploy" / "github-actions" / "review.yml").read_text())
    assert workflow["permissions"]["pull-requests"] == "write"


def test_action_uses_node24_majors_and_installs_the_light_reviewer_for_an_endpoint():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = action["runs"]["steps"]
    for uses in (s["uses"] for s in steps if "uses" in s):
        name, major = re.fullmatch(r"([\w-]+/[\w-]+)@v(\d+)", uses).groups()
        assert int(major) >= NODE24_MAJORS[name], uses
    assert steps[0]["id"] == "inputs" and "check_inputs.sh" in steps[0]["run"]  # before setup-python and installs
    for workflow in (ROOT / "deploy" / "github-actions").glob("*.yml"):  # the example workflows too
        for uses in re.findall(r"uses: (actions/[\w-]+)@v(\d+)", workflow.read_text()):
            assert int(uses[1]) >= NODE24_MAJORS[uses[0]], (workflow.name, uses)
    light = next(s for s in steps if s.get("if") == "steps.inputs.outputs.install == 'reviewer'")
    assert light["run"].strip().endswith('"${{ github.action_path }}"')  # no extra, no torch
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert "steps.inputs.outputs.install" in cache["with"]["key"] and "cache-key.outputs.hash" in cache["with"]["key"]


def check_inputs(tmp_path: Path, **inputs) -> tuple[subprocess.CompletedProcess, dict]:
    values = {"ENDPOINT": "", "MODEL": "", "MLFLOW_URI": "", "MIN_SEVERITY": "low", "FAIL_ON": "", "TIMEOUT": "900"}
    values["PYTHON_VERSION"] = "3.11"
    outputs = tmp_path / "check-outputs"
    outputs.unlink(missing_ok=True)
    env = {"PATH": os.environ["PATH"], "REVIEW_DRAFTS": "false", "GITHUB_OUTPUT": str(outputs), **values, **inputs}
    done = subprocess.run(["bash", str(CHECK_INPUTS)], env=env, capture_output=True, text=True, timeout=10)
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines()) if outputs.exists() else {}
    return done, written


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "give `endpoint`"),
        ({"ENDPOINT": "http://x", "MODEL": "/models/champion"}, "not both"),
        ({"ENDPOINT": "x.example:8000"}, "expected an http:// or https:// URL"),
        ({"MODEL": "models:/review-slm-reviewer@champion"}, "set `mlflow-tracking-uri`"),
        ({"MODEL": "models:/a/b/c", "MLFLOW_URI": "http://mlflow"}, "expected models:/NAME@ALIAS"),
        ({"MODEL": "gs://bucket/model"}, "a model is a folder on the runner"),
        ({"ENDPOINT": "http://x", "FAIL_ON": "severe"}, "fail-on=severe: expected one of critical"),
        ({"ENDPOINT": "http://x", "FAIL_ON": "info"}, "fail-on=info"),
        ({"ENDPOINT": "http://x", "MIN_SEVERITY": "minor"}, "min-severity=minor"),
        ({"ENDPOINT": "http://x", "TIMEOUT": "0"}, "timeout=0"),
        ({"ENDPOINT": "http://x", "REVIEW_DRAFTS": "yes"}, "review-drafts=yes"),
        # requirements.lock is resolved for pyproject's requires-python (>=3.11,<3.13) only
        (
            {"ENDPOINT": "http://x", "PYTHON_VERSION": "3.13"},
            "python-version=3.13: review-slm supports Python >=3.11,<3.13",
        ),
        ({"ENDPOINT": "http://x", "PYTHON_VERSION": "3.10.14"}, "python-version=3.10.14"),
        ({"ENDPOINT": "http://x", "PYTHON_VERSION": "3.x"}, "python-version=3.x"),
    ],
)
def test_bad_inputs_fail_before_anything_is_installed(tmp_path, inputs, message):
    started = time.monotonic()
    done, written = check_inputs(tmp_path, **inputs)
    assert done.returncode == 1 and written == {} and time.monotonic() - started < 2
    assert "::error title=review-slm input::" in done.stdout and message in done.stdout


def test_good_inputs_say_what_to_install_and_lower_case_the_severities(tmp_path):
    done, endpoint = check_inputs(tmp_path, ENDPOINT="https://reviewer.example/openai", FAIL_ON="High")
    assert done.returncode == 0, done.stdout
    assert endpoint == {"install": "reviewer", "fetch": "false", "min-severity": "low", "fail-on": "high"}
    _done, registry = check_inputs(
        tmp_path, MODEL="models:/review-slm-reviewer@champion", MLFLOW_URI="https://mlflow.example", MIN_SEVERITY="Info"
    )
    assert registry == {"install": "model", "fetch": "true", "min-severity": "info", "fail-on": ""}
    _done, s3 = check_inputs(tmp_path, MODEL="s3://models/iter-0003", PYTHON_VERSION="3.12.7")
    _done, folder = check_inputs(tmp_path, MODEL="/home/runner/champion")
    assert (s3["install"], s3["fetch"], folder["install"], folder["fetch"]) == ("model", "true", "model", "false")


def run_action(
    tmp_path: Path, github_url: str, endpoint: str, mode: str, event_name: str = "pull_request", **extra
) -> tuple[subprocess.CompletedProcess, dict]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7, "draft": False}}))
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    argv, base = python_command(mode, str(SCRIPT))
    env = {
        **base,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/x",
        "GITHUB_TOKEN": "test-token",
        "GITHUB_API_URL": github_url,
        "REVIEW_SLM_ENDPOINT": endpoint,
        "REVIEW_SLM_MIN_SEVERITY": "low",
        "REVIEW_SLM_BOT_LOGIN": "review-bot",
        "REVIEW_SLM_TIMEOUT": "60",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        **extra,
    }
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines()) if outputs.exists() else {}
    outputs.unlink(missing_ok=True)
    return done, values


@pytest.mark.parametrize("mode", ["venv", "blocked"])
def test_action_script_posts_one_review_and_reruns_idempotently(tmp_path, mode):
    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as github, vllm_standin(VllmState(answer=ANSWER)) as (endpoint, _vllm):
        first, out1 = run_action(tmp_path, github, endpoint, mode)
        assert first.returncode == 0, first.stderr
        again, out2 = run_action(tmp_path, github, endpoint, mode)
        skipped, out3 = run_action(tmp_path, github, endpoint, mode, event_name="push")
    # The stand-in endpoint gives every hunk the same answer: line 44 is a finding only in the hunk that has it (in
    # the two others it is outside the hunk: `outside_diff`, not counted); `info` is below `low`.
    assert out1["action"] == "created" and out1["review-id"] and out1["findings"] == "1"
    assert len(state.live_reviews("acme/x#7")) == 1 and [c["line"] for c in state.review_comments("acme/x#7")] == [44]
    assert (
        "| `pkg/pool.go` | 44 | high | resource-leak | channel closed twice |" in (tmp_path / "summary.md").read_text()
    )
    assert again.returncode == 0 and out2["action"] == "none"
    assert skipped.returncode == 0 and "not a pull request event" in skipped.stdout and out3 == {}
    assert len(state.posts) == 1


def test_fail_on_any_case_fails_the_step_after_the_review_is_posted_without_a_traceback(tmp_path):
    from review_slm.reviewer.review_input import FINDINGS_AT_FAIL_ON

    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as github, vllm_standin(VllmState(answer=ANSWER)) as (endpoint, _vllm):
        failed, out = run_action(tmp_path, github, endpoint, "blocked", REVIEW_SLM_FAIL_ON="High")
        passed, _out = run_action(tmp_path, github, endpoint, "blocked", REVIEW_SLM_FAIL_ON="CRITICAL")
    assert failed.returncode == FINDINGS_AT_FAIL_ON and "Traceback" not in failed.stderr
    assert out["action"] == "created" and len(state.posts) == 1  # posted, outputs written, then the step fails
    assert passed.returncode == 0
