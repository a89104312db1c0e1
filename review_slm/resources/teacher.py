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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg

from review_slm.core.gold import Candidate
from review_slm.core.judge import RUBRIC_VERSION, JudgeVerdict, judge_key, judge_messages, parse_verdict
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
    teacher_prompts_distinct: int = 0  # what was asked (or found in the cache): rows sharing messages share one
    teacher_warning: str = ""  # set when a configured teacher did not answer; the asset logs it as a WARNING
    # The estimate, logged before the work: what is left to ask after the cache, and how long it will take at the
    # rate measured on the first wave of requests (the probe).
    teacher_prompts_to_ask: int = 0
    teacher_estimated_prompt_tokens: int = 0  # ~4 characters per token: no teacher tokenizer is at hand
    teacher_estimated_completion_tokens: int = 0  # the probe's mean answer length (servers that report usage)
    teacher_probe_rate_per_s: float = 0.0
    teacher_estimated_seconds: float = 0.0
    teacher_completion_tokens: int = 0  # measured (usage), 0 where the server does not report it
    teacher_requests_per_replica: str = ""  # "url=n, ..." for a fleet


class BudgetExceeded(RuntimeError):
    """The enrichment is larger than the user allowed; the message names the setting."""


@dataclass(frozen=True)
class TeacherBudget:
    """gold_set's `max_teacher_prompts` / `max_teacher_hours` (0: no limit)."""

    max_prompts: int = 0
    max_hours: float = 0.0

    def check_prompts(self, to_ask: int) -> None:
        if self.max_prompts and to_ask > self.max_prompts:
            raise BudgetExceeded(
                f"the teacher would be asked {to_ask} prompts (after the cache), more than gold_set's "
                f"max_teacher_prompts={self.max_prompts}: raise it, or set it to 0 for no limit"
            )

    def check_hours(self, seconds: float, to_ask: int) -> None:
        if self.max_hours and seconds > self.max_hours * 3600:
            raise BudgetExceeded(
                f"the teacher would take ~{seconds / 3600:.2f} h for {to_ask} prompts at the measured rate, more than "
                f"gold_set's max_teacher_hours={self.max_hours:g}: raise it, add replicas, or set it to 0 for no limit"
            )


@dataclass
class Asked:
    """One prompt's result from a teacher: the candidate, what to cache (valid answers only), requests it took."""

    candidate: Candidate
    to_cache: dict | None
    calls: int
    completion_tokens: int = 0


# Prompts per batch after the probe: what a crash can lose. Each batch ends by draining the fleet (~one request's
# latency of partly idle replicas), so batches are large.
CACHE_CHECKPOINT = 5000


def estimated_tokens(messages: list[dict]) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 4 * len(messages)


def correction(messages: list[dict], text: str, error: str) -> list[dict]:
    """The messages of the one retry after an invalid answer: the model is told what was wrong."""
    return [
        *messages,
        {"role": "assistant", "content": text},
        {"role": "user", "content": f"That answer is invalid ({error}). Answer again with valid JSON only."},
    ]


Progress = Callable[[str], None]


