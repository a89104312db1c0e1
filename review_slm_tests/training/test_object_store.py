"""Objects and manifest directories on S3, against moto's server (see `s3_bucket` in conftest)."""

import json

import pytest

from review_slm.training.object_store import MANIFEST, MiB, ObjectStore, TransferSettings, s3_client, split_uri


def _tree(root, files: dict[str, bytes]):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_clients_address_a_minio_endpoint_path_style(monkeypatch):
    from dagster_aws.s3 import S3Resource

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ours = s3_client(endpoint_url="http://minio.storage:9000", region_name="us-east-1")
    theirs = S3Resource(endpoint_url="http://minio.storage:9000", region_name="us-east-1").get_client()
    for client in (ours, theirs):
        url = client.generate_presigned_url("get_object", Params={"Bucket": "models", "Key": "a/b.json"})
        assert url.startswith("http://minio.storage:9000/models/a/b.json?")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.env:9000")
    assert (
        s3_client(region_name="us-east-1")
        .generate_presigned_url("get_object", Params={"Bucket": "models", "Key": "k"})
        .startswith("http://minio.env:9000/models/k?")
    )
    with pytest.raises(ValueError, match="gs://models/x: not an s3:// URI"):
        split_uri("gs://models/x")


def test_a_file_above_the_threshold_is_uploaded_in_parts(s3_bucket, tmp_path):
    transfer = TransferSettings(multipart_threshold=1 * MiB, multipart_chunksize=5 * MiB)  # 5 MiB: S3's smallest part
    store = ObjectStore(s3_client(), transfer)
    big = tmp_path / "model.safetensors"
    big.write_bytes(bytes(range(256)) * (11 * MiB // 256))
    small = tmp_path / "config.json"
    small.write_text("{}")
    store.upload_file(big, f"s3://{s3_bucket}/m/model.safetensors")
    store.upload_file(small, f"s3://{s3_bucket}/m/config.json")
    assert store.head(f"s3://{s3_bucket}/m/model.safetensors").etag.endswith("-3")  # 5 + 5 + 1 MiB
    assert "-" not in store.head(f"s3://{s3_bucket}/m/config.json").etag
    out = store.download_file(f"s3://{s3_bucket}/m/model.safetensors", tmp_path / "back" / "model.safetensors")
    assert out.read_bytes() == big.read_bytes()


def test_a_directory_exists_only_once_its_manifest_is_written(s3_bucket, tmp_path, monkeypatch):
    store = ObjectStore(s3_client())
    uri = f"s3://{s3_bucket}/iterations/iter-0001/dpo_model/model"
    v1 = _tree(tmp_path / "v1", {"config.json": b"{}", "weights.bin": b"1" * 100})
    store.put_dir(v1, uri)
    assert store.is_dir(uri)

    real_upload = store.upload_file
    calls = []

    def dies_after_one(path, target):
        if calls:
            raise ConnectionError("pod killed mid-upload")
        calls.append(target)
        return real_upload(path, target)

    monkeypatch.setattr(store, "upload_file", dies_after_one)
    v2 = _tree(tmp_path / "v2", {"config.json": b'{"v": 2}', "weights.bin": b"2" * 100})
    with pytest.raises(ConnectionError):
        store.put_dir(v2, uri)
    # The old version was hidden before the first byte of the new one; the new one never committed.
    assert not store.is_dir(uri)
    with pytest.raises(FileNotFoundError, match=f"{uri}: no such directory"):
        store.download_dir(uri, tmp_path / "reader")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        store.copy_dir(uri, f"s3://{s3_bucket}/elsewhere")


def test_overwrite_drops_stale_files_and_a_download_fetches_only_what_changed(s3_bucket, tmp_path, monkeypatch):
    store = ObjectStore(s3_client())
    uri = f"s3://{s3_bucket}/adapter"
    store.put_dir(_tree(tmp_path / "v1", {"a.bin": b"a1", "sub/old.bin": b"old", "same.bin": b"s" * 10}), uri)
    store.put_bytes(f"s3://{s3_bucket}/adapter-2/x.bin", b"a sibling prefix that must survive")
    local = store.download_dir(uri, tmp_path / "cache")
    assert (local / "sub" / "old.bin").read_bytes() == b"old"

    store.put_dir(_tree(tmp_path / "v2", {"a.bin": b"a2", "new.bin": b"new", "same.bin": b"s" * 10}), uri)
    keys = sorted(o.uri.rsplit(f"{s3_bucket}/", 1)[1] for o in store.list(f"s3://{s3_bucket}/"))
    assert keys == ["adapter-2/x.bin", f"adapter/{MANIFEST}", "adapter/a.bin", "adapter/new.bin", "adapter/same.bin"]
    manifest = store.read_manifest(uri)
    assert manifest["files"]["a.bin"]["size"] == 2 and len(manifest["files"]["a.bin"]["sha256"]) == 64

    fetched = []
    real_download = store.download_file

    def counted(file_uri, dest):
        fetched.append(file_uri.rsplit("/", 1)[1])
        return real_download(file_uri, dest)

    monkeypatch.setattr(store, "download_file", counted)
    store.download_dir(uri, local)
    assert sorted(fetched) == ["a.bin", "new.bin"]  # same.bin unchanged: not downloaded again
    assert sorted(
        p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")
    ) == ["a.bin", "new.bin", "same.bin"]  # sub/old.bin is gone locally too
    fetched.clear()
    store.download_dir(uri, local)
    assert fetched == []


def test_listing_pages_through_a_prefix_and_copy_is_server_side(s3_bucket, tmp_path):
    store = ObjectStore(s3_client())
    for i in range(5):
        store.put_bytes(f"s3://{s3_bucket}/shards/{i}.jsonl", json.dumps({"i": i}).encode())
    store.put_bytes(f"s3://{s3_bucket}/shards-other/x.jsonl", b"{}")
    listed = [o.uri for o in store.list(f"s3://{s3_bucket}/shards/", page_size=2)]
    assert listed == [f"s3://{s3_bucket}/shards/{i}.jsonl" for i in range(5)]
    store.put_dir(_tree(tmp_path / "d", {"w.bin": b"w" * 64}), f"s3://{s3_bucket}/scratch/out")
    store.copy_dir(f"s3://{s3_bucket}/scratch/out", f"s3://{s3_bucket}/final/out")
    assert store.read_manifest(f"s3://{s3_bucket}/final/out") == store.read_manifest(f"s3://{s3_bucket}/scratch/out")
    assert store.get_bytes(f"s3://{s3_bucket}/final/out/w.bin") == b"w" * 64
