"""Content-addressed cache of teacher answers, stored with the artifacts so the next iteration only
pays for rows it has not seen.

Key: sha256 of (teacher model, its digest, prompt version, the exact messages: diff hunk, human
comment, thread). A new digest or prompt version misses by construction; nothing is invalidated by
hand. Entries are appended as shards (`teacher_cache/<model>/<run>-<n>.jsonl`), flushed every
`flush_every` new answers so a crash mid-enrichment keeps what was paid for.
"""

from __future__ import annotations

import json
import re
import threading

from review_slm.core.prompts import PROMPT_VERSION
from review_slm.core.schema import content_hash
from review_slm.resources.artifacts import ArtifactStore


def cache_key(model: str, digest: str, messages: list[dict]) -> str:
    return content_hash(model, digest, PROMPT_VERSION, json.dumps(messages, ensure_ascii=False, sort_keys=True))


class TeacherCache:
    def __init__(self, artifacts: ArtifactStore, model: str, run_name: str, flush_every: int = 200):
        self.artifacts = artifacts
        self.dir_parts = ("teacher_cache", re.sub(r"[^\w.-]+", "_", model))
        self.run_name = run_name
        self.flush_every = flush_every
        self._entries: dict[str, dict] = {}
        self._pending: list[dict] = []
        self._shards = 0
        self._lock = threading.Lock()
        for shard in self.artifacts.list_prefix(self.artifacts.uri(*self.dir_parts)):
            if shard.endswith(".jsonl"):
                for entry in self.artifacts.read_jsonl(shard):
                    self._entries[entry["key"]] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def put(self, key: str, answer: dict) -> None:
        with self._lock:
            entry = {"key": key, **answer}
            self._entries[key] = entry
            self._pending.append(entry)
            if len(self._pending) >= self.flush_every:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        self._shards += 1
        uri = self.artifacts.uri(*self.dir_parts, f"{self.run_name}-{self._shards:04d}.jsonl")
        self.artifacts.write_jsonl(uri, self._pending)
        self._pending = []
