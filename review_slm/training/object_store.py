"""Objects and atomic directories on S3 / MinIO, with boto3 and nothing from Dagster.

Why this module lives in `training/`: the trainer pod must read its inputs and write its outputs
by `s3://` URI on its own (it cannot see the Dagster pod's filesystem), and `training/` is the
bottom layer both sides import: the trainer image ships it, and `resources/` already builds on it
(the S3 artifact store here, as the student tokenizer on the model loader). It imports boto3 (the
client dagster-aws wraps too) and never Dagster, so the trainer image stays torch/HF + dagster-pipes
+ boto3; boto3 is imported only when an `s3://` URI is met, so a local run never touches it.

A *directory* is a prefix plus a manifest object written last (`<prefix>/_MANIFEST.json`: every
file with its size and sha256). S3 has no rename, so the manifest is the commit point: a prefix
without one does not exist for readers, whatever objects a killed upload left under it.
Overwriting removes the manifest first, uploads, writes the new manifest, then deletes the objects
the new manifest does not name. Single objects need no such care: a PUT is atomic in S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MANIFEST = "_MANIFEST.json"
# What `download_dir` keeps next to a downloaded directory: the manifest it reflects, so the next
# download skips unchanged files without hashing them. Never uploaded back.
LOCAL_MANIFEST = ".s3_manifest.json"
# A download in flight (possibly another rank's on the same node): never cleaned up as stale.
PARTIAL_SUFFIX = ".partial"
MiB = 1 << 20


def is_s3_uri(uri: str) -> bool:
    return str(uri).startswith("s3://")


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key); anything else is refused naming the URI."""
    if not is_s3_uri(uri):
        raise ValueError(f"{uri}: not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{uri}: no bucket in the URI (expected s3://bucket/key)")
    return bucket, key


def join_uri(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts if p)])


def dir_prefix(dir_uri: str) -> str:
    """The listing prefix of a directory: with its slash, so `model` does not match `model-2/`."""
    return dir_uri.rstrip("/") + "/"


def cache_path(root: Path, uri: str) -> Path:
    """Where an object or directory of `uri` is mirrored under a local cache: `<root>/<bucket>/<key>`."""
    bucket, key = split_uri(uri)
    key = key.strip("/")
    if not key or any(part in ("..", ".") for part in key.split("/")):
        raise ValueError(f"{uri}: cannot be mirrored locally (empty key or relative parts)")
    return Path(root, bucket, *key.split("/"))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class TransferSettings:
    """Multipart upload/copy above `multipart_threshold` bytes, in parts of `multipart_chunksize`."""

    multipart_threshold: int = 64 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 4

    def config(self):
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
        )


def s3_client(endpoint_url: str | None = None, region_name: str | None = None, max_attempts: int = 5):
    """A boto3 S3 client. With no `endpoint_url`, boto3 reads `AWS_ENDPOINT_URL` (MinIO) itself.

    Path-style addressing (`http://minio:9000/bucket/key`): MinIO serves virtual-host names only when
    configured for them, and in-cluster DNS would not resolve `bucket.minio`.
    """
    from boto3.session import Session
    from botocore.config import Config

    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": max_attempts, "mode": "standard"})
    return Session().client("s3", endpoint_url=endpoint_url, region_name=region_name, config=config)


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int
    etag: str