class Teacher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def enrich(
        self,
        records: list[ReviewRecord],
        cache_factory: Callable[[str, str], TeacherCache] | None = None,
        progress: Progress = log.info,
        budget: TeacherBudget | None = None,
    ) -> tuple[list[Candidate], EnrichmentReport]:
        """One candidate per record, in order, and what it cost. `cache_factory(model, digest)` opens the cache;
        `budget` refuses an enrichment larger than allowed (BudgetExceeded) before it is paid for."""

    def answer_prompts(
        self,
        prompts: list[dict],
        progress: Progress = log.info,
        cache_factory: Callable[[str, str], TeacherCache] | None = None,
    ) -> tuple[list[dict] | None, str]:
        """The teacher as one more reviewer in the evaluation: its answers to the student's own prompts
        (`[{"id", "messages"}]` -> `[{"id", "answer"}]`), or (None, why) when there is no teacher model.
        Items it failed on are left out (the list is shorter, `why` says how many and the first error)."""
        return None, "no teacher model"

    def _complete(
        self, messages: list[list[dict]], schema: dict, model: str, progress: Progress, judging: bool = False
    ) -> list[tuple[str | None, str]]:
        """One structured completion per conversation, in order: (text, "") or (None, the error). `judging`: the
        judge's requests (which may go to other replicas). A teacher without a model (the human comments, structured)
        asks nobody: every conversation fails with that reason; the model-backed teachers override this."""
        return [(None, f"{type(self).__name__} asks no model") for _ in messages]

    def _judge_target(self) -> tuple[str | None, str]:
        """(the judge model, "") when one answers, else (None, why)."""
        return None, "no judge model"

    def judge(
        self,
        requests: list[tuple[str, dict, str]],
        cache_factory: Callable[[str, str], TeacherCache] | None = None,
        progress: Progress = log.info,
    ) -> tuple[dict[str, dict[str, JudgeVerdict]] | None, str]:
        """Grade each (compared model, evaluation item, its answer) against the item's gold review (core/judge.py):
        model -> item id -> verdict, and why some or all are missing (failed or invalid judgements are counted in
        it, never scored). Verdicts are cached by judge model + rubric version + item + answer."""
        judge_model, why = self._judge_target()
        if judge_model is None:
            return None, why
        # Its own cache folder, so opening it never prunes the teacher's answers of the same model.
        cache = cache_factory(f"judge-{judge_model}", f"rubric-{RUBRIC_VERSION}") if cache_factory else None
        keys = [judge_key(judge_model, item, answer) for _, item, answer in requests]
        found: dict[str, JudgeVerdict] = {}
        for key in keys:
            hit = cache.get(key) if cache is not None else None
            if hit is not None and "verdict" in hit:
                found[key] = JudgeVerdict.model_validate(hit["verdict"])
        todo = {key: (item, answer) for key, (_, item, answer) in zip(keys, requests) if key not in found}
        progress(f"judge {judge_model}: {len(requests)} answers to grade, {len(requests) - len(todo)} cached")
        texts = (
            self._complete(
                [judge_messages(item, answer) for item, answer in todo.values()],
                JudgeVerdict.model_json_schema(),
                judge_model,
                progress,
                judging=True,
            )
            if todo
            else []
        )
        errors = []
        for key, (text, error) in zip(todo, texts, strict=True):
            verdict = parse_verdict(text) if text is not None else None
            if verdict is None:
                errors.append(error or f"invalid verdict: {(text or '')[:100]!r}")
                continue
            found[key] = verdict
            if cache is not None:
                cache.put(key, {"verdict": verdict.model_dump(mode="json")})
        if cache is not None:
            cache.flush()
        verdicts: dict[str, dict[str, JudgeVerdict]] = {}
        for key, (model, item, _) in zip(keys, requests):
            if key in found:
                verdicts.setdefault(model, {})[item["id"]] = found[key]
        failed = sum(key not in found for key in keys)
        return verdicts, (f"{failed} of {len(requests)} judgements failed (first: {errors[0][:200]})" if failed else "")

    def _answer_through_cache(
        self,
        prompts: list[dict],
        digest: str,
        cache_factory: Callable[[str, str], TeacherCache] | None,
        progress: Progress,
        ask: Callable[[list[dict]], list[tuple[str | None, str]]],
    ) -> tuple[list[dict], str]:
        """The evaluation's prompts through the same cache and key rules as the enrichment: an answer given once
        (any completed answer: it is what gets scored) is never asked again, so re-evaluating asks nothing."""
        model = self.model  # type: ignore[attr-defined]
        cache = cache_factory(model, digest) if cache_factory else None
        keys = [cache_key(model, digest, p["messages"]) for p in prompts]
        answers: dict[str, str] = {}
        for key in keys:
            hit = cache.get(key) if cache is not None else None
            if hit is not None and "answer" in hit:
                answers[key] = hit["answer"]
        todo = [(key, p) for key, p in zip(keys, prompts) if key not in answers]
        todo = list({key: p for key, p in todo}.items())  # identical prompts are asked once
        progress(
            f"teacher {model}: {len(prompts)} evaluation prompts, {len(prompts) - len(todo)} cached, {len(todo)} to ask"
        )
        errors = []
        for (key, _), (text, error) in zip(todo, ask([p for _, p in todo]) if todo else [], strict=True):
            if text is None:
                errors.append(error)
                continue
            answers[key] = text
            if cache is not None:
                cache.put(key, {"answer": text})
        if cache is not None:
            cache.flush()
        answered = [{"id": p["id"], "answer": answers[key]} for key, p in zip(keys, prompts) if key in answers]
        failed = len(prompts) - len(answered)
        return answered, (f"{failed} of {len(prompts)} items failed (first: {errors[0][:200]})" if failed else "")

    # C901: cache, estimate, budget, probe and the rest are one sequence sharing the report; see the docstring
    def _enrich_through_cache(  # noqa: C901
        self,
        records: list[ReviewRecord],
        digest: str,
        cache_factory: Callable[[str, str], TeacherCache] | None,
        progress: Progress,
        budget: TeacherBudget | None,
        ask: Callable[[list[ReviewRecord]], list[Asked]],
        wave: int,
        rate: Callable[[], float] | None = None,
    ) -> tuple[list[Candidate], EnrichmentReport]:
        """What every model-backed teacher does around its requests: one question per distinct prompt (rows
        with identical messages share its answer), cache hits first, the estimate and the budget before the
        work, the first `wave` prompts as the probe that measures the rate (`rate()` when the client measures it
        better than answers / seconds), then the rest; accounting."""
        model = self.model  # type: ignore[attr-defined]
        budget = budget or TeacherBudget()
        started = time.monotonic()
        report = EnrichmentReport(teacher_model=model, teacher_digest=digest)
        cache = cache_factory(model, digest) if cache_factory else None
        by_key: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_key.setdefault(cache_key(model, digest, teacher_messages(record)), []).append(i)
        report.teacher_prompts_distinct = len(by_key)
        answers: dict[str, Candidate] = {}
        todo: list[str] = []
        for key, rows in by_key.items():
            hit = cache.get(key) if cache is not None else None
            if hit is not None and "review" in hit:
                report.teacher_cache_hits += len(rows)
                answers[key] = Candidate(records[rows[0]], Review.model_validate(hit["review"]), model)
            else:
                todo.append(key)
        report.teacher_prompts_to_ask = len(todo)
        report.teacher_estimated_prompt_tokens = sum(
            estimated_tokens(teacher_messages(records[by_key[key][0]])) for key in todo
        )
        progress(
            f"teacher {model}: {len(records)} rows, {len(by_key)} distinct prompts, {len(by_key) - len(todo)} cached, "
            f"{len(todo)} to ask (~{report.teacher_estimated_prompt_tokens} prompt tokens), {wave} at a time"
        )
        budget.check_prompts(len(todo))

        def collect(keys: list[str]) -> list[Asked]:
            asked = ask([records[by_key[key][0]] for key in keys]) if keys else []
            for key, answer in zip(keys, asked, strict=True):
                report.teacher_calls += answer.calls
                report.teacher_completion_tokens += answer.completion_tokens
                answers[key] = answer.candidate
                if cache is not None and answer.to_cache:
                    cache.put(key, answer.to_cache)
            return asked

        # The probe is real work (its answers are kept): one wave, the fleet's rate at full concurrency.
        probe_started = time.monotonic()
        probe = collect(todo[:wave])
        if probe:
            seconds = max(time.monotonic() - probe_started, 1e-6)
            report.teacher_probe_rate_per_s = round((rate() if rate else 0) or len(probe) / seconds, 3)
            report.teacher_estimated_seconds = round(len(todo) / report.teacher_probe_rate_per_s, 1)
            per_answer = report.teacher_completion_tokens / len(probe)
            report.teacher_estimated_completion_tokens = round(per_answer * len(todo))
            progress(
                f"teacher estimate: {len(todo)} prompts at {report.teacher_probe_rate_per_s}/s measured on "
                f"{len(probe)} -> ~{report.teacher_estimated_seconds:.0f}s, "
                f"~{report.teacher_estimated_completion_tokens} answer tokens"
            )
            try:
                budget.check_hours(report.teacher_estimated_seconds, len(todo))
            except BudgetExceeded:
                if cache is not None:
                    cache.flush()  # the probe's answers were paid for: the next run need not ask them again
                raise
        rest = todo[wave:]
        for start in range(0, len(rest), CACHE_CHECKPOINT):  # bounded batches: a crash keeps what was paid for
            collect(rest[start : start + CACHE_CHECKPOINT])
            progress(f"teacher: {min(start + CACHE_CHECKPOINT, len(rest)) + len(probe)}/{len(todo)} answered")
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

    def _unreachable(self, records: list[ReviewRecord], why: str, progress: Progress):
        """No model answers: fail when required, else the human comments structured by rules, said loudly when
        the user configured the teacher (`configured`) and quietly for the embedded default's host."""
        where, model = self._where(), self.model  # type: ignore[attr-defined]
        message = f"teacher {model} at {where} does not answer ({why})"
        if self.required:  # type: ignore[attr-defined]
            raise RuntimeError(f"{message} and is required")
        candidates, report = HumanCommentTeacher().enrich(records)
        report.teacher_model = f"none (unreachable: {where}: {why})"
        if self.configured:  # type: ignore[attr-defined]
            report.teacher_warning = f"{message}: structuring the human comments instead"
        else:
            progress(f"{message}: no teacher at the default host, structuring the human comments instead")
        return candidates, report

    def _where(self) -> str:
        return "nowhere"


