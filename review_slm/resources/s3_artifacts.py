"""The artifact store on S3 / MinIO (k8s profile), through dagster-aws's `S3Resource`.

Layout as in the local store: `s3://<bucket>/<prefix>/iterations/<key>/<asset>/...`. Files are
single objects (a PUT is atomic); folders (models, adapters) are manifest directories, uploaded
file by file with the manifest last (see `training/object_store.py`, which the trainer pod uses on
the same objects). Readers that need a local path (`local_path`) get a mirror under `cache_dir`,
refreshed from the manifest, so a second read of an unchanged model downloads nothing.

The endpoint is the S3Resource's `endpoint_url`, or `AWS_ENDPOINT_URL` when that is unset (boto3
reads it). With a custom endpoint boto3 addresses buckets path-style, which is what MinIO serves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from dagster_aws.s3 import S3Resource

from review_slm.resources.artifacts import ArtifactStore
from review_slm.training.object_store import MiB, ObjectStore, TransferSettings, dir_prefix, join_uri, split_uri


class S3ArtifactStore(ArtifactStore):
    """`s3` is the dagster-aws resource (endpoint, region, credentials); the rest says where and how."""

    s3: S3Resource
    bucket: str
    prefix: str = ""
    cache_dir: str
    multipart_threshold_mb: int = 64
    multipart_chunk_mb: int = 16

    @cached_property
    def objects(self) -> ObjectStore:
        transfer = TransferSettings(
            multipart_threshold=self.multipart_threshold_mb * MiB, multipart_chunksize=self.multipart_chunk_mb * MiB
        )
        return ObjectStore(self.s3.get_client(), transfer)

    def uri(self, *parts: str) -> str:
        return join_uri(f"s3://{self.bucket}", self.prefix, *parts)

    def local_path(self, uri: str) -> Path:
        """A directory (by its manifest) or a single object, mirrored under `cache_dir`."""
        if self.objects.is_dir(uri):
            return self.objects.fetch_dir(uri, Path(self.cache_dir))
        if self.objects.exists(uri):
            return self.objects.fetch_file(uri, Path(self.cache_dir))
        raise FileNotFoundError(f"{uri}: no such object or directory in the artifact store")

    def read_text(self, uri: str) -> str:
        return self.objects.get_bytes(uri).decode("utf-8")

    def exists(self, uri: str) -> bool:
        return self.objects.exists(uri) or self.objects.is_dir(uri)

    def write_text(self, uri: str, text: str) -> str:
        return self.objects.put_bytes(uri, text.encode("utf-8"))

    @contextmanager
    def staged_file(self, uri: str) -> Iterator[Path]:
        """A local temp file (any size); the object is uploaded only when the block exits cleanly,
        so a failed block leaves no object at all."""
        split_uri(uri)  # a bad URI fails before any row is produced
        Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".staged-", suffix=Path(uri).suffix, dir=self.cache_dir)
        os.close(fd)
        try:
            yield Path(tmp)
            self.objects.upload_file(Path(tmp), uri)
        finally:
            os.unlink(tmp)

    def put_dir(self, src: Path, uri: str) -> str:
        self.objects.put_dir(Path(src), uri)
        return uri

    def scratch_uri(self, *parts: str) -> str:
        uri = self.uri(".scratch", *parts)
        self.objects.delete_prefix(dir_prefix(uri))
        return uri

    def promote_dir(self, src_uri: str, dest_uri: str) -> str:
        """Server-side copy (no bytes through this pod), the manifest last; then the source is dropped."""
        self.objects.copy_dir(src_uri, dest_uri)
        self.objects.delete_dir(src_uri)
        return dest_uri

    def list_prefix(self, uri: str) -> list[str]:
        return sorted(o.uri for o in self.objects.list(dir_prefix(uri)))

    def delete(self, uri: str) -> None:
        self.objects.delete([uri])
