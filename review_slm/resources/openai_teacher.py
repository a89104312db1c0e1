"""The teacher on any OpenAI-compatible server: vLLM, SGLang, TGI, NIM, KServe, or a hosted API.

`REVIEW_SLM_TEACHER_URL` names one or more replicas (base URLs ending in `/v1`); requests go through
clients/fleet.py, many in flight, spread by outstanding work. The prompts, the JSON schema (sent as
`response_format: json_schema`), the validation with one corrective retry, the cache and the
accounting are the Ollama teacher's (resources/teacher.py). The cache key is the model name, a
revision the user can bump (`model_revision`, since a served model has no digest to read) and the
messages: which replica answered does not matter.

API keys are read from the environment when a request is made, never held in the resource's config
(which the Dagster UI shows): `REVIEW_SLM_TEACHER_API_KEYS` (comma-separated, in the order of the
URLs; an empty entry falls back) or `OPENAI_API_KEY`.
"""

from __future__ import annotations

import logging
import os

import httpx

from review_slm.core.gold import Candidate
from review_slm.core.prompts import parse_review, student_answer_schema, teacher_messages
from review_slm.core.schema import Review, ReviewRecord
from review_slm.resources.teacher import (
    Asked,
    Progress,
    Teacher,
    correction,
)
from review_slm.resources.teacher_fleet import Fleet, Outcome, Replica

log = logging.getLogger(__name__)


def api_keys(count: int) -> list[str]:
    fallback = os.environ.get("OPENAI_API_KEY", "")
    per_url = [k.strip() for k in os.environ.get("REVIEW_SLM_TEACHER_API_KEYS", "").split(",")]
    return [(per_url[i] if i < len(per_url) and per_url[i] else fallback) for i in range(count)]


def _content(outcome: Outcome) -> str:
    return (outcome.body or {}).get("choices", [{}])[0].get("message", {}).get("content") or ""


def _completion_tokens(outcome: Outcome) -> int:
    return int(((outcome.body or {}).get("usage") or {}).get("completion_tokens") or 0)


