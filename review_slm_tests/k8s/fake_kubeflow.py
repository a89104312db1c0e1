"""Plays the Kubeflow operator and the kubelet against the API server stand-in (tests only).

For every job the launcher creates, a scenario runs in its own thread with a `JobRun`: it creates the
master/worker pods with the labels the real operators use, moves them through phases, writes the
master's log, and sets the job's conditions. The trainer's log lines are real Dagster Pipes messages:
a small `dagster_pipes` program runs with the environment taken from the created manifest, so the
bootstrap variables the launcher put there are exactly what gets tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from review_slm.resources.kubeflow import pytorchjob, trainjob
from review_slm_tests.resources.k8s_apiserver_standin import ApiServerState

TRAINER = """
import sys
from dagster_pipes import open_dagster_pipes

with open_dagster_pipes() as pipes:
    task = pipes.extras["task"]
    print(f"plain stdout line from {task}", flush=True)
    pipes.log.info(f"training {task}")
    if sys.argv[1] == "cuda-oom":
        pipes.report_custom_message({"failure": "oom", "message": "CUDA out of memory at step 3", "step": 3})
    else:
        pipes.report_asset_materialization(metadata={"train_loss": 0.25, "task": task, "steps": 4})
"""


def running(container: str = "pytorch") -> dict:
    return {"phase": "Running", "containerStatuses": [{"name": container, "state": {"running": {}}}]}


def terminated(phase: str, reason: str, exit_code: int, container: str = "pytorch") -> dict:
    state = {"terminated": {"reason": reason, "exitCode": exit_code}}
    return {"phase": phase, "containerStatuses": [{"name": container, "state": state}]}


def waiting(reason: str, message: str = "", container: str = "pytorch") -> dict:
    return {
        "phase": "Pending",
        "containerStatuses": [{"name": container, "state": {"waiting": {"reason": reason, "message": message}}}],
    }


def unschedulable(message: str) -> dict:
    return {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}],
    }


class JobRun:
    """One created job, and the verbs a scenario uses to play the operator and kubelet for it."""

    def __init__(self, state: ApiServerState, job: dict):
        self.state, self.job = state, job
        self.name, self.namespace, self.kind = job["metadata"]["name"], job["metadata"]["namespace"], job["kind"]
        self.group, self.plural = job["apiVersion"].split("/")[0], f"{job['kind'].lower()}s"
        self.container = pytorchjob.CONTAINER if self.kind == pytorchjob.KIND else trainjob.CONTAINER
        self.pods: list[str] = []

    @property
    def master(self) -> str:
        return self.pods[0]

    def nodes(self) -> int:
        if self.kind == pytorchjob.KIND:
            return sum(r["replicas"] for r in self.job["spec"]["pytorchReplicaSpecs"].values())
        return self.job["spec"]["trainer"]["numNodes"]

    def env(self) -> dict[str, str]:
        if self.kind == pytorchjob.KIND:
            container = self.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
            entries = container["env"]
        else:
            entries = self.job["spec"]["trainer"]["env"]
        return {e["name"]: e["value"] for e in entries if "value" in e}

    def create_pods(self) -> None:
        for i in range(self.nodes()):
            if self.kind == pytorchjob.KIND:
                role = "master" if i == 0 else "worker"
                name = f"{self.name}-{role}-{0 if i == 0 else i - 1}"
                labels = {pytorchjob.JOB_NAME_LABEL: self.name, pytorchjob.REPLICA_TYPE_LABEL: role}
            else:
                name = f"{self.name}-node-0-{i}-abcde"
                labels = {
                    trainjob.JOBSET_NAME_LABEL: self.name,
                    trainjob.JOB_INDEX_LABEL: "0",
                    trainjob.COMPLETION_INDEX_LABEL: str(i),
                }
            self.state.add_pod(name, self.namespace, labels=labels, containers=(self.container,), owner=self.job)
            self.pods.append(name)

    def set_pods(self, status: dict) -> None:
        for pod in self.pods:
            self.state.set_pod_status(pod, status, self.namespace)

    def condition(self, *types: str, reason: str = "", message: str = "") -> None:
        conditions = [
            {"type": t, "status": "True", "reason": reason or t, "message": message or f"{self.kind} is {t}"}
            for t in types
        ]
        self.state.set_status(self.group, self.plural, self.namespace, self.name, {"conditions": conditions})

    def run_trainer(self, mode: str = "ok") -> int:
        """The trainer program with the manifest's env; its stdout and stderr become the master pod's log."""
        env = {"PATH": os.environ.get("PATH", ""), **self.env()}
        done = subprocess.run(
            [sys.executable, "-c", TRAINER, mode], env=env, capture_output=True, text=True, timeout=60
        )
        self.state.append_log(self.master, done.stdout + done.stderr, self.namespace)
        return done.returncode

    def exists(self) -> bool:
        return self.state.get(self.plural, self.name, self.namespace) is not None


@contextmanager
def fake_kubeflow(state: ApiServerState, plural: str, scenario: Callable[[JobRun], None]):
    """Run `scenario` for each job of `plural` created while the block runs; re-raise what a scenario raised."""
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def play(job: dict) -> None:
        try:
            scenario(JobRun(state, job))
        except BaseException as err:  # the test asserts on it after the block
            errors.append(err)

    def operator() -> None:
        while not stop.is_set():
            for job in state.objects(plural):
                if job["metadata"]["uid"] not in seen:
                    seen.add(job["metadata"]["uid"])
                    threading.Thread(target=play, args=(job,), daemon=True).start()
            time.sleep(0.02)

    thread = threading.Thread(target=operator, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
