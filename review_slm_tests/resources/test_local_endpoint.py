"""The local endpoint: `deployed_endpoint`'s local profile records how to reach it and smoke-reviews through it."""

import logging

from review_slm import serve
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.serving import LocalServing, Release
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin

LOG = logging.getLogger("test")


def release(tmp_path) -> tuple[Release, LocalArtifactStore]:
    model = tmp_path / "artifacts" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    return Release(model_uri=str(model), iteration="iter-0001", version="1"), store


def test_deploy_records_the_endpoint_and_smoke_reviews_through_it(tmp_path):
    rel, store = release(tmp_path)
    with vllm_standin() as (url, state):
        endpoint = LocalServing(root=str(tmp_path / "serving"), endpoint_url=url).deploy(rel, store, LOG)
    assert endpoint.openai_base_url == url and endpoint.serve_command == "make serve"
    assert endpoint.smoke_review.startswith("ok: a valid review with 1 finding(s)")
    assert endpoint.smoke_review.endswith("not reloaded: restart the server")  # vLLM has no /reset
    assert (tmp_path / "serving" / "champion" / "config.json").exists()
    [chat] = [r for r in state.requests if "messages" in r["body"]]
    assert "pkg/pool.go" in chat["body"]["messages"][1]["content"] and chat["body"]["model"] == "review-slm"


def test_deploy_without_a_running_server_says_how_to_start_it(tmp_path):
    rel, store = release(tmp_path)
    endpoint = LocalServing(root=str(tmp_path / "serving"), endpoint_url="http://127.0.0.1:9").deploy(rel, store, LOG)
    assert "start it with `make serve`" in endpoint.smoke_review


def test_an_invalid_answer_is_reported_not_hidden(tmp_path):
    rel, store = release(tmp_path)
    with vllm_standin(VllmState(answer="I think it is fine")) as (url, _state):
        endpoint = LocalServing(root=str(tmp_path / "serving"), endpoint_url=url).deploy(rel, store, LOG)
    assert "not a valid review (no JSON object in the answer)" in endpoint.smoke_review


def test_serve_picks_the_server_and_refuses_a_missing_model(tmp_path, capsys):
    assert serve.pick_server("auto") in ("transformers", "vllm") and serve.pick_server("vllm") == "vllm"
    command = serve.server_command("transformers", tmp_path, "127.0.0.1", 8123, tmp_path / "bin")
    assert command[1:5] == ["serve", str(tmp_path), "--host", "127.0.0.1"] and "8123" in command
    assert "--served-model-name" in serve.server_command("vllm", tmp_path, "0.0.0.0", 8000, tmp_path)
    assert serve.main(["--model", str(tmp_path / "nope")]) == 2
    assert "run an iteration first" in capsys.readouterr().err
