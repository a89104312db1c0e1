"""What every trainer pod gets, whatever job kind runs it: names, labels, resources, env, /dev/shm.

Pure functions over plain data, so the PyTorchJob and TrainJob renderers stay small and the tests can
validate what they produce without a cluster.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from review_slm.core.recipe import HardwareSpec

APP = "review-slm"
ITERATION_LABEL = "review-slm/iteration"
TASK_LABEL = "review-slm/task"
RUN_ID_LABEL = "dagster/run-id"
# Variables that only ever come by secret reference: refusing them as plain values keeps a token out of
# a manifest (which anyone who can read the job can read) even when a caller passes one by mistake.
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|API_KEY|PRIVATE_KEY)", re.I)
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


def dns_label(*parts: str, max_len: int = 63) -> str:
    """A DNS-1035 label from `parts` (lowercase, starts with a letter, <= max_len).

    Too-long names keep their start and get a hash of the whole so that two long names that share a
    prefix do not collide.
    """
    text = _NOT_DNS.sub("-", "-".join(p for p in parts if p).lower()).strip("-")
    text = re.sub("-{2,}", "-", text)
    if not text or not text[0].isalpha():
        text = f"j-{text}"
    if len(text) > max_len:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        text = f"{text[: max_len - 9].rstrip('-')}-{digest}"
    return text.strip("-")


def label_value(value: str) -> str:
    """A valid label value (<= 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return _NOT_LABEL.sub("-", value)[:63].strip("-_.")


def job_labels(task: str, iteration: str | None, run_id: str, component: str = "trainer") -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/part-of": APP,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "dagster",
        TASK_LABEL: label_value(task),
        RUN_ID_LABEL: label_value(run_id),
    }
    if iteration:
        labels[ITERATION_LABEL] = label_value(iteration)
    return labels


@dataclass(frozen=True)
class JobKind:
    """What a launcher needs to know about one kind of training job: its API, its conditions, its pods."""

    group: str
    version: str
    plural: str
    kind: str
    container: str  # the trainer container in its pods
    succeeded_condition: str  # the condition that says it is over and fine ("Failed" says the opposite)
    master_selector: Callable[[str], str]  # label selector of the rank-0 pod of job `name`
    pods_selector: Callable[[str], str]  # label selector of every pod of job `name`


@dataclass(frozen=True)
class TrainerPod:
    """The inputs every trainer pod shares; the launchers fill it from their configuration and the recipe."""

    image: str
    command: list[str]
    hardware: HardwareSpec
    env: dict[str, str] = field(default_factory=dict)  # plain values: Pipes bootstrap, MLflow run id
    secret_env: dict[str, str] = field(default_factory=dict)  # VAR -> "secret-name/key"
    env_from_secrets: list[str] = field(default_factory=list)  # whole secrets as env (S3 credentials)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict] = field(default_factory=list)
    shm_size: str | None = "8Gi"
    cpu_request: str = "2"
    image_pull_policy: str = "IfNotPresent"
    service_account_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        inlined = sorted(k for k in self.env if _SECRET_NAME.search(k))
        if inlined:
            raise ValueError(
                f"{', '.join(inlined)} would be inlined into the job manifest: pass secrets by reference "
                "(secret_env: VAR -> secret/key, or env_from_secrets)"
            )
        for var, ref in self.secret_env.items():
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise ValueError(f"secret_env[{var}] = {ref!r}: expected 'secret-name/key'")

    @property
    def gpus(self) -> int:
        return self.hardware.gpus_per_node if self.hardware.accelerator == "cuda" else 0

    @property
    def procs_per_node(self) -> int:
        """One process per GPU; one on CPU (torchrun's `auto` would start one per core)."""
        return max(self.gpus, 1)

    def resources(self) -> dict:
        requests = {"cpu": self.cpu_request, "memory": self.hardware.memory}
        limits = {"memory": self.hardware.memory}
        if self.gpus:
            requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(self.gpus)
        return {"requests": requests, "limits": limits}

    def env_list(self) -> list[dict]:
        plain = [{"name": k, "value": v} for k, v in sorted(self.env.items())]
        refs = [
            {"name": var, "valueFrom": {"secretKeyRef": {"name": ref.split("/")[0], "key": ref.split("/")[1]}}}
            for var, ref in sorted(self.secret_env.items())
        ]
        return plain + refs

    def env_from(self) -> list[dict]:
        return [{"secretRef": {"name": name}} for name in self.env_from_secrets]

    def shm_volume(self) -> list[dict]:
        """NCCL and DataLoader workers share memory through /dev/shm; the container runtime's 64 MiB default
        is too small."""
        if not self.shm_size:
            return []
        return [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": self.shm_size}}]

    def shm_mount(self) -> list[dict]:
        return [{"name": "dshm", "mountPath": "/dev/shm"}] if self.shm_size else []

    def container(self, name: str) -> dict:
        container = {
            "name": name,
            "image": self.image,
            "imagePullPolicy": self.image_pull_policy,
            "command": list(self.command),
            "env": self.env_list(),
            "resources": self.resources(),
        }
        if self.env_from_secrets:
            container["envFrom"] = self.env_from()
        if self.shm_size:
            container["volumeMounts"] = self.shm_mount()
        return container

    def pod_spec(
        self, container_name: str, scheduler_name: str | None = None, priority_class: str | None = None
    ) -> dict:
        spec: dict = {"containers": [self.container(container_name)]}
        if self.shm_size:
            spec["volumes"] = self.shm_volume()
        if self.node_selector:
            spec["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            spec["tolerations"] = [dict(t) for t in self.tolerations]
        if self.service_account_name:
            spec["serviceAccountName"] = self.service_account_name
        if scheduler_name:
            spec["schedulerName"] = scheduler_name
        if priority_class:
            spec["priorityClassName"] = priority_class
        return spec
