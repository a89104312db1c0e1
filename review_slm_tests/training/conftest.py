"""Train through the real assets and the real entrypoint process, on gold rows from the bundled bug suite.

`trainer_harness` writes what the upstream assets would (gold splits and their manifests) for an
iteration key, then materializes `sft_adapter` / `dpo_model` alone with a recipe the test tweaks.
"""

import json
from importlib import resources
from pathlib import Path

import dagster as dg
import pytest
import yaml

from review_slm.core import tables
from review_slm.core.quality_gates import GateConfig
from review_slm.core.recipe import load_recipe
from review_slm.gold.manifest import GoldLimits, GoldSetManifest, GoldSplit
from review_slm.partitions import iteration_partitions
from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import LocalArtifactStore
from review_slm.resources.feedback_source import FileFeedbackSource
from review_slm.resources.launcher import LocalProcessLauncher
from review_slm.resources.manifest_io import ManifestIOManager, write_manifest
from review_slm.resources.tracking import MlflowTracking
from review_slm.resources.training_recipe import TrainingRecipe
from review_slm.train.assets import dpo_model, sft_adapter
from review_slm.train.manifest import ParentModel, PreferencePairs
from review_slm.training.job_spec import JobSpec, Task


def bug_suite_rows() -> list[dict]:
    text = (resources.files("review_slm.data") / "bug_suite" / "bug_suite.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    for i, row in enumerate(rows):
        row["difficulty"] = round((i * 7 % 24) / 24, 3)  # a spread that is not the file order
    return rows


def tiny_recipe(tmp_path: Path, **overrides) -> Path:
    """The tiny recipe, short, with LoRA: `overrides` are dotted keys, e.g. `{"sft.max_steps": 6}`."""
    data = load_recipe("tiny").model_dump(mode="json")
    data["name"] = "tiny-train-test"
    data["sft"].update(max_steps=4, per_device_batch_size=4, save_steps=0, logging_steps=1)
    data["dpo"].update(max_steps=2, per_device_batch_size=2, save_steps=0, max_pairs=8, logging_steps=1)
    # LoRA, so these tests keep the adapter path covered (the tiny recipe itself trains full weights),
    # and no line-offset copies, so the examples and packed rows are exactly the ones each test counts.
    data.update(finetuning="lora", line_offset_copies=0)
    for dotted, value in overrides.items():
        section, _, key = dotted.rpartition(".")
        (data[section] if section else data)[key] = value
    path = tmp_path / f"recipe-{abs(hash(tuple(sorted(overrides.items()))))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def upstream_specs(asset: dg.AssetsDefinition) -> list[dg.AssetSpec]:
    """The asset's upstreams, not run: their manifests (written by the test) load through the IO manager."""
    return [dg.AssetSpec(k, partitions_def=iteration_partitions) for k in asset.dependency_keys]


class Harness:
    def __init__(self, home: Path, model_cache: Path, tmp_path: Path, instance):
        self.home, self.model_cache, self.tmp_path, self.instance = home, model_cache, tmp_path, instance
        self.artifacts = LocalArtifactStore(root=str(home / "artifacts"))
        self.tracking = MlflowTracking(
            tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=str(home / "mlflow-artifacts")
        )

    def write_upstream(self, key: str, rows: list[dict] | None = None) -> None:
        rows = rows if rows is not None else bug_suite_rows()
        self.write_gold(key, {"train": rows[:20], "val": rows[20:], "test": []})
        parent = ParentModel(
            model_uri="builtin:tiny-qwen2",
            parent_iteration=None,
            registry_version=None,
            kind="recipe base",
            recipe="tiny",
        )
        write_manifest(self.artifacts, key, "parent_model", parent)

    def write_gold(self, key: str, splits: dict[str, list[dict]]) -> None:
        """The gold splits and the manifest `gold_set` would return for them."""
        art = self.artifacts
        layout = iteration(art, key)
        rows = [r for split in splits.values() for r in split]
        gold = GoldSetManifest(
            **{
                s: GoldSplit(uri=art.write_table(layout.gold_split(s), r, tables.GOLD), rows=len(r))
                for s, r in splits.items()
            },
            quarantine_uri=layout.gold_quarantine,
            rows_in=len(rows),
            rows_kept=len(rows),
            rows_quarantined=0,
            test_split="none (a training test)",
            gates=GateConfig(),
            limits=GoldLimits(max_duplicate_share=0.01, min_kept_rows=1, min_test_rows=0),
        )
        write_manifest(art, key, "gold_set", gold)

    def write_pairs(self, key: str) -> None:
        from review_slm.core.lazy import NO_ISSUES
        from review_slm.core.prompts import render_review, student_messages
        from review_slm.core.schema import Review

        pairs = []
        for row in bug_suite_rows()[:8]:
            pairs.append(
                {
                    "prompt": student_messages(row["path"], row["language"], row["diff_hunk"]),
                    "chosen": [{"role": "assistant", "content": render_review(Review.model_validate(row["review"]))}],
                    "rejected": [{"role": "assistant", "content": render_review(NO_ISSUES)}],
                }
            )
        uri = self.artifacts.write_table(iteration(self.artifacts, key).pairs, pairs, tables.PAIRS)
        manifest = PreferencePairs(pairs_uri=uri, pairs=len(pairs), prompts=len(pairs), sft_answers_uri=None)
        write_manifest(self.artifacts, key, "preference_pairs", manifest)

    def job_spec(self, task: Task, recipe, output_dir: Path, **inputs) -> JobSpec:
        """What an asset would send the entrypoint for the built-in tiny student: for tests that run in process."""
        return JobSpec(
            task=task,
            recipe=recipe,
            parent_model="builtin:tiny-qwen2",
            cache_dir=str(self.model_cache),
            output_dir=str(output_dir),
            **inputs,
        )

    def materialize(self, asset, key: str, recipe_path: Path, launcher: LocalProcessLauncher | None = None):
        self.instance.add_dynamic_partitions(iteration_partitions.name, [key])
        resources = {
            "tracking": self.tracking,
            "launcher": launcher or LocalProcessLauncher(),
            "artifacts": self.artifacts,
            "io_manager": ManifestIOManager(artifacts=self.artifacts),
            "recipe": TrainingRecipe(name=str(recipe_path), cache_dir=str(self.model_cache)),
            "feedback": FileFeedbackSource(),  # no feedback export: no feedback pairs
        }
        return dg.materialize(
            [asset, *upstream_specs(asset)],
            partition_key=key,
            instance=self.instance,
            resources=resources,
            raise_on_error=False,
        )

    def metadata(self, asset_name: str, key: str) -> dict:
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset_name), asset_partitions=[key]), limit=1
        ).records
        return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}

    def mlflow_runs(self, asset_name: str, key: str) -> list:
        client = self.tracking.client()
        exp = client.get_experiment_by_name(self.tracking.experiment_name)
        runs = client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.`review_slm.asset` = '{asset_name}' and tags.`review_slm.iteration` = '{key}'",
            order_by=["attributes.start_time ASC"],
        )
        return list(runs)

    def losses(self, asset_name: str, key: str, metric: str = "sft/loss") -> dict[int, float]:
        """Each logged value of `metric` in every MLflow run of this asset and iteration (failed ones too), by step."""
        client = self.tracking.client()
        out = {}
        for run in self.mlflow_runs(asset_name, key):
            out.update({m.step: m.value for m in client.get_metric_history(run.info.run_id, metric)})
        return out


@pytest.fixture
def harness(home, model_cache, tmp_path):
    with dg.instance_for_test() as instance:
        yield Harness(home, model_cache, tmp_path, instance)


__all__ = ["Harness", "bug_suite_rows", "dpo_model", "sft_adapter", "tiny_recipe"]
