"""Who this process is in a distributed run, and what it may talk to.

torchrun (and a PyTorchJob pod, whose operator sets MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK and
the PET_* defaults torchrun reads) gives every worker RANK / WORLD_SIZE / LOCAL_RANK. Only global
rank 0 speaks Dagster Pipes, writes checkpoints and logs to MLflow: the other ranks read the same
job spec (the Pipes context) but their reports go to their own stderr, so Dagster sees one run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return rank() == 0


def ddp_backend(on_cuda: bool, sharded: bool = False) -> str | None:
    """gloo on CPU, nccl on CUDA; None for a single unsharded process (the Trainer then sets up nothing)."""
    if world_size() <= 1 and not sharded:
        return None
    return "nccl" if on_cuda else "gloo"


def join_group_of_one() -> None:
    """A process not started by torchrun becomes rank 0 of a group of one (a free local port).

    FSDP needs a process group even on one rank: the Trainer refuses `fsdp` outside distributed training,
    and a sharded checkpoint written by N ranks is read back through the same FSDP path by one.
    """
    import socket

    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(
        {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class RankLocalPipes:
    """The slice of a Pipes context a non-zero rank needs: the job spec, and a log that stays local."""

    def __init__(self, extras: dict):
        self.extras = extras
        self.log = logging.getLogger(f"review_slm.rank{rank()}")

    def report_custom_message(self, payload) -> None:
        pass

    def report_asset_materialization(self, metadata=None, **kwargs) -> None:
        pass


def _message_writer():
    """S3 when the launcher reads messages from a bucket (a pod whose log is not read), else the default writer."""
    from dagster_pipes import PipesEnvVarParamsLoader, PipesS3MessageWriter

    params = PipesEnvVarParamsLoader()
    if params.is_dagster_pipes_process() and "bucket" in params.load_messages_params():
        import boto3

        return PipesS3MessageWriter(client=boto3.client("s3"))
    return None


@contextlib.contextmanager
def open_pipes() -> Iterator:
    """Dagster Pipes on rank 0; the same extras, read-only, on every other rank."""
    from dagster_pipes import PipesDefaultContextLoader, PipesEnvVarParamsLoader, open_dagster_pipes

    if is_main_process():
        with open_dagster_pipes(message_writer=_message_writer()) as pipes:
            yield pipes
        return
    params = PipesEnvVarParamsLoader().load_context_params()
    with PipesDefaultContextLoader().load_context(params) as data:
        extras = dict(data.get("extras") or {})
    yield RankLocalPipes(extras)
