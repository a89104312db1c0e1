"""Artifact storage by URI: `<root>/iterations/<key>/<asset>/...`, every write atomic."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dagster as dg


class ArtifactStore(dg.ConfigurableResource, ABC):
    """Interface: local folder here; S3/MinIO in the k8s profile."""

    @abstractmethod
    def uri(self, *parts: str) -> str: ...

    @abstractmethod
    def local_path(self, uri: str) -> Path:
        """A local path with the artifact's content (the file itself for a local store)."""

    @abstractmethod
    def write_text(self, uri: str, text: str) -> str: ...

    @abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abstractmethod
    def put_dir(self, src: Path, uri: str) -> str: ...

    @abstractmethod
    def jsonl_writer(self, uri: str) -> AbstractContextManager[Callable[[dict], None]]:
        """Write rows one at a time; the artifact appears (atomically) only when the block exits cleanly."""

    def iteration_uri(self, key: str, asset: str, *parts: str) -> str:
        return self.uri("iterations", key, asset, *parts)

    def read_text(self, uri: str) -> str:
        return self.local_path(uri).read_text(encoding="utf-8")

    def write_jsonl(self, uri: str, rows: list[dict]) -> str:
        return self.write_text(uri, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def read_jsonl(self, uri: str) -> list[dict]:
        return [json.loads(line) for line in self.read_text(uri).splitlines() if line.strip()]

    def write_json(self, uri: str, data: dict) -> str:
        return self.write_text(uri, json.dumps(data, indent=2, ensure_ascii=False))

    def read_json(self, uri: str) -> dict:
        return json.loads(self.read_text(uri))


class LocalArtifactStore(ArtifactStore):
    root: str

    def uri(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    def local_path(self, uri: str) -> Path:
        return Path(uri)

    def exists(self, uri: str) -> bool:
        return Path(uri).exists()

    def write_text(self, uri: str, text: str) -> str:
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
        return uri

    @contextmanager
    def jsonl_writer(self, uri: str) -> Iterator[Callable[[dict], None]]:
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yield lambda row: fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_dir(self, src: Path, uri: str) -> str:
        """Copy a folder in, replacing any previous content atomically (rename of a sibling temp dir)."""
        dest = Path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() == dest.resolve():
            return uri
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        old = dest.with_name(f".{dest.name}.old")
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
        return uri

    def scratch_dir(self, *parts: str) -> Path:
        """A fresh folder next to where an artifact will land, for a trainer to write into."""
        path = Path(self.root, ".scratch", *parts)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path
