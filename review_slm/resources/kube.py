"""One way to reach the Kubernetes API, shared by the launchers and KServe serving.

`in_cluster` uses the pod's service account (the Dagster run worker in the k8s profile); otherwise
the kubeconfig (KUBECONFIG or ~/.kube/config, optionally a named context). `api_url` talks to a plain
HTTP endpoint with no credentials: a `kubectl proxy`, or a local API server in tests.
"""

from __future__ import annotations

from kubernetes import client, config


def api_client(
    api_url: str | None = None, in_cluster: bool = False, kubeconfig_path: str | None = None, context: str | None = None
) -> client.ApiClient:
    configuration = client.Configuration()
    if api_url:
        configuration.host = api_url.rstrip("/")
    elif in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig_path, context=context, client_configuration=configuration)
    return client.ApiClient(configuration)


def conditions(obj: dict) -> list[dict]:
    """`status.conditions` of any object (a job, a pod, an InferenceService); empty until a controller sets them."""
    return (obj.get("status") or {}).get("conditions") or []


def condition(obj: dict, type_: str) -> dict | None:
    """The status condition of `type_` (or None while the controller has not set it)."""
    return next((c for c in conditions(obj) if c.get("type") == type_), None)


def is_true(obj: dict, type_: str) -> bool:
    found = condition(obj, type_)
    return bool(found) and found.get("status") == "True"
