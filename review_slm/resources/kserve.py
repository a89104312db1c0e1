"""Serve the champion with KServe (huggingface runtime, vLLM backend) and roll it out as a canary.

The rollout never takes the endpoint down: the revision serving now keeps its traffic until the new
one is Ready, answers a smoke review, and is promoted.
- Serverless (Knative): `spec.predictor.canaryTrafficPercent` sends a share to the new revision;
  KServe keeps the previous rolled-out revision for the rest. Promotion removes the field; a
  rollback sets it to 0 (KServe then routes everything back to the previous revision). Tag routing
  gives the new revision its own URL, which the smoke review uses.
- RawDeployment: the new predictor goes into `spec.canary` with its `trafficPercent` while
  `spec.predictor` keeps serving; promotion moves it into `spec.predictor` and drops `spec.canary`.

S3 credentials reach the storage initializer through `serviceAccountName`: that ServiceAccount
lists a Secret annotated with `serving.kserve.io/s3-endpoint` (deploy/ creates both); this code
never reads or writes a Secret.

With `lora_hot_load`, an iteration whose parent is exactly the model being served loads its DPO
adapter into the running vLLM (`POST /v1/load_lora_adapter`, vLLM started with `--enable-lora` and
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) instead of rolling out a new revision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, cast

import dagster as dg
import httpx
from kubernetes import client as k8s

from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.kube import api_client, condition, conditions, is_true
from review_slm.resources.serving import Release, ServedEndpoint, ServingTarget
from review_slm.reviewer.endpoint_client import EndpointError, chat_answers

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"

SMOKE_DIFF = (
    "pkg/pool.go",
    "go",
    "@@ -40,2 +40,4 @@ func (p *Pool) Start() {\n \tfor i := 0; i < p.size; i++ {\n"
    "+\t\tgo func() { p.m[i] = fetch(i) }()\n+\t}\n",
)


class RolloutFailed(dg.Failure):
    """The new revision never became Ready or failed its smoke review; traffic stays on the previous one."""


def render_predictor(
    storage_uri: str,
    *,
    served_model_name: str,
    service_account_name: str,
    runtime: str | None,
    gpus: int,
    cpu: str,
    memory: str,
    max_model_len: int,
    extra_args: list[str],
    node_selector: dict[str, str],
    tolerations: list[dict],
) -> dict:
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    if gpus:
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
    model = {
        "name": "kserve-container",  # required inside spec.canary; the name KServe gives it anyway
        "modelFormat": {"name": "huggingface"},
        "storageUri": storage_uri,
        # The huggingface runtime passes these to vLLM: the OpenAI API is served under /openai/v1/.
        "args": [
            f"--model_name={served_model_name}",
            "--backend=vllm",
            f"--max-model-len={max_model_len}",
            f"--tensor-parallel-size={max(1, gpus)}",
            *extra_args,
        ],
        "resources": resources,
    }
    if runtime:
        model["runtime"] = runtime
    predictor: dict = {"serviceAccountName": service_account_name, "minReplicas": 1, "model": model}
    if node_selector:
        predictor["nodeSelector"] = dict(node_selector)
    if tolerations:
        predictor["tolerations"] = list(tolerations)
    return predictor


def release_labels(release: Release) -> dict[str, str]:
    return {"review-slm.dev/iteration": release.iteration, "review-slm.dev/model-version": str(release.version)}


def render_inference_service(
    name: str, namespace: str, predictor: dict, deployment_mode: str, labels: dict[str, str]
) -> dict:
    annotations = {"serving.kserve.io/deploymentMode": deployment_mode}
    if deployment_mode == "Serverless":
        annotations["serving.kserve.io/enable-tag-routing"] = "true"  # the canary revision gets its own URL
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations,
            "labels": {
                "app.kubernetes.io/name": "review-slm",
                "app.kubernetes.io/part-of": "review-slm",
                "app.kubernetes.io/component": "serving",
                **labels,
            },
        },
        "spec": {"predictor": predictor},
    }


class KServeServing(ServingTarget):
    """An InferenceService per deployment (`name`), updated in place by every promoted iteration."""

    namespace: str = "review-slm"
    name: str = "review-slm"
    service_account_name: str = "review-slm-models"
    deployment_mode: Literal["Serverless", "RawDeployment"] = "Serverless"
    runtime: str | None = None
    served_model_name: str = "review-slm"
    gpus: int = 1
    cpu: str = "4"
    memory: str = "24Gi"
    max_model_len: int = 4096
    extra_args: list[str] = []
    node_selector: dict[str, str] = {}
    tolerations: list[dict] = []
    canary_traffic_percent: int = 10  # 0: no canary step, a rolling update
    smoke_review: bool = True
    ready_timeout_s: float = 1800.0
    poll_interval_s: float = 5.0
    lora_hot_load: bool = False
    lora_path_root: str = "/mnt/artifacts"
    artifact_root_uri: str = ""
    api_url: str | None = None  # an explicit API server URL (tests, a kubectl proxy); else in-cluster or kubeconfig
    in_cluster: bool = False
    kubeconfig_path: str | None = None
    kube_context: str | None = None

    # -- Kubernetes plumbing -------------------------------------------------------------------
    def _api(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(api_client(self.api_url, self.in_cluster, self.kubeconfig_path, self.kube_context))

    def _get(self, api: k8s.CustomObjectsApi) -> dict | None:
        try:
            # a custom object is its JSON (the client annotates the union of every model it has)
            return cast(dict, api.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name))
        except k8s.ApiException as err:
            if err.status == 404:
                return None
            raise

    def _patch(self, api: k8s.CustomObjectsApi, body: dict) -> dict:
        # A dict body is sent as a JSON merge patch: `None` removes a field (canaryTrafficPercent, canary).
        return cast(dict, api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name, body))

    def predictor(self, storage_uri: str) -> dict:
        return render_predictor(
            storage_uri,
            served_model_name=self.served_model_name,
            service_account_name=self.service_account_name,
            runtime=self.runtime,
            gpus=self.gpus,
            cpu=self.cpu,
            memory=self.memory,
            max_model_len=self.max_model_len,
            extra_args=self.extra_args,
            node_selector=self.node_selector,
            tolerations=self.tolerations,
        )

    def manifest(self, storage_uri: str, release: Release) -> dict:
        return render_inference_service(
            self.name, self.namespace, self.predictor(storage_uri), self.deployment_mode, release_labels(release)
        )

    def _wait(self, api: k8s.CustomObjectsApi, what: str, done: Callable[[dict], bool], log) -> dict:
        """Poll until `done(isvc)`; fail with the controller's reason on a terminal failure or the timeout."""
        deadline = time.monotonic() + self.ready_timeout_s
        last_reason = ""
        while True:
            isvc = self._get(api) or {}
            status = isvc.get("status") or {}
            if status.get("observedGeneration", 0) >= isvc.get("metadata", {}).get("generation", 0) and done(isvc):
                return isvc
            failing = [c for c in conditions(isvc) if c.get("status") == "False" and c.get("reason")]
            reason = "; ".join(f"{c['type']}: {c['reason']} {c.get('message', '')}".strip() for c in failing)
            failed_load = (status.get("modelStatus") or {}).get("lastFailureInfo")
            if failed_load:
                raise RolloutFailed(
                    f"{what}: the model failed to load ({failed_load.get('reason')}): {failed_load.get('message', '')}"
                )
            if reason and reason != last_reason:
                log.info(f"{what}: waiting ({reason})")
                last_reason = reason
            if time.monotonic() > deadline:
                raise RolloutFailed(
                    f"{what}: not Ready after {self.ready_timeout_s:.0f}s ({reason or 'no condition reported'}); "
                    "check `kubectl describe inferenceservice` and the predictor pods (GPU quota, image, storage "
                    "credentials)"
                )
            time.sleep(self.poll_interval_s)

    # -- rollout -------------------------------------------------------------------------------
    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> ServedEndpoint:
        api = self._api()
        current = self._get(api)
        storage_uri = release.model_uri
        if current is None:
            log.info(f"creating InferenceService {self.namespace}/{self.name} with {storage_uri}")
            api.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.manifest(storage_uri, release)
            )
            ready = self._wait(api, "first rollout", lambda i: is_true(i, "Ready"), log)
            return self._endpoint(ready, release, rollout="created")
        served = current["spec"]["predictor"].get("model", {}).get("storageUri")
        if (
            self.lora_hot_load
            and release.adapter_uri
            and served == release.base_model_uri
            and is_true(current, "Ready")
        ):
            return self._load_adapter(current, release, release.adapter_uri, log)
        if self.canary_traffic_percent == 0:
            return self._rolling_update(api, storage_uri, release, log)
        if self.deployment_mode == "Serverless":
            return self._serverless_canary(api, storage_uri, release, log)
        return self._raw_canary(api, storage_uri, release, log)

    def _rolling_update(self, api, storage_uri: str, release: Release, log) -> ServedEndpoint:
        """No canary step (canary_traffic_percent=0, or a KServe without `spec.canary`): the new predictor
        replaces the old one; the old pods serve until the new ones are Ready (rolling update / Knative)."""
        self._patch(
            api, {"metadata": {"labels": release_labels(release)}, "spec": {"predictor": self.predictor(storage_uri)}}
        )
        log.info(f"rolling update to {storage_uri} (no canary step)")
        updated = self._wait(api, "rolling update", lambda i: is_true(i, "Ready"), log)
        return self._endpoint(updated, release, rollout="rolling update")

    def _serverless_canary(self, api, storage_uri: str, release: Release, log) -> ServedEndpoint:
        predictor = {**self.predictor(storage_uri), "canaryTrafficPercent": self.canary_traffic_percent}
        self._patch(api, {"metadata": {"labels": release_labels(release)}, "spec": {"predictor": predictor}})
        log.info(f"canary: {self.canary_traffic_percent}% of traffic to the revision serving {storage_uri}")

        def canary_ready(isvc: dict) -> bool:
            component = (isvc.get("status") or {}).get("components", {}).get("predictor", {})
            return (
                is_true(isvc, "Ready")
                and bool(component.get("latestReadyRevision"))
                and component.get("latestReadyRevision") == component.get("latestCreatedRevision")
            )

        try:
            isvc = self._wait(api, "canary", canary_ready, log)
            traffic = isvc["status"]["components"]["predictor"].get("traffic") or []
            canary_url = next((t.get("url") for t in traffic if t.get("latestRevision") and t.get("url")), None)
            self._smoke(canary_url, log)
        except Exception:
            self._patch(api, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})
            log.error("canary failed: all traffic is back on the previous revision")
            raise
        self._patch(api, {"spec": {"predictor": {"canaryTrafficPercent": None}}})
        promoted = self._wait(
            api,
            "promotion",
            lambda i: (
                is_true(i, "Ready")
                and all(
                    t.get("percent", 0) in (0, 100) or not t.get("latestRevision")
                    for t in (i.get("status") or {}).get("components", {}).get("predictor", {}).get("traffic") or []
                )
            ),
            log,
        )
        return self._endpoint(promoted, release, rollout=f"canary {self.canary_traffic_percent}% -> promoted")

    def _raw_canary(self, api, storage_uri: str, release: Release, log) -> ServedEndpoint:
        predictor = self.predictor(storage_uri)
        self._patch(
            api, {"spec": {"canary": [{"predictor": predictor, "trafficPercent": self.canary_traffic_percent}]}}
        )
        log.info(f"canary (RawDeployment): {self.canary_traffic_percent}% to a second predictor serving {storage_uri}")

        def canary_ready(isvc: dict) -> bool:
            statuses = (isvc.get("status") or {}).get("canaryStatuses") or []
            return bool(statuses) and all(s.get("ready") for s in statuses)

        try:
            self._wait(api, "canary", canary_ready, log)
            self._smoke(None, log)  # no per-canary URL in raw mode: the smoke review needs Serverless tag routing
        except Exception:
            self._patch(api, {"spec": {"canary": None}})
            log.error("canary failed: removed; the previous predictor kept all traffic")
            raise
        self._patch(
            api, {"metadata": {"labels": release_labels(release)}, "spec": {"predictor": predictor, "canary": None}}
        )
        promoted = self._wait(api, "promotion", lambda i: is_true(i, "Ready"), log)
        return self._endpoint(promoted, release, rollout=f"canary {self.canary_traffic_percent}% -> promoted")

    def _smoke(self, url: str | None, log) -> None:
        """The new revision must answer a review request with a parseable review before it gets all traffic."""
        if not self.smoke_review:
            return
        if not url:
            log.warning("no URL for the new revision (tag routing off or RawDeployment): smoke review skipped")
            return
        from review_slm.core.prompts import parse_review, student_messages

        try:
            (answer,) = chat_answers(
                f"{url.rstrip('/')}/openai",
                self.served_model_name,
                [{"id": "smoke", "messages": student_messages(*SMOKE_DIFF)}],
                max_tokens=512,
                timeout=120,
            )
        except EndpointError as err:
            raise RolloutFailed(f"smoke review: the new revision did not answer: {err}") from err
        review, error = parse_review(answer["answer"], hunk_path=SMOKE_DIFF[0])
        if review is None:
            raise RolloutFailed(
                f"smoke review: the new revision's answer is not a review ({error}): {answer['answer'][:200]!r}"
            )
        log.info(f"smoke review passed: {len(review.findings)} finding(s)")

    def _load_adapter(self, current: dict, release: Release, adapter_uri: str, log) -> ServedEndpoint:
        """Load this iteration's adapter into the running vLLM; the base revision stays as it is."""
        relative = adapter_uri.removeprefix(self.artifact_root_uri).lstrip("/")
        lora_name = f"{self.served_model_name}-{release.iteration}"
        url = f"{current['status']['url'].rstrip('/')}/v1/load_lora_adapter"
        response = httpx.post(
            url,
            json={"lora_name": lora_name, "lora_path": f"{self.lora_path_root.rstrip('/')}/{relative}"},
            timeout=300,
        )
        if response.status_code != 200:
            raise RolloutFailed(f"POST {url}: HTTP {response.status_code}: {response.text[:200]}")
        log.info(f"loaded adapter {lora_name} into the running server (no new revision)")
        return self._endpoint(current, release, rollout="lora adapter loaded", served_model=lora_name)

    def _endpoint(self, isvc: dict, release: Release, rollout: str, served_model: str = "") -> ServedEndpoint:
        url = (isvc.get("status") or {}).get("url", "")
        ready = condition(isvc, "Ready") or {}
        return ServedEndpoint(
            kind="kserve",
            location=url,
            openai_base_url=f"{url}/openai" if url else "",
            inference_service=f"{self.namespace}/{self.name}",
            served_model=served_model or self.served_model_name,
            rollout=rollout,
            ready_since=ready.get("lastTransitionTime", ""),
            iteration=release.iteration,
            model_version=release.version,
            storage_uri=isvc["spec"]["predictor"].get("model", {}).get("storageUri"),
        )
