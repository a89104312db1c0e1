"""Content-addressed cache of teacher answers, stored with the artifacts so the next iteration only
pays for rows it has not seen.

Key: sha256 of (teacher model, its digest, prompt version, the exact messages: diff hunk, human
comment, thread). Entries are appended as shards, flushed every `flush_every` new answers so a crash
mid-enrichment keeps what was paid for:

    teacher_cache/<model>/<digest>-p<prompt version>/<run>-<n>.jsonl

Only answers that can still be hit are read: opening the cache for a digest deletes the shards of
other digests and prompt versions of that model (they miss by construction). A key answered twice
(two runs racing) resolves the same way every time: the first entry in shard-name order wins, and a
key already present is never written again.
"""

from __future__ import annotations

import json
import threading

from review_slm.core.prompts import PROMPT_VERSION
from review_slm.core.schema import content_hash
from review_slm.resources.artifact_layout import SharedArtifacts, is_teacher_cache_shard
from review_slm.resources.artifact_layout import safe_name as _safe
from review_slm.resources.artifacts import ArtifactStore


def cache_key(model: str, digest: str, messages: list[dict]) -> str:
    return content_hash(model, digest, PROMPT_VERSION, json.dumps(messages, ensure_ascii=False, sort_keys=True))


class TeacherCache:
    def __init__(self, artifacts: ArtifactStore, model: str, run_name: str, flush_every: int = 200, digest: str = ""):
        self.artifacts = artifacts
        self.layout = SharedArtifacts(artifacts)
        self.model = model
        self.digest_dir = f"{_safe(digest)[:24]}-p{PROMPT_VERSION}" if digest else None
        self.run_name = run_name
        self.flush_every = flush_every
        self._entries: dict[str, dict] = {}
        self._pending: list[dict] = []
        self._shards = 0
        self._lock = threading.Lock()
        self.pruned_shards = 0
        live = self.layout.teacher_cache(model, self.digest_dir).rstrip("/") + "/"
        for shard in self.artifacts.list_prefix(self.layout.teacher_cache(model)):  # sorted: the same winner every time
            if not is_teacher_cache_shard(shard):
                continue
            if digest and not shard.startswith(live):
                self.artifacts.delete(shard)  # another digest or prompt version: can never be hit again
                self.pruned_shards += 1
                continue
            for entry in self.artifacts.read_jsonl(shard):
                self._entries.setdefault(entry["key"], entry)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def put(self, key: str, answer: dict) -> None:
        with self._lock:
            if key in self._entries:
                return  # first answer wins, here as when shards are read
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
        uri = self.layout.teacher_cache_shard(self.model, self.digest_dir, self.run_name, self._shards)
        self.artifacts.write_jsonl(uri, self._pending)
        self._pending = []
