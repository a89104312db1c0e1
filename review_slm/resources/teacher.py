"""The teacher that turns a human comment into a structured review.

`OllamaTeacher` asks a local or remote Ollama server (JSON-schema structured output), `concurrency`
requests at a time (Ollama serves `OLLAMA_NUM_PARALLEL` in parallel), each with a timeout and
bounded retries, through a content-addressed cache. When the server does not answer and the teacher
is not required (the local profile), rows are structured deterministically from the human comment
and the asset says `teacher: none`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import dagster as dg

from review_slm.core.gold import Candidate
from review_slm.core.prompts import parse_review, teacher_messages
from review_slm.core.schema import Review, ReviewRecord, content_hash
from review_slm.core.structuring import structure_human_comment
from review_slm.resources.teacher_cache import TeacherCache, cache_key

log = logging.getLogger(__name__)
_REVIEW_SCHEMA = Review.model_json_schema()
_THREAD_CLIENTS = threading.local()


@dataclass
class EnrichmentReport:
    teacher_model: str = "none"
    teacher_digest: str = ""
    teacher_calls: int = 0
    teacher_cache_hits: int = 0
    teacher_failures: int = 0
    teacher_invalid: int = 0
    teacher_seconds: float = 0.0


Progress = Callable[[str], None]


class Teacher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def enrich(
        self, records: list[ReviewRecord], cache_factory: Callable[[str, str], TeacherCache] | None = None,
        progress: Progress = log.info,
    ) -> tuple[list[Candidate], EnrichmentReport]:
        """One candidate per record, in order, and what it cost. `cache_factory(model, digest)` opens the cache."""


class HumanCommentTeacher(Teacher):
    """No model: the human comment itself, structured by rules (see core/structuring.py)."""

    def enrich(self, records, cache_factory=None, progress=log.info):
        started = time.monotonic()
        candidates = [Candidate(r, structure_human_comment(r), "none") for r in records]
        return candidates, EnrichmentReport(teacher_seconds=round(time.monotonic() - started, 3))


class OllamaTeacher(Teacher):
    host: str = "http://127.0.0.1:11434"
    model: str = "qwen2.5-coder:7b-instruct"
    required: bool = False
    timeout_s: float = 120.0
    concurrency: int = 4
    max_retries: int = 2  # per request, on timeouts / connection errors / 5xx
    retry_backoff_s: float = 2.0

    def _client(self, timeout: float):
        import ollama

        return ollama.Client(host=self.host, timeout=timeout)

    def _thread_client(self):
        """One client (one connection pool) per worker thread: building an httpx client costs ~30 ms
        of GIL-held SSL setup, which would otherwise serialise the workers."""
        local = _THREAD_CLIENTS.__dict__
        key = (self.host, self.timeout_s)
        if key not in local:
            local[key] = self._client(self.timeout_s)
        return local[key]

    def digest(self) -> str | None:
        """The model's digest (so a re-pulled model misses the cache), or None when there is no teacher."""
        try:
            client = self._client(timeout=5.0)
            for model in client.list().models:
                if model.model == self.model and model.digest:
                    return model.digest
            shown = client.show(self.model)  # not listed under that exact name: describe what answers
            return content_hash(self.model, str(shown.modelfile), str(shown.template), str(shown.details))[:16]
        except Exception as err:  # connection refused, timeout, model not pulled: all mean "no teacher"
            log.info("teacher %s at %s not available: %s", self.model, self.host, err)
            return None

    def _chat(self, client, messages: list[dict], calls: list[int]) -> str:
        import httpx
        import ollama

        for attempt in range(self.max_retries + 1):
            calls[0] += 1
            try:
                response = client.chat(model=self.model, messages=messages, format=_REVIEW_SCHEMA, options={"temperature": 0})
                return response.message.content or ""
            except (httpx.TransportError, ollama.ResponseError) as err:
                retriable = not isinstance(err, ollama.ResponseError) or err.status_code >= 500 or err.status_code == 429
                if not retriable or attempt == self.max_retries:
                    raise
                time.sleep(self.retry_backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def _review(self, record: ReviewRecord) -> tuple[Candidate, dict | None, int]:
        """The candidate, what to cache (valid answers and twice-invalid verdicts; never transport
        failures) and the number of requests it took."""
        client = self._thread_client()
        calls = [0]
        messages = teacher_messages(record)
        try:
            text = ""
            for _attempt in range(2):  # one retry, telling the model what was wrong
                text = self._chat(client, messages, calls)
                review, error = parse_review(text)
                if review is not None:
                    return Candidate(record, review, self.model), {"review": review.model_dump(mode="json")}, calls[0]
                messages = [*messages, {"role": "assistant", "content": text},
                            {"role": "user", "content": f"That answer is invalid ({error}). Answer again with valid JSON only."}]
            error = f"teacher answer invalid twice: {error}"
            return Candidate(record, None, self.model, error=error, failure="teacher_invalid"), {"error": error}, calls[0]
        except Exception as err:  # a timeout or HTTP error on one row must not lose the others
            return Candidate(record, None, self.model, error=f"teacher call failed: {type(err).__name__}: {err}", failure="teacher_failed"), None, calls[0]

    def enrich(self, records, cache_factory=None, progress=log.info):
        digest = self.digest()
        if digest is None:
            if self.required:
                raise RuntimeError(f"teacher {self.model} at {self.host} does not answer and is required")
            progress(f"teacher {self.model} at {self.host} does not answer: structuring the human comments instead")
            return HumanCommentTeacher().enrich(records)
        started = time.monotonic()
        report = EnrichmentReport(teacher_model=self.model, teacher_digest=digest)
        cache = cache_factory(self.model, digest) if cache_factory else None
        results: list[Candidate | None] = [None] * len(records)
        todo: list[tuple[int, str]] = []
        for i, record in enumerate(records):
            key = cache_key(self.model, digest, teacher_messages(record))
            hit = cache.get(key) if cache is not None else None
            if hit is None:
                todo.append((i, key))
                continue
            report.teacher_cache_hits += 1
            results[i] = (Candidate(record, Review.model_validate(hit["review"]), self.model) if "review" in hit
                          else Candidate(record, None, self.model, error=hit["error"], failure="teacher_invalid"))
        progress(f"teacher {self.model}: {report.teacher_cache_hits} cached, {len(todo)} to ask, {self.concurrency} at a time")
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._review, records[i]): (i, key) for i, key in todo}
            for done, future in enumerate(as_completed(futures), 1):
                i, key = futures[future]
                candidate, to_cache, calls = future.result()
                report.teacher_calls += calls
                results[i] = candidate
                if cache is not None and to_cache:
                    cache.put(key, to_cache)
                if done % max(1, len(todo) // 10) == 0:
                    progress(f"teacher: {done}/{len(todo)} answered ({time.monotonic() - started:.0f}s)")
        if cache is not None:
            cache.flush()
        report.teacher_failures = sum(c.failure == "teacher_failed" for c in results)
        report.teacher_invalid = sum(c.failure == "teacher_invalid" for c in results)
        report.teacher_seconds = round(time.monotonic() - started, 3)
        return results, report
