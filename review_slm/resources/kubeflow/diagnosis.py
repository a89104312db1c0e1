"""Why a trainer pod is not running, read from its status the way `kubectl describe pod` shows it (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from review_slm.resources.kube import conditions

# Waiting reasons that do not fix themselves: the image or the pod's configuration is wrong.
STUCK_WAITING = (
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)
RUNNING_PHASES = ("Running", "Succeeded", "Failed")


@dataclass(frozen=True)
class PodProblem:
    pod: str
    reason: str  # OOMKilled, Error, ImagePullBackOff, CrashLoopBackOff, Unschedulable, Evicted, ...
    message: str

    def __str__(self) -> str:
        return f"pod {self.pod}: {self.reason}" + (f" ({self.message})" if self.message else "")


def _name(pod: dict) -> str:
    return pod["metadata"]["name"]


def _statuses(pod: dict) -> list[dict]:
    status = pod.get("status") or {}
    return (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def unschedulable(pod: dict) -> PodProblem | None:
    """The scheduler's verdict on a Pending pod (`PodScheduled=False`, reason Unschedulable)."""
    for cond in conditions(pod):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return PodProblem(_name(pod), cond.get("reason") or "Unschedulable", cond.get("message") or "")
    return None


def stuck_waiting(pod: dict) -> PodProblem | None:
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_WAITING:
            return PodProblem(_name(pod), waiting["reason"], waiting.get("message") or f"container {cs.get('name')}")
    return None


def failure(pod: dict) -> PodProblem | None:
    """Why a pod's container died: terminated (now or the previous run) with a reason, CrashLoopBackOff, eviction."""
    status = pod.get("status") or {}
    if status.get("reason"):  # Evicted, DeadlineExceeded, NodeLost: the pod itself was stopped
        return PodProblem(_name(pod), status["reason"], status.get("message") or "")
    for cs in _statuses(pod):
        for state in (cs.get("state") or {}, cs.get("lastState") or {}):
            term = state.get("terminated") or {}
            if term and term.get("exitCode", 0) != 0:
                detail = f"container {cs.get('name')} exit code {term.get('exitCode')}"
                return PodProblem(
                    _name(pod),
                    term.get("reason") or "Error",
                    f"{detail}: {term['message']}" if term.get("message") else detail,
                )
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", *STUCK_WAITING):
            return PodProblem(_name(pod), waiting["reason"], waiting.get("message") or f"container {cs.get('name')}")
    return None


def first_failure(pods: list[dict]) -> PodProblem | None:
    """The most telling failure: an OOM kill first (it has a remedy), then any other."""
    problems = [p for p in map(failure, pods) if p]
    return next((p for p in problems if p.reason == "OOMKilled"), problems[0] if problems else None)
