"""The data assets end to end (no training) on hostile input: a supplement file and a mined snapshot full
of bad rows and planted secrets materialize without a crash, every row is accounted for, no planted
secret is left anywhere on disk or in the run's output, and an all-quarantined gold set freezes nothing."""

import json
from pathlib import Path

import dagster as dg
import pytest

from review_slm import definitions
from review_slm.gold.assets import gold_set
from review_slm.gold.checks import GOLD_SET_CHECKS
from review_slm.ingest.assets import hf_supplement, mined_reviews
from review_slm.resources.review_source import SnapshotReviewSource
from review_slm.resources.supplement import HFSupplementSource
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm_tests.core.secret_corpus import LINES, PEM, TOKENS

ISSUES = [
    "Close the {x} when the call fails.",
    "Lock {x} before reading it.",
    "Bound the retries of {x}.",
    "Check the error of {x}.",
    "Avoid building {x} in the loop.",
    "Validate {x} before use.",
    "Free {x} on every path.",
    "Time out {x} after a while.",
]


def _good_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        secret_line = list(LINES.values())[i % len(LINES)]
        patch = (
            f"@@ -{i},2 +{i},3 @@\n def handler_{i}(req):\n+    {secret_line}\n     return process_{i}(req, {i * 7})\n"
        )
        rows.append(
            {
                "id": f"r{i}",
                "proj": f"o/p{i}",
                "lang": "py",
                "path": f"svc/h{i}.py",
                "patch": patch,
                "msg": ISSUES[i % len(ISSUES)].format(x=f"conn_{i}") + f" It also has {secret_line}",
            }
        )
    return rows


def _hostile_supplement(path: Path) -> int:
    lines = [json.dumps(r).encode() for r in _good_rows(48)]
    lines += [
        b'{"id": "broken", "patch": ',
        b'{"id": "latin", "msg": "caf\xe9"}',
        b'{"id": "nul", "patch": "a\x00b"}',
        json.dumps({"id": "num-lang", "lang": 3, "patch": "x", "msg": "y"}).encode(),
        json.dumps({"id": "big", "lang": "py", "patch": "@@ -1 +1 @@\n+" + "x" * 2_000_000, "msg": "huge"}).encode(),
        json.dumps(
            {"id": TOKENS["github_ghp"], "lang": ["py"], "path": TOKENS["huggingface"], "patch": "x", "msg": "y"}
        ).encode(),
    ]
    lines += [
        json.dumps({**_good_rows(1)[0], "id": "r0", "patch": "@@ -1 +1 @@\n+" + PEM.replace("\n", "\n+")}).encode()
    ] * 3
    path.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def _snapshot(folder: Path) -> None:
    comment = {
        "id": 1,
        "path": f"deploy/{TOKENS['npm']}/values.yaml",
        "line": 3,
        "user": {"login": "alice", "type": "User"},
        "diff_hunk": f"@@ -1,2 +1,3 @@\n env:\n+  {LINES['password_yaml'].strip()}\n+  region: eu\n",
        "body": f"Move this to a Secret, {LINES['slack']}",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "html_url": "https://github.com/o/r/pull/1#discussion_r1",
    }
    reply = {
        **comment,
        "id": 2,
        "in_reply_to_id": 1,
        "body": f"ok, rotated {TOKENS['openai']}",
        "user": {"login": "bob", "type": "User"},
    }
    folder.mkdir()
    (folder / "o__r.json").write_text(json.dumps([comment, reply]))


@pytest.fixture
def materialize(home, model_cache, fast_recipe_path, tmp_path):
    def run(supplement: str, snapshot: Path, key: str, instance, gold_config: dict | None = None):
        resources = definitions.local_resources()
        resources.update(
            teacher=HumanCommentTeacher(),
            recipe=TrainingRecipe(name=str(fast_recipe_path), cache_dir=str(model_cache)),
            supplement=HFSupplementSource(dataset=supplement),
            review_source=SnapshotReviewSource(repos=["o/r"], snapshot_dir=str(snapshot)),
        )
        instance.add_dynamic_partitions("iteration", [key])
        config = {"ops": {"gold_set": {"config": gold_config}}} if gold_config else None
        return dg.materialize(
            [mined_reviews, hf_supplement, gold_set, *GOLD_SET_CHECKS],
            partition_key=key,
            instance=instance,
            resources=resources,
            run_config=config,
            raise_on_error=False,
        )

    return run


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""
    except FileNotFoundError:  # the instance's temporary files come and go
        return ""


