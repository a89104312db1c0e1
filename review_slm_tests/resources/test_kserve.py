"""KServe rollout with the real kubernetes client against the API-server stand-in.

A small thread plays the KServe controller: it turns the InferenceService's spec into the status
KServe reports (revisions, traffic split, Ready), and never readies a revision whose storage URI
contains "broken". The revision URLs point at a vLLM stand-in, so the smoke review is a real request.
"""

from __future__ import annotations

import logging
import threading

import pytest

from review_slm.resources.kserve import KServeServing, RolloutFailed
from review_slm.resources.serving import Release
from review_slm_tests.k8s.validation import assert_valid
from review_slm_tests.resources.k8s_apiserver_standin import k8s_api  # noqa: F401 (fixture)
from review_slm_tests.resources.vllm_standin import vllm_standin

NS, NAME = "review-slm", "review-slm"
LOG = logging.getLogger("test_kserve")


class FakeKServe:
    """Serverless: one revision per distinct storage URI; RawDeployment: `spec.canary` readiness."""

    def __init__(self, state, url: str):
        self.state, self.url = state, url
        self.revisions: list[str] = []  # storage URIs in creation order
        self.rolled_out = None  # index of the revision with 100% of traffic
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def _run(self):
        while not self.stop.wait(0.02):
            isvc = self.state.get("inferenceservices", NAME, NS)
            if isvc is None:
                continue
            status = self._status(isvc)
            if status != isvc.get("status"):
                self.state.set_status("serving.kserve.io", "inferenceservices", NS, NAME, status)

    def _status(self, isvc: dict) -> dict:
        predictor = isvc["spec"]["predictor"]
        uri = predictor["model"]["storageUri"]
        if uri not in self.revisions:
            self.revisions.append(uri)
        latest = self.revisions.index(uri)
        status = {"observedGeneration": isvc["metadata"]["generation"], "url": self.url}
        if "broken" in uri:
            ready_rev = self.rolled_out
            status["conditions"] = [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "RevisionMissing",
                    "message": f"revision {NAME}-predictor-{latest:05d} failed: model load",
                }
            ]
        else:
            ready_rev = latest
            status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-21T00:00:00Z"}]
        canary = predictor.get("canaryTrafficPercent")
        if canary is None and ready_rev == latest:
            self.rolled_out = latest
            traffic = [{"revisionName": f"{NAME}-predictor-{latest:05d}", "percent": 100, "latestRevision": True}]
        elif canary == 0 or ready_rev != latest:
            traffic = [
                {
                    "revisionName": f"{NAME}-predictor-{self.rolled_out:05d}",
                    "percent": 100,
                    "latestRevision": False,
                    "tag": "prev",
                }
            ]
        else:
            traffic = [
                {
                    "revisionName": f"{NAME}-predictor-{latest:05d}",
                    "percent": canary,
                    "latestRevision": True,
                    "tag": "latest",
                    "url": self.url,
                },
                {
                    "revisionName": f"{NAME}-predictor-{self.rolled_out:05d}",
                    "percent": 100 - canary,
                    "latestRevision": False,
                    "tag": "prev",
                },
            ]
        status["components"] = {
            "predictor": {
                "latestCreatedRevision": f"{NAME}-predictor-{latest:05d}",
                "latestReadyRevision": f"{NAME}-predictor-{ready_rev:05d}" if ready_rev is not None else "",
                "traffic": traffic,
            }
        }
        if isvc["spec"].get("canary"):
            status["canaryStatuses"] = [
                {
                    "name": f"{NAME}-canary",
                    "ready": "broken" not in c["predictor"]["model"]["storageUri"],
                    "trafficPercent": c["trafficPercent"],
                }
                for c in isvc["spec"]["canary"]
            ]
        return status


@pytest.fixture
def cluster(k8s_api):  # noqa: F811
    with vllm_standin() as (url, vllm), FakeKServe(k8s_api.state, url) as controller:
        yield k8s_api, vllm, controller


def serving(api_url: str, **overrides) -> KServeServing:
    settings = {"namespace": NS, "name": NAME, "gpus": 1, "ready_timeout_s": 5, "poll_interval_s": 0.02, **overrides}
    return KServeServing(api_url=api_url, **settings)


def release(n: int, uri: str | None = None, **kw) -> Release:
    return Release(
        model_uri=uri or f"s3://review-slm/artifacts/iterations/iter-{n:04d}/dpo_model/model",
        iteration=f"iter-{n:04d}",
        version=str(n),
        **kw,
    )


def stored_specs(state) -> list[dict]:
    return [obj["spec"] for _, key, kind, obj in state.history if key[1] == "inferenceservices" and kind != "DELETED"]


def test_first_deploy_creates_a_valid_inference_service_and_waits_for_ready(cluster):
    api, _, _ = cluster
    endpoint = serving(api.url).deploy(release(1), None, LOG)
    isvc = api.state.get("inferenceservices", NAME, NS)
    assert_valid(isvc)
    predictor = isvc["spec"]["predictor"]
    assert (
        predictor["model"]["modelFormat"] == {"name": "huggingface"} and "--backend=vllm" in predictor["model"]["args"]
    )
    assert (
        predictor["model"]["storageUri"].startswith("s3://") and predictor["serviceAccountName"] == "review-slm-models"
    )
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert endpoint.rollout == "created" and endpoint.openai_base_url.endswith("/openai")


