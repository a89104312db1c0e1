"""Render a Kubeflow PyTorchJob (kubeflow.org/v1, Training Operator v1): one Master + nodes-1 Workers."""

from __future__ import annotations

from dataclasses import dataclass

from review_slm.resources.kubeflow.manifests import JobKind, TrainerPod

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"
CONTAINER = "pytorch"  # the operator's webhook requires this name
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
CONDITIONS = ("Created", "Running", "Restarting", "Succeeded", "Failed", "Suspended")


@dataclass(frozen=True)
class RunPolicy:
    """`runPolicy` and its `schedulingPolicy`: cleanup, retries, deadlines and (Volcano) gang scheduling."""

    clean_pod_policy: str = "Running"  # running pods go when the job ends: no GPU idles after a failure
    backoff_limit: int = 0  # Dagster's retry policy retries (and resumes); the operator does not
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = 3600
    queue: str | None = None
    priority_class: str | None = None
    min_available: int | None = None  # default: every pod (gang scheduling: all or nothing)
    schedule_timeout_seconds: int | None = None

    def render(self, pods: int) -> dict:
        policy: dict = {"cleanPodPolicy": self.clean_pod_policy, "backoffLimit": self.backoff_limit}
        if self.active_deadline_seconds is not None:
            policy["activeDeadlineSeconds"] = self.active_deadline_seconds
        if self.ttl_seconds_after_finished is not None:
            policy["ttlSecondsAfterFinished"] = self.ttl_seconds_after_finished
        scheduling: dict = {}
        if self.queue:
            scheduling["queue"] = self.queue
            scheduling["minAvailable"] = self.min_available or pods
        elif self.min_available:
            scheduling["minAvailable"] = self.min_available
        if self.priority_class:
            scheduling["priorityClass"] = self.priority_class
        if self.schedule_timeout_seconds is not None:
            scheduling["scheduleTimeoutSeconds"] = self.schedule_timeout_seconds
        if scheduling:
            policy["schedulingPolicy"] = scheduling
        return policy

    @property
    def scheduler_name(self) -> str | None:
        return "volcano" if self.queue else None


def render_pytorchjob(name: str, namespace: str, pod: TrainerPod, run_policy: RunPolicy) -> dict:
    """Master (rank 0, the only one speaking Pipes) + `nodes - 1` Workers, `gpus_per_node` processes each."""
    nodes = pod.hardware.nodes
    template = {
        "metadata": {"labels": dict(pod.labels)},
        "spec": pod.pod_spec(CONTAINER, run_policy.scheduler_name, run_policy.priority_class),
    }
    replica = {"replicas": 1, "restartPolicy": "Never", "template": template}
    replicas = {"Master": replica}
    if nodes > 1:
        replicas["Worker"] = {**replica, "replicas": nodes - 1}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(pod.labels)},
        "spec": {
            "nprocPerNode": str(pod.procs_per_node),
            "pytorchReplicaSpecs": replicas,
            "runPolicy": run_policy.render(nodes),
        },
    }


def master_selector(name: str) -> str:
    return f"{JOB_NAME_LABEL}={name},{REPLICA_TYPE_LABEL}=master"


def pods_selector(name: str) -> str:
    return f"{JOB_NAME_LABEL}={name}"


JOB = JobKind(GROUP, VERSION, PLURAL, KIND, CONTAINER, "Succeeded", master_selector, pods_selector)
