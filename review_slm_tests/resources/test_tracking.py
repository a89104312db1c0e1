"""MLflow that cannot be reached is an error naming the URI; "no champion" only when the registry says so.
The champion is an MLflow model: `models:/<name>@champion` loads and answers."""

import socket
from pathlib import Path

import pytest

from review_slm.core.recipe import load_recipe
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.tracking import MlflowTracking, TrackingUnreachable


@pytest.fixture(scope="module")
def two_models(model_cache, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny base, and a copy with one weight changed: two champions the test can tell apart."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from review_slm.training.tiny_model import ensure_tiny_model

    first = ensure_tiny_model(load_recipe("tiny").tiny_model, model_cache)
    second = tmp_path_factory.mktemp("second") / "model"
    model = AutoModelForCausalLM.from_pretrained(first)
    with torch.no_grad():
        model.model.norm.weight.add_(0.5)
    model.save_pretrained(second)
    AutoTokenizer.from_pretrained(first).save_pretrained(second)
    return first, second


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: connecting is refused at once


@pytest.mark.parametrize("call", ["champion", "promoted_before", "promote"])
def test_unreachable_server_fails_every_registry_call_with_the_uri(call):
    uri = f"http://127.0.0.1:{_closed_port()}"
    tracking = MlflowTracking(tracking_uri=uri, probe_timeout_s=2)
    args = {"champion": (), "promoted_before": ("iter-0002",), "promote": ("/m", "iter-0001", "r", "/m")}[call]
    with pytest.raises(TrackingUnreachable, match=f"MLflow at {uri} cannot be reached"):
        getattr(tracking, call)(*args)


def test_a_registry_that_answers_none_means_none(tmp_path, two_models):
    first, second = two_models
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db", artifact_root=str(tmp_path / "a"))
    assert tracking.champion() is None and tracking.promoted_before("iter-0002") is None
    tracking.promote(str(first), "iter-0001", "", first)
    assert tracking.promoted_before("iter-0002").iteration == "iter-0001" and tracking.champion().version == "1"
    tracking.promote(str(second), "iter-0002", "", second)  # the model exists now: no error on create
    assert tracking.champion().version == "2"


def test_the_champion_loads_from_the_registry_and_answers(tmp_path, two_models, monkeypatch):
    import mlflow
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from review_slm.core.prompts import student_messages

    first, second = two_models
    # Where the trainer wrote each model: an s3:// URI on the cluster, kept as-is for the next iteration.
    uri1, uri2 = "s3://bucket/iterations/iter-0001/dpo_model/model", "s3://bucket/iterations/iter-0002/dpo_model/model"
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db", artifact_root=str(tmp_path / "a"))
    exp = tracking.client().create_experiment("eval")
    run_id = tracking.client().create_run(exp).info.run_id
    one = tracking.promote(uri1, "iter-0001", run_id, first)
    two = tracking.promote(uri2, "iter-0002", "", second)
    assert one.registry_uri.startswith("models:/m-") and one.registry_uri != two.registry_uri and one.run_id == run_id

    # The trainer's view is unchanged: iteration N starts from the folder N-1 promoted, not from an MLflow URI.
    assert tracking.promoted_before("iter-0002").source == uri1 and tracking.promoted_before("iter-0003").source == uri2
    assert tracking.champion().source == uri2 and tracking.champion().registry_uri == two.registry_uri
    # The run that evaluated the model lists it among its outputs (MLflow 3 lineage run -> model).
    outputs = tracking.client().get_run(run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [one.registry_uri.removeprefix("models:/")]

    # The registry's files are a copy: the pipeline's artifact folder may go away.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri)
    pipe = mlflow.transformers.load_model(tracking.registry_uri())
    assert pipe.task == "text-generation"
    loaded = _weights(pipe.model)
    expected = _weights(AutoModelForCausalLM.from_pretrained(second))
    previous = _weights(AutoModelForCausalLM.from_pretrained(first))
    assert loaded.keys() == expected.keys()
    assert all((loaded[k] == expected[k]).all() for k in loaded)  # the alias moved to iteration 2's model
    assert not all((loaded[k] == previous[k]).all() for k in loaded)

    # It answers a review prompt through its chat template, token for token what the promoted folder says
    # (random weights: the text means nothing, but it is this model's text).
    messages = student_messages("worker.go", "go", "@@ -1,2 +1,3 @@\n func run() {\n+\tgo work()\n }")
    answer = pipe(messages, max_new_tokens=6, min_new_tokens=6, do_sample=False)[0]["generated_text"][-1]
    tokenizer = AutoTokenizer.from_pretrained(second)
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True, return_tensors="pt")
    direct = AutoModelForCausalLM.from_pretrained(second).generate(
        **prompt, max_new_tokens=6, min_new_tokens=6, do_sample=False
    )
    assert answer["role"] == "assistant" and len(answer["content"]) > 0
    assert answer["content"] == tokenizer.decode(direct[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    # The serving interface (`mlflow models serve`) loads the same model as a pyfunc.
    served = mlflow.pyfunc.load_model(tracking.registry_uri()).predict(["func run() {"], params={"max_new_tokens": 4})
    assert len(served) == 1 and isinstance(served[0], str)


def test_a_key_of_another_form_is_refused_with_the_expected_form(tmp_path):
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db")
    with pytest.raises(ValueError, match=r"'my-experiment' is not of the form iter-NNNN .*review-slm iteration next"):
        tracking.promoted_before("my-experiment")


def test_a_champion_on_s3_is_fetched_then_registered(tmp_path, two_models, s3_bucket, monkeypatch):
    """The k8s profile: the model folder is an s3:// URI; deployed_endpoint hands promote a fetched copy."""
    import mlflow

    from review_slm_tests.resources.test_s3_artifacts import s3_store

    first, _ = two_models
    store = s3_store(s3_bucket, tmp_path / "trainer-cache")
    uri = iteration(store, "iter-0001").candidate_model
    store.put_dir(first, uri)
    run_pod = s3_store(s3_bucket, tmp_path / "run-pod-cache")  # nothing cached: the folder comes from S3
    tracking = MlflowTracking(tracking_uri=f"sqlite:///{tmp_path}/m.db", artifact_root=str(tmp_path / "a"))
    tracking.promote(uri, "iter-0001", "", run_pod.local_path(uri))

    assert tracking.promoted_before("iter-0002").source == uri  # the trainer fetches it from S3 again
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri)
    pipe = mlflow.transformers.load_model(tracking.registry_uri())
    assert pipe("func run() {", max_new_tokens=3, min_new_tokens=3, do_sample=False)[0]["generated_text"].startswith(
        "func run() {"
    )
