"""The one artifact layout: where every asset writes, and so where every consumer reads.

No other module spells an artifact's file name. An asset asks `IterationArtifacts` for the URI of
what it writes or reads (`gold_split("train")`, `pairs`, `candidate_model`, ...), so the file a
producer writes and the file its consumers read cannot drift apart, and `grep` for a method name
shows every reader of an artifact. Paths are the same in every store (a local folder, or an `s3://`
prefix in the k8s profile):

    iterations/<key>/<asset>/manifest.json   (every asset: what it made, `resources/manifest_io.py`)
    iterations/<key>/mined_reviews/{records,rejected}.parquet
    iterations/<key>/hf_supplement/{records,rejected}.parquet
    iterations/<key>/gold_set/{train,val,test,quarantine}.parquet
    iterations/<key>/sft_adapter/{adapter/,checkpoints/}
    iterations/<key>/preference_pairs/{pairs,sft_answers}.parquet
    iterations/<key>/dpo_model/{model/,adapter/,checkpoints/}
    iterations/<key>/eval_report/report.json
    frozen/test_split.parquet, frozen/test_split_history.jsonl
    corpus/<source>/<owner>__<repo>/state.json, segments/<n>.jsonl
    teacher_cache/<model>/<digest>-p<prompt version>/<run>-<n>.jsonl

Tabular artifacts are Parquet with the schemas of `core/tables.py`; JSON only where a person or a
small config is meant to read it (the manifests, the evaluation report).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from review_slm.resources.artifacts import ArtifactStore

Split = Literal["train", "val", "test"]
RecordSource = Literal["mined_reviews", "hf_supplement"]
TrainingAsset = Literal["sft_adapter", "preference_pairs", "dpo_model", "eval_report"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


def safe_name(name: str) -> str:
    """A model name as one path segment (`qwen2.5-coder:7b` -> `qwen2.5-coder_7b`)."""
    return re.sub(r"[^\w.-]+", "_", name)


@dataclass(frozen=True)
class IterationArtifacts:
    """The artifacts of one iteration (partition key) in one store."""

    store: ArtifactStore
    key: str

    def _at(self, asset: str, *parts: str) -> str:
        return self.store.uri("iterations", self.key, asset, *parts)

    def manifest(self, asset: str) -> str:
        """The typed manifest the asset returned (its IO manager's one file: what it made, by URI)."""
        return self._at(asset, "manifest.json")

    # mined_reviews, hf_supplement: normalized review records and the rows they set aside
    def records(self, source: RecordSource) -> str:
        return self._at(source, "records.parquet")

    def rejected(self, source: RecordSource) -> str:
        return self._at(source, "rejected.parquet")

    # gold_set
    @property
    def gold_dir(self) -> str:
        return self._at("gold_set")

    def gold_split(self, split: Split) -> str:
        return self._at("gold_set", f"{split}.parquet")

    @property
    def gold_quarantine(self) -> str:
        return self._at("gold_set", "quarantine.parquet")

    # trainer outputs and their staging places
    def scratch(self, asset: TrainingAsset) -> str:
        """A fresh place for the trainer of `asset` to write into, promoted from once it succeeded."""
        return self.store.scratch_uri(self.key, asset)

    def checkpoints(self, asset: Literal["sft_adapter", "dpo_model"]) -> str:
        return self._at(asset, "checkpoints")

    @property
    def sft_adapter(self) -> str:
        return self._at("sft_adapter", "adapter")

    # preference_pairs
    @property
    def pairs(self) -> str:
        return self._at("preference_pairs", "pairs.parquet")

    @property
    def sft_answers(self) -> str:
        return self._at("preference_pairs", "sft_answers.parquet")

    # dpo_model
    @property
    def candidate_model(self) -> str:
        return self._at("dpo_model", "model")

    @property
    def candidate_adapter(self) -> str:
        return self._at("dpo_model", "adapter")

    # eval_report
    @property
    def eval_report(self) -> str:
        return self._at("eval_report", "report.json")

    @property
    def eval_samples(self) -> str:
        """Every evaluated item with each model's answer and verdict (`tables.EVAL_SAMPLES`)."""
        return self._at("eval_report", "samples.parquet")


class Scratch:
    """File names inside an asset's scratch folder for the trainer's generation inputs and outputs.
    (What the trainer writes under `output_dir` is named by `training/job_spec.TrainerOutputs`.)"""

    PROMPTS = "prompts.parquet"

    @staticmethod
    def answers(model_name: str) -> str:
        return f"{model_name}.parquet"


@dataclass(frozen=True)
class SharedArtifacts:
    """Artifacts that outlive an iteration."""

    store: ArtifactStore

    @property
    def frozen_test_split(self) -> str:
        return self.store.uri("frozen", "test_split.parquet")

    @property
    def frozen_history(self) -> str:
        """One JSON line per (re)freeze, with its reason: an audit log a person reads."""
        return self.store.uri("frozen", "test_split_history.jsonl")

    def _corpus(self, source: str, repo: str, *parts: str) -> str:
        return self.store.uri("corpus", source, repo.replace("/", "__"), *parts)

    def corpus_state(self, source: str, repo: str) -> str:
        """The mining cursor and the list of live segments of one repository."""
        return self._corpus(source, repo, "state.json")

    def corpus_segment(self, source: str, repo: str, name: str) -> str:
        """One append-only segment of upserts and deletions (JSONL: replayed in order)."""
        return self._corpus(source, repo, "segments", name)

    def teacher_cache(self, model: str, digest_dir: str | None = None) -> str:
        return self.store.uri("teacher_cache", safe_name(model), *([digest_dir] if digest_dir else []))

    def teacher_cache_shard(self, model: str, digest_dir: str | None, run_name: str, n: int) -> str:
        return self.store.uri(
            "teacher_cache", safe_name(model), *([digest_dir] if digest_dir else []), f"{run_name}-{n:04d}.jsonl"
        )


def segment_name(n: int) -> str:
    """The file name of the corpus segment number `n` (zero-padded: listing order is replay order)."""
    return f"{n:06d}.jsonl"


def is_teacher_cache_shard(uri: str) -> bool:
    return uri.endswith(".jsonl")


def iteration(store: ArtifactStore, key: str) -> IterationArtifacts:
    return IterationArtifacts(store, key)
