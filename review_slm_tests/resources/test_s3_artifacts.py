"""The S3 artifact store against moto's server, and the store API both implementations share."""

from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from review_slm.core.recipe import load_recipe
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import ArtifactStore, LocalArtifactStore
from review_slm.resources.s3_artifacts import S3ArtifactStore
from review_slm.resources.teacher_cache import TeacherCache
from review_slm.training.object_store import MANIFEST
from review_slm.training.tiny_model import ensure_tiny_model


def s3_store(bucket: str, cache: Path, endpoint_url: str | None = None, **kwargs) -> S3ArtifactStore:
    """With no endpoint_url, the S3Resource's client takes AWS_ENDPOINT_URL from the environment."""
    return S3ArtifactStore(
        s3=S3Resource(endpoint_url=endpoint_url, region_name="us-east-1"),
        bucket=bucket,
        prefix="review-slm",
        cache_dir=str(cache),
        **kwargs,
    )


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(root=str(tmp_path / "artifacts"))
    return s3_store(request.getfixturevalue("s3_bucket"), tmp_path / "cache")


def test_a_model_round_trips_through_s3_and_loads_with_the_same_weights(s3_bucket, s3_endpoint, model_cache, tmp_path):
    from review_slm.training.models import load_model, load_tokenizer

    model_dir = ensure_tiny_model(load_recipe("tiny").tiny_model, model_cache)
    writer = s3_store(s3_bucket, tmp_path / "writer-cache", endpoint_url=s3_endpoint)
    scratch = writer.scratch_uri("iter-0001", "dpo_model")
    writer.put_dir(model_dir, writer.join(scratch, "merged"))
    uri = writer.promote_dir(writer.join(scratch, "merged"), iteration(writer, "iter-0001").candidate_model)
    assert uri == f"s3://{s3_bucket}/review-slm/iterations/iter-0001/dpo_model/model"
    assert writer.exists(uri) and not writer.exists(writer.join(scratch, "merged"))  # promotion consumed the scratch

    reader = s3_store(s3_bucket, tmp_path / "fresh-cache")  # another pod: nothing cached, endpoint from the env
    local = reader.local_path(uri)
    assert (
        local
        == tmp_path / "fresh-cache" / s3_bucket / "review-slm" / "iterations" / "iter-0001" / "dpo_model" / "model"
    )
    original, copy = load_model(str(model_dir), for_training=False), load_model(str(local), for_training=False)
    theirs = copy.state_dict()
    assert all(value.equal(theirs[name]) for name, value in original.state_dict().items())
    assert load_tokenizer(str(local)).encode("func main() {}") == load_tokenizer(str(model_dir)).encode(
        "func main() {}"
    )
    assert not (local / MANIFEST).exists()


def test_a_failed_jsonl_block_leaves_no_object_and_large_files_go_multipart(s3_bucket, tmp_path):
    store = s3_store(s3_bucket, tmp_path / "cache", multipart_threshold_mb=1, multipart_chunk_mb=5)
    uri = store.uri("streamed", "rows.jsonl")
    with pytest.raises(RuntimeError, match="malformed dataset"):
        with store.jsonl_writer(uri) as write:
            write({"id": 1})
            raise RuntimeError("malformed dataset")
    assert not store.exists(uri) and list((tmp_path / "cache").iterdir()) == []  # temp file gone too
    row = {"id": 1, "body": "x" * 1000}
    with store.jsonl_writer(uri) as write:
        for _ in range(12 * 1024):  # ~12 MiB: above the 1 MiB threshold, three 5 MiB parts
            write(row)
    assert store.objects.head(uri).etag.endswith("-3")
    assert store.read_jsonl(uri)[0] == row and store.local_path(uri).stat().st_size == store.objects.head(uri).size
    with pytest.raises(
        FileNotFoundError, match=f"s3://{s3_bucket}/review-slm/nothing.json: no such object or directory"
    ):
        store.local_path(store.uri("nothing.json"))


def test_promote_dir_replaces_the_destination_and_lists_by_prefix_on_both_stores(any_store, tmp_path):
    store = any_store
    old = tmp_path / "old"
    (old / "sub").mkdir(parents=True)
    (old / "stale.bin").write_bytes(b"stale")
    (old / "sub" / "w.bin").write_bytes(b"old")
    dest = iteration(store, "iter-0002").sft_adapter
    store.put_dir(old, dest)
    new = tmp_path / "new"
    (new / "sub").mkdir(parents=True)
    (new / "sub" / "w.bin").write_bytes(b"new")
    scratch = store.scratch_uri("iter-0002", "sft_adapter")
    store.put_dir(new, store.join(scratch, "adapter"))
    assert store.promote_dir(store.join(scratch, "adapter"), dest) == dest
    files = [f for f in store.list_prefix(dest) if not f.endswith(MANIFEST)]
    assert files == [store.join(dest, "sub", "w.bin")]
    assert (store.local_path(dest) / "sub" / "w.bin").read_bytes() == b"new"
    assert not (store.local_path(dest) / "stale.bin").exists()
    assert store.list_prefix(store.join(scratch, "adapter")) == []
    assert store.scratch_uri("iter-0002", "sft_adapter") == scratch and store.list_prefix(scratch) == []


def test_teacher_cache_reads_its_shards_by_prefix(any_store):
    first = TeacherCache(any_store, "qwen2.5-coder:7b", "run-1", flush_every=2)
    for i in range(5):
        first.put(f"k{i}", {"review": {"findings": [], "summary": f"answer {i}"}})
    first.flush()  # shards of 2 + 2 + 1 answers
    TeacherCache(any_store, "other-model", "run-1").put("k0", {"review": "other"})
    other_model = TeacherCache(any_store, "other-model", "run-2", flush_every=1)
    other_model.put("x", {"review": "y"})
    again = TeacherCache(any_store, "qwen2.5-coder:7b", "run-2")
    assert len(again) == 5 and again.get("k4")["review"]["summary"] == "answer 4"
    assert len(any_store.list_prefix(again.layout.teacher_cache(again.model, again.digest_dir))) == 3


def test_teacher_cache_prunes_shards_of_other_digests(any_store):
    old = TeacherCache(any_store, "m", "run-1", flush_every=1, digest="sha256:old")
    old.put("k", {"review": {"findings": [], "summary": "old"}})
    fresh = TeacherCache(any_store, "m", "run-2", digest="sha256:new")
    assert fresh.pruned_shards == 1 and len(fresh) == 0 and any_store.list_prefix(any_store.uri("teacher_cache")) == []