class HumanCommentTeacher(Teacher):
    """No model: the human comment itself, structured by rules (see core/structuring.py)."""

    def enrich(self, records, cache_factory=None, progress=log.info, budget=None):
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
        local: dict = _THREAD_CLIENTS.__dict__
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

    def _chat(
        self, client, messages: list[dict], calls: list[int], schema: dict = _REVIEW_SCHEMA, model: str = ""
    ) -> str:
        import httpx
        import ollama

        for attempt in range(self.max_retries + 1):
            calls[0] += 1
            try:
                response = client.chat(
                    model=model or self.model, messages=messages, format=schema, options={"temperature": 0}
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
            text = error = ""
            for _attempt in range(2):  # one retry, telling the model what was wrong
                text = self._chat(client, messages, calls)
                review, error = parse_review(text, hunk_path=record.path)  # a finding is on the commented hunk's file
                if review is not None:
                    return Candidate(record, review, self.model), {"review": review.model_dump(mode="json")}, calls[0]
                messages = correction(messages, text, error)
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

    def _where(self) -> str:
        return self.host

    judge_model: str = ""  # REVIEW_SLM_JUDGE_MODEL: another pulled model grades the evaluation; "": the teacher

    def _complete(self, messages, schema, model, progress, judging=False):
        def one(conversation: list[dict]) -> tuple[str | None, str]:
            try:
                return self._chat(self._thread_client(), conversation, [0], schema, model), ""
            except Exception as err:  # one item failing must not lose the others' answers
                return None, f"{type(err).__name__}: {str(err)[:200]}"

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, messages))

    def _judge_target(self):
        digest, why = self._probe()
        if digest is None:
            return None, f"judge {self.judge_model or self.model} at {self.host} does not answer ({why})"
        return self.judge_model or self.model, ""

    def answer_prompts(self, prompts, progress=log.info, cache_factory=None):
        """The student's prompts, answered in the student's format (same JSON schema, temperature 0)."""
        from review_slm.core.prompts import student_answer_schema

        digest, why = self._probe()
        if digest is None:
            return None, f"teacher {self.model} at {self.host} does not answer ({why})"
        schema = student_answer_schema()

        def ask(todo: list[dict]) -> list[tuple[str | None, str]]:
            return self._complete([p["messages"] for p in todo], schema, self.model, progress)

        return self._answer_through_cache(prompts, digest, cache_factory, progress, ask)

    def enrich(self, records, cache_factory=None, progress=log.info, budget=None):
        digest, why = self._probe()
        if digest is None:
            return self._unreachable(records, why, progress)

        def ask(todo: list[ReviewRecord]) -> list[Asked]:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                return [Asked(*answer) for answer in pool.map(self._review, todo)]

        return self._enrich_through_cache(records, digest, cache_factory, progress, budget, ask, wave=self.concurrency)
