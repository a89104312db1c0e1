"""Render a Kubeflow Trainer v2 TrainJob (trainer.kubeflow.org/v1alpha1) on the `torch-distributed` runtime.

The runtime (a ClusterTrainingRuntime) owns the pod template: a JobSet with one replicated job `node`
whose container is `node`. What the TrainJob API does not expose directly (node selectors,
tolerations, the /dev/shm volume, secret env, the service account) goes in through `runtimePatches`,
the only place the schema allows pod-spec changes.
"""

from __future__ import annotations

from review_slm.resources.kubeflow.manifests import JobKind, TrainerPod

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
RUNTIME = "torch-distributed"
REPLICATED_JOB = CONTAINER = "node"
PATCH_MANAGER = "review-slm.dagster.io/launcher"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOB_INDEX_LABEL = "jobset.sigs.k8s.io/job-index"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
CONDITIONS = ("Created", "Suspended", "Complete", "Failed")


def _pod_patch(pod: TrainerPod) -> dict:
    """Node selectors, tolerations, the service account and the /dev/shm volume: what `trainer` cannot say."""
    spec = pod.pod_spec(CONTAINER)
    spec["containers"] = [{"name": CONTAINER, **({"volumeMounts": pod.shm_mount()} if pod.shm_size else {})}]
    return {"metadata": {"labels": dict(pod.labels)}, "spec": spec}


def render_trainjob(
    name: str,
    namespace: str,
    pod: TrainerPod,
    runtime: str = RUNTIME,
    queue: str | None = None,
    active_deadline_seconds: int | None = None,
) -> dict:
    """`trainer` carries image, command, topology, resources and env (values and secret refs); the patch the rest.

    The schema has no `envFrom` for the trainer container, so whole-secret env is refused: name each
    variable in `secret_env`. A `queue` is Kueue's (`kueue.x-k8s.io/queue-name`), the way Trainer v2 queues jobs.
    """
    if pod.env_from_secrets:
        raise ValueError(
            f"a TrainJob cannot take whole secrets as env (envFrom {pod.env_from_secrets}): "
            "list the variables in secret_env (VAR -> secret/key) instead"
        )
    labels = {**pod.labels, **({KUEUE_QUEUE_LABEL: queue} if queue else {})}
    trainer = {
        "image": pod.image,
        "command": list(pod.command),
        "numNodes": pod.hardware.nodes,
        "numProcPerNode": pod.procs_per_node,
        "resourcesPerNode": pod.resources(),
        "env": pod.env_list(),
    }
    spec: dict = {
        "runtimeRef": {"name": runtime, "apiGroup": GROUP, "kind": "ClusterTrainingRuntime"},
        "trainer": trainer,
        "runtimePatches": [
            {
                "manager": PATCH_MANAGER,
                "trainingRuntimeSpec": {
                    "template": {
                        "metadata": {"labels": dict(pod.labels)},
                        "spec": {
                            "replicatedJobs": [
                                {"name": REPLICATED_JOB, "template": {"spec": {"template": _pod_patch(pod)}}}
                            ]
                        },
                    }
                },
            }
        ],
    }
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def master_selector(name: str) -> str:
    """Rank 0: the first pod of the first job of the `node` replicated job."""
    return f"{JOBSET_NAME_LABEL}={name},{JOB_INDEX_LABEL}=0,{COMPLETION_INDEX_LABEL}=0"


def pods_selector(name: str) -> str:
    return f"{JOBSET_NAME_LABEL}={name}"


JOB = JobKind(GROUP, VERSION, PLURAL, KIND, CONTAINER, "Complete", master_selector, pods_selector)