def test_update_is_a_canary_that_keeps_the_previous_revision_until_promoted(cluster):
    api, vllm, _ = cluster
    target = serving(api.url, canary_traffic_percent=20)
    target.deploy(release(1), None, LOG)
    endpoint = target.deploy(release(2), None, LOG)

    specs = stored_specs(api.state)
    canary_steps = [s["predictor"].get("canaryTrafficPercent") for s in specs]
    assert 20 in canary_steps and canary_steps[-1] is None  # canary first, then promoted (field removed)
    splits = [
        o["status"]["components"]["predictor"]["traffic"]
        for _, k, _, o in api.state.history
        if k[1] == "inferenceservices" and o.get("status", {}).get("components")
    ]
    assert any(sorted(t["percent"] for t in split) == [20, 80] for split in splits), (
        "the previous revision kept 80% meanwhile"
    )
    assert api.state.get("inferenceservices", NAME, NS)["spec"]["predictor"]["model"]["storageUri"].endswith(
        "iter-0002/dpo_model/model"
    )
    (smoke,) = [r for r in vllm.requests if r["path"] == "/v1/chat/completions"]
    assert smoke["body"]["model"] == "review-slm" and "pkg/pool.go" in smoke["body"]["messages"][1]["content"]
    assert endpoint.rollout == "canary 20% -> promoted" and endpoint.iteration == "iter-0002"
    for spec in specs:
        assert_valid(
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": NAME},
                "spec": spec,
            }
        )


def test_a_canary_that_never_becomes_ready_rolls_back_and_fails(cluster):
    api, _, _ = cluster
    target = serving(api.url, ready_timeout_s=0.5)
    target.deploy(release(1), None, LOG)
    with pytest.raises(RolloutFailed, match="canary: not Ready after .*RevisionMissing"):
        target.deploy(release(2, uri="s3://review-slm/broken/model"), None, LOG)
    assert stored_specs(api.state)[-1]["predictor"]["canaryTrafficPercent"] == 0  # KServe routes all traffic back


def test_a_canary_whose_smoke_review_is_not_a_review_rolls_back(cluster):
    api, vllm, _ = cluster
    target = serving(api.url)
    target.deploy(release(1), None, LOG)
    vllm.answer = "Looks good to me!"
    with pytest.raises(RolloutFailed, match="smoke review: the new revision's answer is not a review"):
        target.deploy(release(2), None, LOG)
    assert stored_specs(api.state)[-1]["predictor"]["canaryTrafficPercent"] == 0


def test_raw_deployment_canary_goes_through_spec_canary(cluster):
    api, _, _ = cluster
    target = serving(api.url, deployment_mode="RawDeployment")
    target.deploy(release(1), None, LOG)
    target.deploy(release(2), None, LOG)
    specs = stored_specs(api.state)
    assert any(s.get("canary", [{}])[0].get("trafficPercent") == 10 for s in specs if s.get("canary"))
    assert "canary" not in specs[-1] and specs[-1]["predictor"]["model"]["storageUri"].endswith(
        "iter-0002/dpo_model/model"
    )
    isvc = api.state.get("inferenceservices", NAME, NS)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    for spec in specs:
        assert_valid(
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": NAME},
                "spec": spec,
            }
        )


def test_an_adapter_on_the_served_model_is_hot_loaded_without_a_new_revision(cluster):
    api, vllm, _ = cluster
    root = "s3://review-slm/artifacts"
    target = serving(api.url, lora_hot_load=True, artifact_root_uri=root, lora_path_root="/mnt/artifacts")
    first = release(1)
    target.deploy(first, None, LOG)
    revisions_before = len(stored_specs(api.state))
    endpoint = target.deploy(
        release(2, base_model_uri=first.model_uri, adapter_uri=f"{root}/iterations/iter-0002/dpo_model/adapter"),
        None,
        LOG,
    )
    assert vllm.adapters == {"review-slm-iter-0002": "/mnt/artifacts/iterations/iter-0002/dpo_model/adapter"}
    assert len(stored_specs(api.state)) == revisions_before  # the InferenceService was not touched
    assert endpoint.served_model == "review-slm-iter-0002" and endpoint.rollout == "lora adapter loaded"
    # An adapter trained on another parent cannot go onto this server: a normal canary rollout instead.
    target.deploy(release(3, base_model_uri="s3://elsewhere/model", adapter_uri=f"{root}/x"), None, LOG)
    assert stored_specs(api.state)[-1]["predictor"]["model"]["storageUri"].endswith("iter-0003/dpo_model/model")


def test_without_a_canary_step_the_predictor_is_replaced_and_waited_for(cluster):
    api, vllm, _ = cluster
    target = serving(api.url, deployment_mode="RawDeployment", canary_traffic_percent=0)
    target.deploy(release(1), None, LOG)
    endpoint = target.deploy(release(2), None, LOG)
    specs = stored_specs(api.state)
    assert not any("canary" in s or "canaryTrafficPercent" in s["predictor"] for s in specs)
    assert specs[-1]["predictor"]["model"]["storageUri"].endswith("iter-0002/dpo_model/model")
    assert endpoint.rollout == "rolling update" and vllm.requests == []
