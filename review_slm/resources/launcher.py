"""Run the training entrypoint somewhere and get its metadata back over Dagster Pipes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from review_slm.training.job_spec import JobSpec
from review_slm.training.pipes_report import FailureKey, ReportKey

ENTRYPOINT = ["-m", "review_slm.training.entrypoint"]


class TrainerFailed(Exception):
    """The trainer classified its own failure (`oom`, `divergence`); `details` is what it reported."""

    def __init__(self, kind: str, details: dict):
        super().__init__(details.get(FailureKey.MESSAGE, kind))
        self.kind = kind
        self.details = details


class TrainerCrashed(RuntimeError):
    """The trainer process died without a classified failure (SIGKILL, preemption, a crash)."""


class TrainerNeverStarted(dg.Failure):
    """The trainer never ran (nothing schedules, the image does not pull): retrying the same job would not help."""

    def __init__(self, description: str, metadata: dict | None = None):
        super().__init__(description=description, metadata=metadata, allow_retries=False)


@dataclass
class TrainerReport:
    """What one trainer run reported over Pipes: its facts and metrics (the asset shows them as metadata),
    and for a training task its logged loss history and the step it resumed from."""

    metadata: dict[str, Any] = field(default_factory=dict)
    loss_history: list[dict] = field(default_factory=list)
    resumed_from_step: int = 0  # 0: started fresh

    @classmethod
    def from_session(cls, session: dg.PipesSession) -> TrainerReport:
        metadata = reported_metadata(session)
        history = metadata.pop(ReportKey.LOSS_HISTORY, None) or []
        return cls(metadata, history, int(metadata.pop(ReportKey.RESUMED_FROM_STEP, None) or 0))


class TrainingLauncher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def launch(self, context: dg.AssetExecutionContext, spec: JobSpec, env: dict[str, str]) -> TrainerReport:
        """Run one job spec (`task` = sft | dpo | orpo | generate) to completion; returns what it reported.

        Raises `TrainerFailed` when the trainer reported a classified failure, and another error when
        the process died without one (killed, crashed): a retry of that resumes from the checkpoint.
        """


def torchrun_command(python: str, nproc_per_node: int = 1, from_env: bool = False) -> list[str]:
    """The entrypoint command: plain, under torchrun on this host, or under torchrun configured by PET_* (a pod)."""
    if from_env:
        return [python, "-m", "torch.distributed.run", *ENTRYPOINT]
    if nproc_per_node > 1:
        return [
            python,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "1",
            "--nproc-per-node",
            str(nproc_per_node),
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(_free_port()),
            *ENTRYPOINT,
        ]
    return [python, *ENTRYPOINT]


def reported_failure(session: dg.PipesSession) -> TrainerFailed | None:
    """The trainer's classified failure (a Pipes custom message `{"failure": kind, ...}`), if it reported one."""
    failures = [m for m in session.get_custom_messages() if isinstance(m, dict) and m.get(FailureKey.FAILURE)]
    return TrainerFailed(failures[-1][FailureKey.FAILURE], failures[-1]) if failures else None


def reported_metadata(session: dg.PipesSession) -> dict:
    """The metadata of every materialization the trainer reported, merged (raw values)."""
    metadata: dict = {}
    for result in session.get_results():
        # MetadataValue wrappers (the union also names the raw values Dagster accepts on the way in)
        metadata.update({key: value.value for key, value in (result.metadata or {}).items()})  # pyright: ignore[reportAttributeAccessIssue,reportOptionalMemberAccess]
    return metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalProcessLauncher(TrainingLauncher):
    """A subprocess on this machine running the same command a PyTorchJob pod runs.

    `nproc_per_node` > 1 runs it under torchrun on this host (DDP: gloo on CPU, nccl on CUDA).
    `torchrun_from_env` runs `torchrun -m ...` with no arguments, so torchrun takes its topology from
    the PET_* variables (what a PyTorchJob pod does).
    """

    python: str = sys.executable
    nproc_per_node: int = 1
    torchrun_from_env: bool = False

    def command(self) -> list[str]:
        return torchrun_command(self.python, self.nproc_per_node, self.torchrun_from_env)

    def launch(self, context: dg.AssetExecutionContext, spec: JobSpec, env: dict[str, str]) -> TrainerReport:
        command = self.command()
        context.log.info(f"launching `{spec.task}` in a local process: {' '.join(command)}")
        with dg.open_pipes_session(
            context=context,
            extras=spec.extras(),
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
        ) as session:
            process = subprocess.Popen(command, env={**os.environ, **env, **session.get_bootstrap_env_vars()})
            returncode = process.wait()
        failure = reported_failure(session)
        if failure is not None:
            raise failure
        if returncode != 0:
            raise TrainerCrashed(
                f"trainer process `{spec.task}` exited with code {returncode} without reporting why "
                "(killed or crashed; see its stderr above)"
            )
        return TrainerReport.from_session(session)