class ObjectStore:
    """Objects and manifest directories through one boto3 client (dagster-aws's, or `s3_client()`)."""

    def __init__(self, client, transfer: TransferSettings | None = None):
        self.client = client
        self.transfer = transfer or TransferSettings()

    @classmethod
    def from_env(cls) -> ObjectStore:
        """What the trainer pod uses: credentials and `AWS_ENDPOINT_URL` from its environment."""
        return cls(s3_client(region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")))

    # -- single objects -------------------------------------------------------------------------

    def head(self, uri: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        bucket, key = split_uri(uri)
        try:
            meta = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(uri, meta["ContentLength"], meta["ETag"].strip('"'))

    def exists(self, uri: str) -> bool:
        return self.head(uri) is not None

    def get_bytes(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"{uri}: no such object") from None

    def put_bytes(self, uri: str, data: bytes) -> str:
        bucket, key = split_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return uri

    def upload_file(self, path: Path, uri: str) -> str:
        """Multipart above the transfer threshold; the object appears only when the upload completes."""
        bucket, key = split_uri(uri)
        self.client.upload_file(str(path), bucket, key, Config=self.transfer.config())
        return uri

    def download_file(self, uri: str, dest: Path) -> Path:
        """Into a sibling temp file, then renamed: a reader of `dest` never sees half a file."""
        bucket, key = split_uri(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=PARTIAL_SUFFIX, dir=dest.parent)
        os.close(fd)
        try:
            self.client.download_file(bucket, key, tmp, Config=self.transfer.config())
            os.replace(tmp, dest)
        except Exception as err:
            if getattr(err, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(f"{uri}: no such object") from None
            raise
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dest

    def list(self, uri: str, page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object whose key starts with the URI's key, page after page (S3 returns at most 1,000)."""
        bucket, prefix = split_uri(uri)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield ObjectInfo(f"s3://{bucket}/{obj['Key']}", obj["Size"], obj["ETag"].strip('"'))

    def list_children(self, uri: str) -> list[str]:
        """The "sub-directories" one level below `uri` (common prefixes), as URIs without a trailing slash."""
        bucket, prefix = split_uri(uri)
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix.rstrip('/')}/", Delimiter="/"
        ):
            found += [f"s3://{bucket}/{p['Prefix'].rstrip('/')}" for p in page.get("CommonPrefixes", [])]
        return sorted(found)

    def delete(self, uris: list[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for uri in uris:
            bucket, key = split_uri(uri)
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    def delete_prefix(self, uri: str) -> None:
        self.delete([o.uri for o in self.list(uri)])

    # -- manifest directories ---------------------------------------------------------------------

    def read_manifest(self, dir_uri: str) -> dict | None:
        """The directory's manifest, or None when the directory does not exist (yet)."""
        try:
            return json.loads(self.get_bytes(join_uri(dir_uri, MANIFEST)))
        except FileNotFoundError:
            return None

    def is_dir(self, dir_uri: str) -> bool:
        return self.exists(join_uri(dir_uri, MANIFEST))

    def put_dir(self, local: Path, dir_uri: str, extra: dict[str, bytes] | None = None) -> dict:
        """Upload a local folder (plus `extra` small files) as one directory; returns its manifest."""
        local = Path(local)
        if not local.is_dir():
            raise FileNotFoundError(f"{local}: not a directory (uploading to {dir_uri})")
        files = {
            p.relative_to(local).as_posix(): p
            for p in sorted(local.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST, LOCAL_MANIFEST)
        }
        entries = {rel: {"size": p.stat().st_size, "sha256": file_sha256(p)} for rel, p in files.items()}
        for name, data in (extra or {}).items():
            entries[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        def write_all() -> None:
            for rel, path in files.items():
                self.upload_file(path, join_uri(dir_uri, rel))
            for name, data in (extra or {}).items():
                self.put_bytes(join_uri(dir_uri, name), data)

        return self._publish(dir_uri, entries, write_all)

    def copy_dir(self, src_uri: str, dest_uri: str) -> dict:
        """Server-side copy of a directory (multipart copy for large objects), manifest last."""
        manifest = self.read_manifest(src_uri)
        if manifest is None:
            raise FileNotFoundError(f"{src_uri}: no such directory (no {MANIFEST}: missing or still being written)")
        src_bucket, _ = split_uri(src_uri)

        def copy_all() -> None:
            for rel in manifest["files"]:
                _, src_key = split_uri(join_uri(src_uri, rel))
                dest_bucket, dest_key = split_uri(join_uri(dest_uri, rel))
                self.client.copy(
                    {"Bucket": src_bucket, "Key": src_key}, dest_bucket, dest_key, Config=self.transfer.config()
                )

        return self._publish(dest_uri, manifest["files"], copy_all)

    def _publish(self, dir_uri: str, entries: dict[str, dict], write_files: Callable[[], None]) -> dict:
        """The overwrite protocol: hide the old directory, write, commit with the manifest, drop stale objects."""
        bad = [rel for rel in entries if rel.startswith("/") or ".." in PurePosixPath(rel).parts]
        if bad:
            raise ValueError(f"{dir_uri}: file names must be relative without '..': {bad}")
        manifest_uri = join_uri(dir_uri, MANIFEST)
        self.delete([manifest_uri])  # readers see no directory from here until the new manifest lands
        write_files()
        manifest = {"version": 1, "files": dict(sorted(entries.items()))}
        self.put_bytes(manifest_uri, json.dumps(manifest, indent=1).encode())
        keep = {join_uri(dir_uri, rel) for rel in entries} | {manifest_uri}
        self.delete([o.uri for o in self.list(dir_prefix(dir_uri)) if o.uri not in keep])
        return manifest

    def delete_dir(self, dir_uri: str) -> None:
        """Manifest first, so a reader never sees a directory with files missing."""
        self.delete([join_uri(dir_uri, MANIFEST)])
        self.delete_prefix(dir_prefix(dir_uri))

    def download_dir(self, dir_uri: str, dest: Path) -> Path:
        """Make `dest` hold exactly the directory's files, fetching only what differs from the manifest."""
        manifest = self.read_manifest(dir_uri)
        if manifest is None:
            raise FileNotFoundError(f"{dir_uri}: no such directory (no {MANIFEST}: missing or still being written)")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        marker = dest / LOCAL_MANIFEST
        known = json.loads(marker.read_text())["files"] if marker.is_file() else {}
        marker.unlink(missing_ok=True)  # until this download completes, nothing about `dest` is vouched for
        for rel, entry in manifest["files"].items():
            target = dest / rel
            if not _same_file(target, entry, known.get(rel)):
                self.download_file(join_uri(dir_uri, rel), target)
        wanted = {dest / rel for rel in manifest["files"]}
        wanted_dirs = {parent for path in wanted for parent in path.parents}
        for path in sorted(dest.rglob("*"), reverse=True):  # what the directory no longer has
            if path.is_file() and path not in wanted and path != marker and not path.name.endswith(PARTIAL_SUFFIX):
                path.unlink(missing_ok=True)
            elif path.is_dir() and path not in wanted_dirs and not any(path.iterdir()):
                path.rmdir()
        marker.write_text(json.dumps(manifest))
        return dest

    def fetch_dir(self, dir_uri: str, cache_root: Path) -> Path:
        return self.download_dir(dir_uri, cache_path(cache_root, dir_uri))

    def fetch_file(self, uri: str, cache_root: Path) -> Path:
        return self.download_file(uri, cache_path(cache_root, uri))


def _same_file(path: Path, entry: dict, known: dict | None) -> bool:
    """Already present: same size, and the same digest (from the last download's record, else hashed)."""
    if not path.is_file() or path.stat().st_size != entry["size"]:
        return False
    if known is not None and known.get("sha256") == entry["sha256"]:
        return True
    return file_sha256(path) == entry["sha256"]