class OpenAITeacher(Teacher):
    urls: list[str]
    model: str
    required: bool = False
    configured: bool = True  # a URL is always the user's choice: not answering is a WARNING
    model_revision: str = "served"  # part of the cache key: bump it when the served weights change
    timeout_s: float = 120.0
    concurrency: int = 64  # in flight over the fleet: vLLM batches continuously, one replica serves dozens at once
    per_replica_concurrency: int = 32
    max_attempts: int = 6  # per request, over all replicas
    max_tokens: int = 1024
    probe_after_s: float = 1.0  # a replica taken out is probed again after this long, doubling while it fails

    judge_model: str = ""  # REVIEW_SLM_JUDGE_MODEL; "": the teacher model grades the evaluation
    judge_urls: list[str] = []  # REVIEW_SLM_JUDGE_URL; empty: the teacher's replicas

    def fleet(self, urls: list[str] | None = None) -> Fleet:
        urls = urls or self.urls
        return Fleet(
            [Replica(url, key) for url, key in zip(urls, api_keys(len(urls)))],
            concurrency=self.concurrency,
            per_replica=self.per_replica_concurrency,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            probe_after_s=self.probe_after_s,
        )

    def _probe(self, model: str = "", urls: list[str] | None = None) -> tuple[str | None, str]:
        """(the cache digest, "") when some replica serves the model, else (None, why)."""
        model, urls = model or self.model, urls or self.urls
        served, errors = set(), []
        for url, key in zip(urls, api_keys(len(urls))):
            try:
                response = httpx.get(f"{url.rstrip('/')}/models", headers=Replica(url, key).headers(), timeout=5.0)
                response.raise_for_status()
                served.update(m.get("id") for m in response.json().get("data", []))
            except (httpx.HTTPError, ValueError) as err:
                errors.append(f"{url}: {type(err).__name__}: {str(err)[:120]}")
        if model in served:
            return self.model_revision, ""
        if served:
            return None, f"model {model!r} is not served (served: {sorted(served)[:5]})"
        return None, "; ".join(errors) or "no URL"

    def _body(self, messages: list[dict], schema: dict, name: str, model: str = "") -> dict:
        return {
            "model": model or self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
        }

    def _ask(self, fleet: Fleet, records: list[ReviewRecord], progress: Progress) -> list[Asked]:
        """Every record's review: all asked at once, then the invalid ones once more, told what was wrong."""
        schema = Review.model_json_schema()
        messages = [teacher_messages(r) for r in records]
        asked: list[Asked | None] = [None] * len(records)
        calls, tokens = [0] * len(records), [0] * len(records)
        pending = list(range(len(records)))
        error = {}
        for round_ in range(2):
            outcomes = fleet.post_all([self._body(messages[i], schema, "review") for i in pending], progress)
            retry = []
            for i, outcome in zip(pending, outcomes, strict=True):
                calls[i] += outcome.attempts
                tokens[i] += _completion_tokens(outcome)
                if outcome.body is None:
                    failed = f"teacher call failed: {outcome.error} (after {outcome.attempts} attempts)"
                    asked[i] = Asked(
                        Candidate(records[i], None, self.model, error=failed, failure="teacher_failed"),
                        None,
                        calls[i],
                        tokens[i],
                    )
                    continue
                text = _content(outcome)
                review, error[i] = parse_review(text, hunk_path=records[i].path)
                if review is not None:
                    asked[i] = Asked(
                        Candidate(records[i], review, self.model),
                        {"review": review.model_dump(mode="json")},
                        calls[i],
                        tokens[i],
                    )
                elif round_ == 0:
                    messages[i] = correction(messages[i], text, error[i])
                    retry.append(i)
                else:
                    invalid = f"teacher answer invalid twice: {error[i]}"
                    asked[i] = Asked(
                        Candidate(records[i], None, self.model, error=invalid, failure="teacher_invalid"),
                        None,
                        calls[i],
                        tokens[i],
                    )
            pending = retry
        return asked  # type: ignore[return-value]

    def _where(self) -> str:
        return ", ".join(self.urls)

    def enrich(self, records, cache_factory=None, progress=log.info, budget=None):
        digest, why = self._probe()
        if digest is None:
            return self._unreachable(records, why, progress)
        fleet = self.fleet()
        candidates, report = self._enrich_through_cache(
            records,
            digest,
            cache_factory,
            progress,
            budget,
            lambda todo: self._ask(fleet, todo, progress),
            wave=self.concurrency,
            rate=fleet.rate,
        )
        report.teacher_requests_per_replica = ", ".join(f"{u}={n}" for u, n in fleet.stats.per_replica.items())
        return candidates, report

    def answer_prompts(self, prompts, progress=log.info, cache_factory=None):
        digest, why = self._probe()
        if digest is None:
            return None, f"teacher {self.model} at {self._where()} does not answer ({why})"
        schema = student_answer_schema()

        def ask(todo: list[dict]) -> list[tuple[str | None, str]]:
            return self._complete([p["messages"] for p in todo], schema, self.model, progress)

        return self._answer_through_cache(prompts, digest, cache_factory, progress, ask)

    def _complete(
        self, messages: list[list[dict]], schema: dict, model: str, progress: Progress, judging: bool = False
    ) -> list[tuple[str | None, str]]:
        urls = (self.judge_urls or self.urls) if judging else self.urls
        name = "verdict" if judging else "answer"
        outcomes = self.fleet(urls).post_all([self._body(m, schema, name, model) for m in messages], progress)
        return [(_content(o), "") if o.body is not None else (None, o.error) for o in outcomes]

    def _judge_target(self):
        model, urls = self.judge_model or self.model, self.judge_urls or self.urls
        digest, why = self._probe(model, urls)
        if digest is None:
            return None, f"judge {model} at {', '.join(urls)} does not answer ({why})"
        return model, ""
