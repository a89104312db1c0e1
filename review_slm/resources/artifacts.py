"""Artifact storage by URI, every write atomic; where each artifact lives is `storage/layout.py`.

Two implementations behind one interface, chosen by the profile: `LocalArtifactStore` (a folder)
and `S3ArtifactStore` (S3 / MinIO, `s3_artifacts.py`). Assets speak URIs only: they hand the trainer
`uri()` / `scratch_uri()` values and promote what it wrote with `promote_dir`, so the same asset
code runs whichever store the profile picked.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import dagster as dg
import pyarrow as pa

from review_slm.core import tables


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
    def put_dir(self, src: Path, uri: str) -> str:
        """Upload a local folder as the directory `uri`, replacing any previous one atomically."""

    @abstractmethod
    def scratch_uri(self, *parts: str) -> str:
        """A fresh, empty place for a trainer to write into (a local path, or an s3:// prefix)."""

    @abstractmethod
    def promote_dir(self, src_uri: str, dest_uri: str) -> str:
        """Make the directory at `src_uri` (usually in scratch) the directory `dest_uri`, atomically.
        The source is consumed."""

    @abstractmethod
    def list_prefix(self, uri: str) -> list[str]:
        """The URIs of every file under `uri`, sorted."""

    @abstractmethod
    def staged_file(self, uri: str) -> AbstractContextManager[Path]:
        """A local file to write `uri` into; it becomes the artifact (atomically) only when the block
        exits cleanly, so a failed writer leaves no artifact at all."""

    @abstractmethod
    def delete(self, uri: str) -> None:
        """Remove one file (e.g. a teacher-cache shard nobody can hit any more); a missing file is no error."""

    def join(self, uri: str, *parts: str) -> str:
        """A URI below another one (both stores use `/` separators)."""
        return "/".join([uri.rstrip("/"), *parts])

    def read_text(self, uri: str) -> str:
        return self.local_path(uri).read_text(encoding="utf-8")

    def write_jsonl(self, uri: str, rows: list[dict]) -> str:
        return self.write_text(uri, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def read_jsonl(self, uri: str) -> list[dict]:
        return [json.loads(line) for line in self.read_text(uri).splitlines() if line.strip()]

    @contextmanager
    def jsonl_writer(self, uri: str) -> Iterator[Callable[[dict], None]]:
        """Write rows one at a time (constant memory); the artifact appears only when the block exits cleanly."""
        with self.staged_file(uri) as path, path.open("w", encoding="utf-8") as fh:

            def write(row: dict) -> None:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

            yield write

    def write_table(self, uri: str, rows: Iterable[dict], schema: pa.Schema) -> str:
        """Rows as a Parquet file of the declared `schema` (core/tables.py)."""
        with self.staged_file(uri) as path:
            tables.write_parquet(path, rows, schema)
        return uri

    def read_table(self, uri: str) -> list[dict]:
        return tables.read_parquet(self.local_path(uri))

    @contextmanager
    def table_writer(self, uri: str, schema: pa.Schema) -> Iterator[Callable[[dict], None]]:
        """Stream rows into a Parquet file of `schema` in constant memory; atomic like `jsonl_writer`."""
        with self.staged_file(uri) as path, tables.parquet_writer(path, schema) as write:
            yield write

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
    def staged_file(self, uri: str) -> Iterator[Path]:
        """A hidden sibling of the target, renamed onto it on success (same filesystem: atomic)."""
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_dir(self, src: Path, uri: str) -> str:
        """Copy a folder in, replacing any previous content atomically (rename of a sibling temp dir)."""
        dest = Path(uri)
        if Path(src).resolve() == dest.resolve():
            return uri
        self._swap_in(dest, lambda tmp: shutil.copytree(src, tmp, dirs_exist_ok=True))
        return uri

    def promote_dir(self, src_uri: str, dest_uri: str) -> str:
        """A rename when scratch and destination share a filesystem (they do under one root)."""
        src = Path(src_uri)
        if not src.is_dir():
            raise FileNotFoundError(f"{src_uri}: no such directory to promote to {dest_uri}")

        def move_into(tmp: Path) -> None:
            tmp.rmdir()  # shutil.move renames onto a path that does not exist yet
            shutil.move(src, tmp)

        self._swap_in(Path(dest_uri), move_into)
        return dest_uri

    def _swap_in(self, dest: Path, fill: Callable[[Path], object]) -> None:
        """Fill a hidden sibling of `dest`, then rename it into place (the old one aside first)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            fill(tmp)
            old = dest.with_name(f".{dest.name}.old")
            if dest.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.rename(dest, old)
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def scratch_uri(self, *parts: str) -> str:
        """A fresh folder under `<root>/.scratch/`, next to where artifacts land (same filesystem)."""
        path = Path(self.root, ".scratch", *parts)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return str(path)

    def delete(self, uri: str) -> None:
        Path(uri).unlink(missing_ok=True)

    def list_prefix(self, uri: str) -> list[str]:
        """Files under the folder, without the hidden temp files of writes in flight."""
        root = Path(uri)
        if not root.is_dir():
            return []
        hidden = lambda p: any(part.startswith(".") for part in p.relative_to(root).parts)  # noqa: E731
        return sorted(str(p) for p in root.rglob("*") if p.is_file() and not hidden(p))
