"""The GitHub Action (`action.yml`) and its script, run as the runner runs it, against the GitHub stand-in."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin
from review_slm_tests.servers import serve
from review_slm_tests.test_pr_review import pull_files

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "deploy" / "github-actions" / "review_pull_request.py"
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
    used = set(re.findall(r"inputs\.([\w-]+)", json.dumps(action["runs"])))
    assert used == set(action["inputs"])  # no input is declared and then ignored
    script = SCRIPT.read_text()
    assert all(name in script or name in ("GITHUB_TOKEN", "OPENAI_API_KEY") for name in step["env"])
    workflow = yaml.safe_load((ROOT / "deploy" / "github-actions" / "review.yml").read_text())
    assert workflow["permissions"]["pull-requests"] == "write"


def run_action(
    tmp_path: Path, github_url: str, endpoint: str, event_name: str = "pull_request", **extra
) -> tuple[subprocess.CompletedProcess, dict]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7, "draft": False}}))
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/x",
        "GITHUB_TOKEN": "test-token",
        "GITHUB_API_URL": github_url,
        "REVIEW_SLM_ENDPOINT": endpoint,
        "REVIEW_SLM_MIN_SEVERITY": "low",
        "REVIEW_SLM_BOT_LOGIN": "review-bot",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        **extra,
    }
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines()) if outputs.exists() else {}
    outputs.unlink(missing_ok=True)
    return done, values


def test_action_script_posts_one_review_and_reruns_idempotently(tmp_path):
    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as github, vllm_standin(VllmState(answer=ANSWER)) as (endpoint, _vllm):
        first, out1 = run_action(tmp_path, github, endpoint)
        assert first.returncode == 0, first.stderr
        again, out2 = run_action(tmp_path, github, endpoint, REVIEW_SLM_FAIL_ON="high")
        skipped, out3 = run_action(tmp_path, github, endpoint, event_name="push")
    # The stand-in endpoint gives every hunk the same answer: line 44 is a finding only in the hunk that has it (in
    # the two others it is outside the hunk: `outside_diff`, not counted); `info` is below `low`.
    assert out1["action"] == "created" and out1["review-id"] and out1["findings"] == "1"
    assert len(state.live_reviews("acme/x#7")) == 1 and [c["line"] for c in state.review_comments("acme/x#7")] == [44]
    assert (
        "| `pkg/pool.go` | 44 | high | resource-leak | channel closed twice |" in (tmp_path / "summary.md").read_text()
    )
    assert again.returncode == 1 and out2["action"] == "none" and "failing the check" in again.stderr  # fail-on: high
    assert skipped.returncode == 0 and "not a pull request event" in skipped.stdout and out3 == {}
    assert len(state.posts) == 1
