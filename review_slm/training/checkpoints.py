"""Training checkpoints in the artifact store, by URI, so a retried run resumes instead of restarting.

A checkpoint is the folder the HF `Trainer` writes (`checkpoint-N`: weights or adapter, optimizer,
scheduler, RNG states, `trainer_state.json` with the step the data loader skips to). The store keeps
each one as `<uri>/step-<N>/`, promoted atomically, so a process killed mid-copy never leaves a
half checkpoint that looks complete:

- a local folder (or `file://`): copied into a hidden sibling first and renamed into place;
- `s3://` (S3 / MinIO, endpoint from `AWS_ENDPOINT_URL`): uploaded as a manifest directory
  (`object_store.py`), the manifest written last; a step without one is not a checkpoint.

Every checkpoint carries the fingerprint of the run that wrote it (task, recipe stage, data, parent
model): a retry resumes only from checkpoints of the same run, never from a stale one after the
gold set or the recipe changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from review_slm.core.recipe import StageSpec
from review_slm.training.object_store import ObjectStore, is_s3_uri, join_uri

FINGERPRINT_FILE = "review_slm_fingerprint.txt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    step: int
    uri: str


class CheckpointStore(ABC):
    """Where one training run (one iteration, one asset) keeps its checkpoints."""

    def __init__(self, uri: str, keep_last: int = 2):
        self.uri = uri
        self.keep_last = keep_last

    @abstractmethod
    def promote(self, local_dir: Path, step: int, fingerprint: str) -> Checkpoint:
        """Copy a finished `checkpoint-N` folder into the store atomically; prune older ones."""

    @abstractmethod
    def latest(self, fingerprint: str) -> Checkpoint | None:
        """The newest complete checkpoint written by a run with this fingerprint."""

    @abstractmethod
    def fetch(self, checkpoint: Checkpoint, into: Path) -> Path:
        """A local folder `Trainer.train(resume_from_checkpoint=...)` can read."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every checkpoint (after the run's result is saved)."""


class LocalCheckpointStore(CheckpointStore):
    @property
    def root(self) -> Path:
        return Path(self.uri.removeprefix("file://"))

    def _complete(self) -> list[tuple[int, Path]]:
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
        return sorted(found)

    def promote(self, local_dir: Path, step: int, fingerprint: str) -> Checkpoint:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"step-{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.root))
        try:
            shutil.copytree(local_dir, tmp, dirs_exist_ok=True)
            (tmp / FINGERPRINT_FILE).write_text(fingerprint)
            if target.exists():  # a rerun reached the same step again: replace it
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for _, old in self._complete()[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        return Checkpoint(step, str(target))

    def latest(self, fingerprint: str) -> Checkpoint | None:
        for step, path in reversed(self._complete()):
            marker = path / FINGERPRINT_FILE
            if marker.is_file() and marker.read_text() == fingerprint:
                return Checkpoint(step, str(path))
        return None

    def fetch(self, checkpoint: Checkpoint, into: Path) -> Path:
        return Path(checkpoint.uri)  # already local: the Trainer reads it in place

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class S3CheckpointStore(CheckpointStore):
    """Checkpoints as manifest directories under an `s3://` prefix; the fingerprint is one more file in each."""

    def __init__(self, uri: str, keep_last: int = 2, objects: ObjectStore | None = None):
        super().__init__(uri, keep_last)
        self.objects = objects or ObjectStore.from_env()

    def _steps(self) -> list[tuple[int, str]]:
        """Every `step-N` prefix, complete or not, oldest first."""
        found = []
        for child in self.objects.list_children(self.uri):
            if m := _STEP_DIR.match(child.rsplit("/", 1)[-1]):
                found.append((int(m.group(1)), child))
        return sorted(found)

    def _complete(self) -> list[tuple[int, str]]:
        return [(step, uri) for step, uri in self._steps() if self.objects.is_dir(uri)]

    def promote(self, local_dir: Path, step: int, fingerprint: str) -> Checkpoint:
        target = join_uri(self.uri, f"step-{step:08d}")
        self.objects.put_dir(local_dir, target, extra={FINGERPRINT_FILE: fingerprint.encode()})
        for _, old in self._complete()[: -self.keep_last]:
            self.objects.delete_dir(old)
        return Checkpoint(step, target)

    def latest(self, fingerprint: str) -> Checkpoint | None:
        for step, uri in reversed(self._complete()):
            try:
                if self.objects.get_bytes(join_uri(uri, FINGERPRINT_FILE)).decode() == fingerprint:
                    return Checkpoint(step, uri)
            except FileNotFoundError:  # pruned or overwritten between the listing and this read
                continue
        return None

    def fetch(self, checkpoint: Checkpoint, into: Path) -> Path:
        return self.objects.download_dir(checkpoint.uri, into)

    def clear(self) -> None:
        for _, uri in self._steps():
            self.objects.delete_dir(uri)
        self.objects.delete_prefix(self.uri.rstrip("/") + "/")


def open_checkpoint_store(uri: str) -> CheckpointStore:
    """The store for a checkpoint URI: a local path, `file://` or `s3://`. Any other scheme is
    refused up front rather than failing at the first checkpoint."""
    if is_s3_uri(uri):
        return S3CheckpointStore(uri)
    if "://" in uri and not uri.startswith("file://"):
        raise ValueError(f"checkpoint store {uri}: unsupported scheme (expected a local path, file:// or s3://)")
    return LocalCheckpointStore(uri)


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_fingerprint(
    task: str,
    stage: StageSpec,
    data_files: list[str],
    parent_model: str,
    extra: dict | None = None,
    world_size: int = 1,
) -> str:
    """Identity of a training run for resuming. The micro-batch split and the world size are left out on
    purpose: an out-of-memory retry changes the split, a rescheduled job the number of ranks, and a step means
    the same sequences as long as the global batch (micro-batch x accumulation x ranks) stays."""
    fields = stage.model_dump(
        mode="json", exclude={"per_device_batch_size", "gradient_accumulation_steps", "logging_steps", "save_steps"}
    )
    payload = {
        "task": task,
        "stage": {**fields, "global_batch": stage.effective_batch * world_size},
        "data": [file_digest(f) for f in data_files],
        "parent_model": parent_model,
        "extra": extra or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