def _metadata(result, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_hostile_supplement_and_snapshot_materialize_account_for_every_row_and_leak_nothing(
    materialize, home, tmp_path, capfd
):
    supplement = tmp_path / "hostile.jsonl"
    n_lines = _hostile_supplement(supplement)
    _snapshot(tmp_path / "snapshot")
    with dg.instance_for_test() as instance:
        result = materialize(
            str(supplement), tmp_path / "snapshot", "iter-0001", instance, {"min_kept_rows": 10, "min_test_rows": 1}
        )
        assert result.success
        supp = _metadata(result, "hf_supplement")
        assert supp["rows_in"] == n_lines == supp["rows_kept"] + supp["rows_quarantined"]
        assert (
            supp["duplicate_ids_renamed"] == 3
            and supp["quarantined_row_too_large"] == 1
            and supp["quarantined_invalid_json"] == 2
        )
        gold = _metadata(result, "gold_set")
        assert (
            gold["rows_in"] == gold["rows_kept"] + gold["rows_quarantined"]
            and gold["quarantined_secret_unredactable"] >= 1
        )
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert all(checks.values()) and len(checks) == len(GOLD_SET_CHECKS)
        event_log = "\n".join(str(e) for e in instance.all_logs(result.run_id))
        stored = "".join(_read(p) for root in (home, Path(instance.root_directory)) for p in root.rglob("*"))
    out, err = capfd.readouterr()
    haystack = out + err + event_log + stored
    assert "<REDACTED" in haystack  # the scan did read the artifacts
    leaks = {
        kind: haystack[max(0, haystack.find(t) - 300) : haystack.find(t) + 50]
        for kind, t in TOKENS.items()
        if t in haystack
    }
    assert leaks == {}, "\n\n".join(f"{k}: {v}" for k, v in leaks.items())
    assert "MIIEpAIBAAKCAQEA7" not in haystack


def test_all_quarantined_gold_set_fails_a_blocking_check_and_freezes_nothing_then_a_refreeze_is_recorded(
    materialize, home, tmp_path
):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n" * 5)
    _snapshot(tmp_path / "snapshot")
    (tmp_path / "snapshot" / "o__r.json").write_text(
        json.dumps([{"id": 9, "user": {"login": "ci[bot]", "type": "Bot"}, "body": "x"}])
    )
    with dg.instance_for_test() as instance:
        result = materialize(str(bad), tmp_path / "snapshot", "iter-0001", instance)
        assert not result.success
        checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
        assert checks["gold_min_rows"] is False and checks["gold_test_split_frozen"] is False
        assert not (home / "artifacts" / "frozen" / "test_split.jsonl").exists()
        gold = _metadata(result, "gold_set")
        assert gold["test_split"].startswith("test split NOT frozen: 0 test rows")
        assert "teacher_calls_per_kept_row" not in gold and gold["teacher_calls_per_kept_row_absent"]

        good = tmp_path / "good.jsonl"
        good.write_text("".join(json.dumps(r) + "\n" for r in _good_rows(40)))
        first = materialize(
            str(good), tmp_path / "snapshot", "iter-0002", instance, {"min_kept_rows": 10, "min_test_rows": 1}
        )
        assert first.success and _metadata(first, "gold_set")["test_split"].startswith("froze now")
        again = materialize(
            str(good),
            tmp_path / "snapshot",
            "iter-0003",
            instance,
            {"min_kept_rows": 10, "min_test_rows": 1, "refreeze_reason": "secret found in the split"},
        )
        assert again.success and "re-froze now" in _metadata(again, "gold_set")["test_split"]
    history = [
        json.loads(line)
        for line in (home / "artifacts" / "frozen" / "test_split_history.jsonl").read_text().splitlines()
    ]
    assert [(h["iteration"], h["reason"]) for h in history] == [
        ("iter-0002", "first freeze"),
        ("iter-0003", "secret found in the split"),
    ]


def test_a_partition_key_of_another_form_fails_the_first_steps_with_the_expected_form(materialize, tmp_path):
    _snapshot(tmp_path / "snapshot")
    with dg.instance_for_test() as instance:
        result = materialize(str(tmp_path / "none.jsonl"), tmp_path / "snapshot", "my-experiment", instance)
        assert not result.success and not result.get_asset_materialization_events()
        failures = [e.step_failure_data.error.to_string() for e in result.all_events if e.is_step_failure]
        assert len(failures) == 2 and all("'my-experiment' is not of the form iter-NNNN" in f for f in failures)
