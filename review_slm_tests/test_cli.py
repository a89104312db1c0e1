import json

from review_slm import cli
from review_slm.core.recipe import load_recipe
from review_slm.training.tiny_model import ensure_tiny_model

DIFF = """diff --git a/pkg/pool.go b/pkg/pool.go
--- a/pkg/pool.go
+++ b/pkg/pool.go
@@ -40,1 +40,3 @@ func (p *Pool) Start() {
 	for i := 0; i < p.size; i++ {
+		go func() { resp, _ := http.Get(u); p.m[i] = resp.StatusCode }()
+	}
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 # x
+more
"""


def test_iteration_next_adds_partition_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert cli.main(["iteration", "next"]) == 0
    assert cli.main(["iteration", "next"]) == 0
    assert capsys.readouterr().out.split() == ["iter-0001", "iter-0002"]
    cli.main(["iteration", "list"])
    assert capsys.readouterr().out.split() == ["iter-0001", "iter-0002"]


def test_review_prints_a_json_review(tmp_path, home, model_cache, capsys):
    model_dir = ensure_tiny_model(load_recipe("tiny").tiny_model, model_cache)
    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    # The random tiny model cannot write JSON in 8 tokens: the review is incomplete (exit 11), and says where.
    assert cli.main(["review", str(diff), "--model", str(model_dir), "--max-new-tokens", "8"]) == 11
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["hunks_reviewed"] == 1
    assert out["files_skipped"] == [{"path": "README.md", "reason": "not Go, Python or Kubernetes YAML"}]
    assert out["findings"] == [] and "summary" in out
    assert out["invalid_answers"][0]["path"] == "pkg/pool.go" and out["invalid_answers"][0]["error"]
    assert out["invalid_answers"][0]["lines"] == "40-42"
    assert "not reviewed: pkg/pool.go lines 40-42: the answer was not a valid review" in captured.err
    # The model stack's noise stays off stderr without --verbose.
    assert "kernels" not in captured.err and "Loading weights" not in captured.err


def test_review_without_a_champion_says_what_to_do(tmp_path, home, capsys):
    diff = tmp_path / "c.diff"
    diff.write_text(DIFF)
    assert cli.main(["review", str(diff)]) == 9
    assert "run an iteration first" in capsys.readouterr().err


def test_review_against_an_openai_compatible_endpoint(tmp_path, monkeypatch, capsys):
    from review_slm_tests.resources.vllm_standin import vllm_standin

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    with vllm_standin() as (url, state):
        assert cli.main(["review", str(diff), "--endpoint", url, "--max-new-tokens", "64"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["findings"][0]["category"] == "concurrency" and out["invalid_answers"] == []
    (request,) = state.requests  # one Go hunk; README.md is skipped
    assert request["body"]["model"] == "review-slm" and request["body"]["max_tokens"] == 64
    assert request["body"]["response_format"]["type"] == "json_schema"
    assert request["auth"] == "Bearer sk-test"
    assert "pkg/pool.go" in request["body"]["messages"][1]["content"]


def test_review_endpoint_errors_are_reported(tmp_path, capsys):
    from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin

    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    with vllm_standin(VllmState(status=503, retry_after="0")) as (url, _):
        assert cli.main(["review", str(diff), "--endpoint", url, "--served-model", "review-slm"]) == 3
    assert "HTTP 503" in capsys.readouterr().err
