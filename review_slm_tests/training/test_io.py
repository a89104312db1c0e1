"""The trainer's side of URIs: s3:// inputs staged before the task, outputs published after it succeeds."""

from pathlib import Path

import pytest

from review_slm.core.recipe import load_recipe
from review_slm.training.io import run_by_uri
from review_slm.training.job_spec import GenerateRequest, JobSpec
from review_slm.training.models import resolve_model_ref
from review_slm.training.object_store import MANIFEST, ObjectStore, s3_client
from review_slm.training.tiny_model import ensure_tiny_model


def _spec(bucket: str, cache_dir: Path) -> JobSpec:
    root = f"s3://{bucket}/review-slm/iterations/iter-0001"
    return JobSpec(
        task="dpo",
        recipe=load_recipe("tiny"),
        cache_dir=str(cache_dir),
        parent_model="builtin:tiny-qwen2",
        checkpoint_uri=f"{root}/dpo_model/checkpoints",
        pairs_file=f"{root}/preference_pairs/pairs.jsonl",
        adapter_dir=f"{root}/sft_adapter/adapter",
        output_dir=f"s3://{bucket}/review-slm/.scratch/iter-0001/dpo_model",
        generate=[
            GenerateRequest(
                name="sft",
                model="builtin:tiny-qwen2",
                adapter=f"{root}/sft_adapter/adapter",
                prompts_file=f"{root}/prompts.jsonl",
                output_file=f"{root}/answers.jsonl",
            )
        ],
    )


@pytest.fixture
def uploaded_inputs(s3_bucket, tmp_path) -> ObjectStore:
    objects = ObjectStore(s3_client())
    root = f"s3://{s3_bucket}/review-slm/iterations/iter-0001"
    objects.put_bytes(f"{root}/preference_pairs/pairs.jsonl", b'{"prompt": []}\n')
    objects.put_bytes(f"{root}/prompts.jsonl", b'{"id": "p1"}\n')
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    objects.put_dir(adapter, f"{root}/sft_adapter/adapter")
    return objects


def _writes_outputs(local: JobSpec) -> dict:
    assert Path(local.pairs_file).read_text() == '{"prompt": []}\n'
    assert (Path(local.adapter_dir) / "adapter_config.json").is_file()
    assert Path(local.generate[0].prompts_file).read_text() == '{"id": "p1"}\n'
    assert local.checkpoint_uri.startswith("s3://")  # the checkpoint store speaks S3 itself
    out = Path(local.output_dir)
    (out / "merged").mkdir()
    (out / "merged" / "config.json").write_text('{"merged": true}')
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)  # the Trainer's local staging
    Path(local.generate[0].output_file).write_text('{"id": "p1", "answer": "{}"}\n')
    return {"pairs": 1}


def test_s3_inputs_are_staged_and_outputs_published_only_by_rank_0_after_success(uploaded_inputs, s3_bucket, tmp_path):
    objects = uploaded_inputs
    spec = _spec(s3_bucket, tmp_path / "cache")
    metadata, published = run_by_uri(spec, _writes_outputs, is_main_process=True, objects=lambda: objects)
    scratch = spec.output_dir
    assert metadata == {"pairs": 1} and published == [f"{scratch}/merged", spec.generate[0].output_file]
    assert objects.read_manifest(f"{scratch}/merged")["files"].keys() == {"config.json"}
    assert objects.get_bytes(spec.generate[0].output_file) == b'{"id": "p1", "answer": "{}"}\n'
    assert not any("/checkpoints/" in o.uri for o in objects.list(f"{scratch}/"))

    def fails(local: JobSpec) -> dict:
        _writes_outputs(local)
        raise RuntimeError("diverged")

    spec2 = spec.model_copy(
        update={
            "output_dir": f"{scratch}-2",
            "generate": [spec.generate[0].model_copy(update={"output_file": f"{scratch}-2.jsonl"})],
        }
    )
    with pytest.raises(RuntimeError, match="diverged"):
        run_by_uri(spec2, fails, is_main_process=True, objects=lambda: objects)
    assert run_by_uri(spec2, _writes_outputs, is_main_process=False, objects=lambda: objects) == ({"pairs": 1}, [])
    assert list(objects.list(f"{scratch}-2")) == []  # neither the failed run nor rank 1 published anything


def test_local_paths_pass_through_without_an_s3_client(tmp_path):
    spec = JobSpec(
        task="sft",
        recipe=load_recipe("tiny"),
        cache_dir=str(tmp_path),
        parent_model="builtin:tiny-qwen2",
        train_file=str(tmp_path / "train.parquet"),
        output_dir=str(tmp_path / "out"),
    )

    def no_client():
        raise AssertionError("a local spec must not need S3")

    metadata, published = run_by_uri(spec, lambda local: {"seen": local}, is_main_process=True, objects=no_client)
    assert metadata == {"seen": spec} and published == []


def test_an_s3_model_ref_resolves_to_a_cached_download(s3_bucket, model_cache, tmp_path):
    recipe = load_recipe("tiny")
    objects = ObjectStore(s3_client())
    uri = f"s3://{s3_bucket}/review-slm/iterations/iter-0001/dpo_model/model"
    objects.put_dir(ensure_tiny_model(recipe.tiny_model, model_cache), uri)
    path, revision = resolve_model_ref(uri, recipe, tmp_path / "cache")
    assert (
        revision is None
        and Path(path)
        == tmp_path / "cache" / "s3" / s3_bucket / "review-slm" / "iterations" / "iter-0001" / "dpo_model" / "model"
    )
    assert (Path(path) / "config.json").is_file() and not (Path(path) / MANIFEST).exists()
    with pytest.raises(FileNotFoundError, match=f"s3://{s3_bucket}/missing: no such directory"):
        resolve_model_ref(f"s3://{s3_bucket}/missing", recipe, tmp_path / "cache")
    with pytest.raises(ValueError, match="gs://b/m: no such local folder, or an unsupported scheme"):
        resolve_model_ref("gs://b/m", recipe, tmp_path / "cache")


def test_the_spec_names_the_fields_a_task_needs_and_refuses_unknown_ones():
    recipe = load_recipe("tiny")
    with pytest.raises(ValueError, match="a `dpo` job needs output_dir, adapter_dir, pairs_file"):
        JobSpec(task="dpo", recipe=recipe, cache_dir="/c", parent_model="builtin:tiny-qwen2")
    with pytest.raises(ValueError, match="train_fle"):
        JobSpec.model_validate(
            {
                "task": "sft",
                "recipe": recipe.model_dump(mode="json"),
                "cache_dir": "/c",
                "parent_model": "m",
                "output_dir": "/o",
                "train_fle": "/t",
            }
        )
    spec = JobSpec(task="sft", recipe=recipe, cache_dir="/c", parent_model="m", output_dir="/o", train_file="/t")
    assert JobSpec.model_validate(spec.extras()) == spec  # what travels as Pipes extras round-trips
