"""The trainer's side of "everything goes by URI": stage `s3://` inputs before a task, publish outputs after.

In the k8s profile the trainer runs in a pod that cannot see the Dagster pod's filesystem, so the
job spec names its data, adapters and outputs by `s3://` URI. Before the task runs, every `s3://`
input is mirrored into the local cache (`<cache_dir>/s3/<bucket>/<key>`, unchanged files skipped)
and the spec the task sees holds local paths; outputs named by `s3://` get a fresh local folder,
uploaded after the task returns, by rank 0 only, and never when it failed (a failed run must not
publish half its outputs). Model references (`parent_model`, a generate entry's `model`) stay URIs:
`models.resolve_model_ref` fetches them, as it also resolves hub ids and the built-in tiny model,
and the URI (not a cache path) is what the checkpoint fingerprint records. Local paths pass through
unchanged, so the local profile never touches boto3.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from review_slm.training.job_spec import GenerateRequest, JobSpec, staged_fields
from review_slm.training.object_store import ObjectStore, cache_path, is_s3_uri, join_uri

# Folders the Trainer stages locally under output_dir; checkpoints reach the store through the
# checkpoint store instead, so they are not published with the outputs.
LOCAL_ONLY_OUTPUTS = frozenset({"checkpoints", "resume"})


def s3_cache(cache_dir: str | Path) -> Path:
    """Where `s3://` inputs and models are mirrored: `<cache_dir>/s3/<bucket>/<key>`."""
    return Path(cache_dir) / "s3"


class StagedSpec:
    """`spec` with local paths for every `s3://` input (downloaded) and output (a fresh local place);
    `publish()` uploads the outputs under their URIs."""

    def __init__(self, spec: JobSpec, objects: Callable[[], ObjectStore] = ObjectStore.from_env):
        self.cache_dir = Path(spec.cache_dir)
        self._objects_factory = objects
        self._objects: ObjectStore | None = None
        self.output_dirs: list[tuple[Path, str]] = []
        self.output_files: list[tuple[Path, str]] = []
        self.spec = spec.model_copy(deep=True)
        self._stage(self.spec)
        for entry in self.spec.generate:
            self._stage(entry)

    @property
    def objects(self) -> ObjectStore:
        if self._objects is None:  # only a spec with s3:// URIs needs a client (and credentials)
            self._objects = self._objects_factory()
        return self._objects

    @property
    def has_outputs(self) -> bool:
        return bool(self.output_dirs or self.output_files)

    def _stage(self, entry: JobSpec | GenerateRequest) -> None:
        """Replace every staged `s3://` field of `entry` by a local path (see `job_spec.Staged`)."""
        for name, how in staged_fields(type(entry)).items():
            value = getattr(entry, name)
            if not value or not is_s3_uri(value):
                continue
            if how.direction == "input":
                fetch = self.objects.fetch_file if how.kind == "file" else self.objects.fetch_dir
                setattr(entry, name, str(fetch(value, s3_cache(self.cache_dir))))
                continue
            local = self._fresh_output(value)
            if how.kind == "dir":
                local.mkdir(parents=True, exist_ok=True)  # ranks sharing a node stage the same folder
                self.output_dirs.append((local, value))
            else:
                self.output_files.append((local, value))
            setattr(entry, name, str(local))

    def _fresh_output(self, uri: str) -> Path:
        local = cache_path(self.cache_dir / "outputs", uri)
        if local.is_dir():
            shutil.rmtree(local)
        local.unlink(missing_ok=True)
        local.parent.mkdir(parents=True, exist_ok=True)
        return local

    def publish(self) -> list[str]:
        """Upload what the task wrote: each folder under output_dir as an atomic directory, each file
        there and each generate output file as one object. Returns the URIs written."""
        written: list[str] = []
        for local, uri in self.output_dirs:
            for child in sorted(local.iterdir()):
                if child.name in LOCAL_ONLY_OUTPUTS:
                    continue
                target = join_uri(uri, child.name)
                if child.is_dir():
                    self.objects.put_dir(child, target)
                else:
                    self.objects.upload_file(child, target)
                written.append(target)
        for local, uri in self.output_files:
            if not local.is_file():
                raise FileNotFoundError(f"{uri}: the task did not write its output file ({local})")
            written.append(self.objects.upload_file(local, uri))
        return written


def run_by_uri(
    spec: JobSpec,
    task: Callable[[JobSpec], dict],
    is_main_process: bool,
    objects: Callable[[], ObjectStore] = ObjectStore.from_env,
) -> tuple[dict, list[str]]:
    """Stage (every rank: each needs its inputs locally), run `task(local_spec)`, and publish the
    outputs if it returned, on rank 0 only. Returns the task's metadata and the URIs published."""
    staged = StagedSpec(spec, objects)
    metadata = task(staged.spec)
    published = staged.publish() if is_main_process and staged.has_outputs else []
    return metadata, published
