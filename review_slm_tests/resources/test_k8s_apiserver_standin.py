"""The API server stand-in answers the real `kubernetes` client the way a cluster does."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch

from review_slm_tests.resources.k8s_apiserver_standin import JOB_NAME_LABEL, k8s_api  # noqa: F401  (fixture)

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "pytorchjobs"


def _job(name: str, **labels) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
    }


def test_custom_resources_crud_and_errors(k8s_api):
    api = client.CustomObjectsApi(k8s_api.api_client())
    created = api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("a", team="x"))
    api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("b", team="y"))
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as conflict:
        api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("a"))
    assert conflict.value.status == 409 and "AlreadyExists" in conflict.value.body
    listed = api.list_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, label_selector="team=x")
    assert [o["metadata"]["name"] for o in listed["items"]] == ["a"]
    patched = api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "ns",
        PLURAL,
        "a",
        {"spec": {"runPolicy": {"backoffLimit": 1}}},
        _content_type="application/merge-patch+json",
    )
    assert patched["spec"] == {"runPolicy": {"backoffLimit": 1}}
    k8s_api.state.set_status(GROUP, PLURAL, "ns", "a", {"conditions": [{"type": "Running", "status": "True"}]})
    assert (
        api.get_namespaced_custom_object_status(GROUP, VERSION, "ns", PLURAL, "a")["status"]["conditions"][0]["type"]
        == "Running"
    )
    replaced = api.replace_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "a", {**_job("a"), "spec": {"x": 1}})
    assert replaced["spec"] == {"x": 1}
    status = api.delete_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "a", propagation_policy="Foreground")
    assert status["kind"] == "Status" and "Foreground" in status["message"]
    with pytest.raises(client.ApiException) as missing:
        api.get_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "a")
    assert missing.value.status == 404 and '"reason": "NotFound"' in missing.value.body


def test_core_secrets_serviceaccounts_pods_and_events(k8s_api):
    core = client.CoreV1Api(k8s_api.api_client())
    core.create_namespaced_secret(
        "ns", client.V1Secret(metadata=client.V1ObjectMeta(name="s3"), string_data={"k": "v"})
    )
    core.patch_namespaced_secret(
        "s3", "ns", {"metadata": {"annotations": {"serving.kserve.io/s3-endpoint": "minio:9000"}}}
    )
    assert core.read_namespaced_secret("s3", "ns").metadata.annotations == {
        "serving.kserve.io/s3-endpoint": "minio:9000"
    }
    core.create_namespaced_service_account("ns", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa")))
    sa = core.read_namespaced_service_account("sa", "ns")
    sa.secrets = [client.V1ObjectReference(name="s3")]
    assert core.replace_namespaced_service_account("sa", "ns", sa).secrets[0].name == "s3"
    k8s_api.state.add_pod("p-0", "ns", labels={JOB_NAME_LABEL: "j"})
    k8s_api.state.add_pod("q-0", "ns")
    assert [p.metadata.name for p in core.list_namespaced_pod("ns", label_selector=JOB_NAME_LABEL + "=j").items] == [
        "p-0"
    ]
    k8s_api.state.add_event("p-0", "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", "ns")
    events = core.list_namespaced_event("ns", field_selector="involvedObject.name=p-0").items
    assert [e.reason for e in events] == ["FailedScheduling"]


def test_deleting_a_job_deletes_its_pods(k8s_api):
    api = client.CustomObjectsApi(k8s_api.api_client())
    job = api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("j"))
    k8s_api.state.add_pod("j-master-0", "ns", labels={JOB_NAME_LABEL: "j"})
    k8s_api.state.add_pod("j-worker-0", "ns", owner=job)
    k8s_api.state.add_pod("other", "ns")
    api.delete_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "j", propagation_policy="Background")
    assert [p["metadata"]["name"] for p in k8s_api.state.objects("pods")] == ["other"]


def test_watch_replays_from_a_resource_version_and_reports_410(k8s_api):
    api = client.CustomObjectsApi(k8s_api.api_client())
    first = api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("a"))
    k8s_api.state.set_status(GROUP, PLURAL, "ns", "a", {"conditions": [{"type": "Created", "status": "True"}]})
    api.delete_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, "a")
    events = list(
        watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            "ns",
            PLURAL,
            resource_version=first["metadata"]["resourceVersion"],
            timeout_seconds=1,
        )
    )
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )
    k8s_api.state.expire_resource_versions()
    with pytest.raises(client.ApiException) as gone:
        list(
            watch.Watch().stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "ns",
                PLURAL,
                resource_version=first["metadata"]["resourceVersion"],
                timeout_seconds=1,
            )
        )
    assert gone.value.status == 410


def test_a_dropped_watch_breaks_the_stream_mid_flight(k8s_api):
    api = client.CustomObjectsApi(k8s_api.api_client())
    api.create_namespaced_custom_object(GROUP, VERSION, "ns", PLURAL, _job("a"))
    threading.Timer(0.3, k8s_api.state.drop_watches).start()
    seen, started = [], time.monotonic()
    with pytest.raises(Exception):  # noqa: B017  urllib3 reports a reset connection as one of several errors
        for event in watch.Watch().stream(
            api.list_namespaced_custom_object, GROUP, VERSION, "ns", PLURAL, timeout_seconds=30
        ):
            seen.append(event["type"])
    assert seen == ["ADDED"] and time.monotonic() - started < 5


def test_pod_logs_follow_until_the_pod_terminates(k8s_api):
    core = client.CoreV1Api(k8s_api.api_client())
    state = k8s_api.state
    state.add_pod("p", "ns", containers=("pytorch", "sidecar"))
    with pytest.raises(client.ApiException) as waiting:
        core.read_namespaced_pod_log("p", "ns")
    assert waiting.value.status == 400 and "ContainerCreating" in waiting.value.body
    state.set_pod_status("p", {"phase": "Running"}, "ns")
    state.append_log("p", "one\ntwo", "ns")
    state.append_log("p", "sidecar line", "ns", container="sidecar")

    def finish():
        state.append_log("p", "three", "ns")
        state.set_pod_status("p", {"phase": "Succeeded"}, "ns")

    threading.Timer(0.3, finish).start()
    stream = core.read_namespaced_pod_log("p", "ns", container="pytorch", follow=True, _preload_content=False)
    assert b"".join(stream.stream()).decode().splitlines() == ["one", "two", "three"]
    stamped = core.read_namespaced_pod_log(
        "p", "ns", container="sidecar", timestamps=True, _preload_content=False
    ).data.decode()
    assert stamped.split(" ", 1)[1] == "sidecar line\n" and stamped.startswith("20")
