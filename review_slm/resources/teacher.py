"""The teacher that turns a human comment into a structured review.

`OllamaTeacher` asks a local or remote Ollama server (JSON-schema structured output), `concurrency`
requests at a time (Ollama serves `OLLAMA_NUM_PARALLEL` in parallel), each with a timeout and
bounded retries, through a content-addressed cache. Each distinct prompt is asked once per run (rows
with the same messages share the answer), and only valid answers are cached: a timeout or an invalid
answer is asked again next run, never kept as a verdict.

A teacher that does not answer is a recorded decision, never a silent one: with `required` the
asset fails; otherwise rows are structured from the human comment and the report (so the asset's
metadata) says `teacher: none (unreachable: <host>: <error>)`, logged as a WARNING when the user
configured the host (`configured`, i.e. OLLAMA_HOST was set) and as INFO for the default host, where
no Ollama is the embedded default's normal case.
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
from review_slm.storage.teacher_cache import TeacherCache, cache_key

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
    teacher_prompts_distinct: int = 0  # what was asked (or found in the cache): rows sharing messages share one
    teacher_warning: str = ""  # set when a configured teacher did not answer; the asset logs it as a WARNING


Progress = Callable[[str], None]


class Teacher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def enrich(
        self,
        records: list[ReviewRecord],
        cache_factory: Callable[[str, str], TeacherCache] | None = None,
        progress: Progress = log.info,
    ) -> tuple[list[Candidate], EnrichmentReport]:
        """One candidate per record, in order, and what it cost. `cache_factory(model, digest)` opens the cache."""

    def answer_prompts(self, prompts: list[dict], progress: Progress = log.info) -> tuple[list[dict] | None, str]:
        """The teacher as one more reviewer in the evaluation: its answers to the student's own prompts
        (`[{"id", "messages"}]` -> `[{"id", "answer"}]`), or (None, why) when there is no teacher model."""
        return None, "no teacher model"


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

    configured: bool = False  # the user set the host (OLLAMA_HOST): not answering is then worth a WARNING

    def digest(self) -> str | None:
        """The model's digest (so a re-pulled model misses the cache), or None when there is no teacher."""
        return self._probe()[0]

    def _probe(self) -> tuple[str | None, str]:
        """(digest, "") when the model answers, else (None, why)."""
        try:
            client = self._client(timeout=5.0)
            for model in client.list().models:
                if model.model == self.model and model.digest:
                    return model.digest, ""
            shown = client.show(self.model)  # not listed under that exact name: describe what answers
            return content_hash(self.model, str(shown.modelfile), str(shown.template), str(shown.details))[:16], ""
        except Exception as err:  # connection refused, timeout, model not pulled: all mean "no teacher"
            return None, f"{type(err).__name__}: {str(err)[:200]}"

    def _chat(self, client, messages: list[dict], calls: list[int]) -> str:
        import httpx
        import ollama

        for attempt in range(self.max_retries + 1):
            calls[0] += 1
            try:
                response = client.chat(
                    model=self.model, messages=messages, format=_REVIEW_SCHEMA, options={"temperature": 0}
                )
                return response.message.content or ""
            except (httpx.TransportError, ollama.ResponseError) as err:
                retriable = (
                    not isinstance(err, ollama.ResponseError) or err.status_code >= 500 or err.status_code == 429
                )
                if not retriable or attempt == self.max_retries:
                    raise
                time.sleep(self.retry_backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    def _review(self, record: ReviewRecord) -> tuple[Candidate, dict | None, int]:
        """The candidate, what to cache (valid answers only: an invalid or failed call is asked again next
        run) and the number of requests it took."""
        client = self._thread_client()
        calls = [0]
        messages = teacher_messages(record)
        try:
            text = ""
            for _attempt in range(2):  # one retry, telling the model what was wrong
                text = self._chat(client, messages, calls)
                review, error = parse_review(text, hunk_path=record.path)  # a finding is on the commented hunk's file
                if review is not None:
                    return Candidate(record, review, self.model), {"review": review.model_dump(mode="json")}, calls[0]
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {
                        "role": "user",
                        "content": f"That answer is invalid ({error}). Answer again with valid JSON only.",
                    },
                ]
            error = f"teacher answer invalid twice: {error}"
            return Candidate(record, None, self.model, error=error, failure="teacher_invalid"), None, calls[0]
        except Exception as err:  # a timeout or HTTP error on one row must not lose the others
            return (
                Candidate(
                    record,
                    None,
                    self.model,
                    error=f"teacher call failed: {type(err).__name__}: {err}",
                    failure="teacher_failed",
                ),
                None,
                calls[0],
            )

    def _unreachable(self, records, why: str, progress: Progress):
        message = f"teacher {self.model} at {self.host} does not answer ({why})"
        if self.required:
            raise RuntimeError(f"{message} and is required")
        candidates, report = HumanCommentTeacher().enrich(records)
        report.teacher_model = f"none (unreachable: {self.host}: {why})"
        if self.configured:
            report.teacher_warning = f"{message}: structuring the human comments instead"
        else:
            progress(f"{message}: no teacher at the default host, structuring the human comments instead")
        return candidates, report

    def answer_prompts(self, prompts, progress=log.info):
        """The student's prompts, answered in the student's format (same JSON schema, temperature 0)."""
        from review_slm.core.prompts import student_answer_schema

        digest, why = self._probe()
        if digest is None:
            return None, f"teacher {self.model} at {self.host} does not answer ({why})"
        schema = student_answer_schema()

        def ask(prompt: dict) -> dict:
            response = self._thread_client().chat(
                model=self.model, messages=prompt["messages"], format=schema, options={"temperature": 0}
            )
            return {"id": prompt["id"], "answer": response.message.content or ""}

        progress(f"teacher {self.model}: answering {len(prompts)} evaluation prompts, {self.concurrency} at a time")
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                return list(pool.map(ask, prompts)), ""
        except Exception as err:  # a partial column would score the teacher on missing answers: none at all
            return (
                None,
                f"teacher {self.model} at {self.host} failed while answering: {type(err).__name__}: {str(err)[:200]}",
            )

    def enrich(self, records, cache_factory=None, progress=log.info):
        digest, why = self._probe()
        if digest is None:
            return self._unreachable(records, why, progress)
        started = time.monotonic()
        report = EnrichmentReport(teacher_model=self.model, teacher_digest=digest)
        cache = cache_factory(self.model, digest) if cache_factory else None
        # One question per distinct prompt: rows with identical messages share its answer.
        by_key: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_key.setdefault(cache_key(self.model, digest, teacher_messages(record)), []).append(i)
        report.teacher_prompts_distinct = len(by_key)
        answers: dict[str, Candidate] = {}
        todo: list[str] = []
        for key, rows in by_key.items():
            hit = cache.get(key) if cache is not None else None
            if hit is not None and "review" in hit:
                report.teacher_cache_hits += len(rows)
                answers[key] = Candidate(records[rows[0]], Review.model_validate(hit["review"]), self.model)
            else:
                todo.append(key)
        progress(
            f"teacher {self.model}: {len(records)} rows, {len(by_key)} distinct prompts, {len(by_key) - len(todo)} "
            f"cached, "
            f"{len(todo)} to ask, {self.concurrency} at a time"
        )
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._review, records[by_key[key][0]]): key for key in todo}
            for done, future in enumerate(as_completed(futures), 1):
                key = futures[future]
                candidate, to_cache, calls = future.result()
                report.teacher_calls += calls
                answers[key] = candidate
                if cache is not None and to_cache:
                    cache.put(key, to_cache)
                if done % max(1, len(todo) // 10) == 0:
                    progress(f"teacher: {done}/{len(todo)} answered ({time.monotonic() - started:.0f}s)")
        if cache is not None:
            cache.flush()
        results: list[Candidate] = [None] * len(records)  # type: ignore[list-item]
        for key, rows in by_key.items():
            first = answers[key]
            for i in rows:
                results[i] = Candidate(records[i], first.review, first.teacher, first.error, first.failure)
        report.teacher_failures = sum(c.failure == "teacher_failed" for c in results)
        report.teacher_invalid = sum(c.failure == "teacher_invalid" for c in results)
        report.teacher_seconds = round(time.monotonic() - started, 3)
        return results, report
