"""The pieces behind resume and failure handling, without a trainer process."""

import math

import pytest

from review_slm.core.recipe import ResilienceSpec, StageSpec
from review_slm.training.checkpoints import FINGERPRINT_FILE, S3CheckpointStore, open_checkpoint_store, run_fingerprint
from review_slm.training.faults import Fault, parse_faults
from review_slm.training.guards import DivergenceGuard, TrainingFailure


def test_divergence_guard_flags_nan_and_spikes_with_step_and_values():
    guard = DivergenceGuard(ResilienceSpec(spike_factor=3.0, spike_window=4, spike_min_history=3), "sft")
    for step, loss in enumerate([4.0, 3.5, 3.0, 9.0], start=1):  # 9.0 < 3 x mean(4.0, 3.5, 3.0)
        guard.check(step, loss, 1.0)
    with pytest.raises(TrainingFailure) as spike:
        guard.check(5, 30.0, 1.0)
    assert (
        spike.value.kind == "divergence"
        and spike.value.details["reason"] == "spike"
        and spike.value.details["step"] == 5
    )
    with pytest.raises(TrainingFailure, match="diverged at step 6"):
        guard.check(6, 2.0, math.inf)  # an infinite gradient norm is divergence even with a sane loss
    early = DivergenceGuard(ResilienceSpec(spike_factor=2.0, spike_min_history=3), "dpo")
    early.check(1, 0.1)
    early.check(2, 5.0)  # too little history to judge a spike
    with pytest.raises(TrainingFailure, match="not finite"):
        early.check(3, float("nan"))


def test_checkpoint_store_promotes_atomically_prunes_and_resumes_only_the_same_run(tmp_path):
    store = open_checkpoint_store(str(tmp_path / "ckpt"))
    for step in (2, 4, 6):
        local = tmp_path / f"checkpoint-{step}"
        local.mkdir()
        (local / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
        store.promote(local, step, "run-a")
    assert store.latest("run-a").step == 6 and store.latest("run-b") is None
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["step-00000004", "step-00000006"]  # keep_last=2
    (tmp_path / "ckpt" / ".step-00000008.half-copied").mkdir()  # what a kill mid-promotion leaves behind
    assert store.latest("run-a").step == 6
    store.clear()
    assert store.latest("run-a") is None
    with pytest.raises(ValueError, match="gs://bucket/ckpt: unsupported scheme"):
        open_checkpoint_store("gs://bucket/ckpt")


def test_s3_checkpoint_store_commits_by_manifest_prunes_and_resumes_only_the_same_run(s3_bucket, tmp_path):
    uri = f"s3://{s3_bucket}/iterations/iter-0001/sft_adapter/checkpoints"
    store = open_checkpoint_store(uri)
    assert isinstance(store, S3CheckpointStore)
    for step in (2, 4, 6):
        local = tmp_path / f"checkpoint-{step}"
        (local / "nested").mkdir(parents=True)
        (local / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
        (local / "nested" / "rng_state.pth").write_bytes(b"rng")
        store.promote(local, step, "run-a")
    assert store.objects.list_children(uri) == [f"{uri}/step-00000004", f"{uri}/step-00000006"]  # keep_last=2
    # What a kill mid-promotion leaves: objects of a later step, no manifest. Not a checkpoint.
    store.objects.put_bytes(f"{uri}/step-00000008/trainer_state.json", b'{"global_step": 8}')
    latest = store.latest("run-a")
    assert (latest.step, latest.uri) == (6, f"{uri}/step-00000006") and store.latest("run-b") is None
    fetched = store.fetch(latest, tmp_path / "out" / "resume")
    assert (fetched / "trainer_state.json").read_text() == '{"global_step": 6}'
    assert (fetched / "nested" / "rng_state.pth").read_bytes() == b"rng" and (
        fetched / FINGERPRINT_FILE
    ).read_text() == "run-a"
    store.clear()
    assert store.latest("run-a") is None and list(store.objects.list(f"{uri}/")) == []


def test_fingerprint_ignores_the_micro_batch_split_but_not_the_data(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"id": 1}\n')
    stage = StageSpec(per_device_batch_size=8, gradient_accumulation_steps=2)
    halved = stage.halved_micro_batch()
    assert (halved.per_device_batch_size, halved.gradient_accumulation_steps) == (4, 4)
    assert run_fingerprint("sft", stage, [str(data)], "m") == run_fingerprint("sft", halved, [str(data)], "m")
    assert run_fingerprint("sft", stage, [str(data)], "m") != run_fingerprint(
        "sft", StageSpec(per_device_batch_size=8), [str(data)], "m"
    )
    # Two ranks at micro-batch 4 step through the sequences one rank at 8 does: a checkpoint moves between them.
    two_ranks = StageSpec(per_device_batch_size=4, gradient_accumulation_steps=2)
    assert run_fingerprint("sft", two_ranks, [str(data)], "m", world_size=2) == run_fingerprint(
        "sft", stage, [str(data)], "m"
    )
    assert run_fingerprint("sft", stage, [str(data)], "m", world_size=2) != run_fingerprint(
        "sft", stage, [str(data)], "m"
    )
    before = run_fingerprint("sft", stage, [str(data)], "m")
    data.write_text('{"id": 2}\n')
    assert run_fingerprint("sft", stage, [str(data)], "m") != before
    assert StageSpec(per_device_batch_size=5).halved_micro_batch().gradient_accumulation_steps == 5
    assert StageSpec(per_device_batch_size=1).halved_micro_batch() is None


def test_fault_switch_parses_and_rejects_typos():
    assert parse_faults("sft:kill@3, oom>2") == [Fault("kill", 3, "sft"), Fault("oom", 2, None)]
    with pytest.raises(ValueError, match="cannot parse 'kil@3'"):
        parse_faults("kil@3")
