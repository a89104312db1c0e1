"""Ask an OpenAI-compatible chat endpoint (vLLM behind KServe, or any server speaking that API) for reviews.

vLLM serves `/v1/chat/completions` for the model name it was started with (`--served-model-name`,
by default the model path) and for every LoRA adapter loaded into it. Reviews are requested with
`response_format: json_schema` so a server with structured outputs returns only valid reviews; a
server without it still answers, and the caller's parser reports invalid answers.

A busy or restarting server is normal: 408, 429 and 5xx answers, timeouts and refused connections
are retried with exponential backoff (waiting what `Retry-After` asks when the server says), and
every request and every wait fits in one `Deadline` for the whole review, so a review ends by its
time limit whatever the server does. Hand-written on httpx rather than the `openai` SDK: the SDK's
retries restart each attempt's full timeout and sleep up to 60 s for a Retry-After, so they cannot
be held to a review-wide deadline, and it cannot send a request without a model name (what a
server pinned to one model, `transformers serve MODEL`, expects).
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from review_slm.core.prompts import student_answer_schema

RETRIED_STATUS = frozenset({408, 429, 500, 502, 503, 504})
RETRIES = 4  # attempts after the first: with the backoff below, ~7 s of waiting when the server names no delay
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0  # seconds: 0.5, 1, 2, 4 (x0.5-1 jitter, so clients do not retry in step)


class EndpointError(RuntimeError):
    """The endpoint answered with an error (or not at all); the message names the URL and the status."""


class Deadline:
    """The time a whole review may take against the endpoint (`review-slm review --timeout`)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float:
        return float("inf") if self._at is None else self._at - time.monotonic()

    def expired(self, what: str) -> EndpointError:
        return EndpointError(f"{what}: no answer within the review's time limit (--timeout {self.seconds:g} s)")


def review_response_format() -> dict:
    return {"type": "json_schema", "json_schema": {"name": "review", "schema": student_answer_schema()}}


def _headers() -> dict[str, str]:
    # vLLM's --api-key / KServe auth: the token comes from the environment, never from a flag.
    key = os.environ.get("OPENAI_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait (`Retry-After`: delta-seconds or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * random.uniform(0.5, 1.0)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    what: str,
    deadline: Deadline,
    timeout: float,
    retries: int = RETRIES,
    **kwargs,
) -> httpx.Response:
    """The endpoint's answer to one request (a 200), retried as the module says, or an EndpointError."""
    for attempt in range(retries + 1):
        left = deadline.remaining()
        if left <= 0:
            raise deadline.expired(what)
        try:
            response = client.request(method, url, timeout=min(timeout, left), **kwargs)
        except httpx.HTTPError as err:
            if deadline.remaining() <= 0:
                raise deadline.expired(what) from err
            failure, wait = f"{what}: {err}", _backoff(attempt)
            retryable = isinstance(err, httpx.TransportError) and not isinstance(err, httpx.UnsupportedProtocol)
        else:
            if response.status_code == 200:
                return response
            failure = f"{what}: HTTP {response.status_code}: {response.text[:200]}"
            asked = retry_after(response)
            wait = _backoff(attempt) if asked is None else asked
            retryable = response.status_code in RETRIED_STATUS
        if not retryable or attempt == retries:
            raise EndpointError(failure if attempt == 0 else f"{failure} (after {attempt + 1} attempts)")
        if wait >= deadline.remaining():
            limit = f"the review's time limit (--timeout {deadline.seconds:g} s)"
            raise EndpointError(f"{failure}; a retry in {wait:.0f} s would pass {limit}")
        time.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def served_models(
    base_url: str, timeout: float = 10.0, deadline: Deadline | None = None, retries: int = RETRIES
) -> list[str]:
    """The model ids the endpoint serves (`GET /v1/models`): the base model and any loaded adapters.

    `retries=0` asks once: "is it up?" rather than "wait for it".
    """
    url = f"{base_url.rstrip('/')}/v1/models"
    with httpx.Client(headers=_headers()) as client:
        response = send(client, "GET", url, f"GET {url}", deadline or Deadline(None), timeout, retries)
    return [m["id"] for m in response.json().get("data", [])]


def chat_answers(
    base_url: str,
    model: str | None,
    prompts: list[dict],
    max_tokens: int,
    concurrency: int = 4,
    timeout: float = 120.0,
    structured: bool = True,
    deadline: Deadline | None = None,
) -> list[dict]:
    """One greedy completion per prompt (`{"id", "messages"}`), `concurrency` requests at a time.

    `model` None sends no model name: a server pinned to one model (`transformers serve MODEL`) answers with it.
    `timeout` bounds one request; `deadline` all of them, retries and waits included.
    """
    url = f"{base_url.rstrip('/')}/v1/chat/completions"
    deadline = deadline or Deadline(None)

    def ask(client: httpx.Client, prompt: dict) -> dict:
        body = {
            "messages": prompt["messages"],
            "max_tokens": max_tokens,
            "temperature": 0,
            **({"model": model} if model else {}),
        }
        if structured:
            body["response_format"] = review_response_format()
        what = f"POST {url} (prompt {prompt['id']}, model {model!r})"
        response = send(client, "POST", url, what, deadline, timeout, json=body)
        return {"id": prompt["id"], "answer": response.json()["choices"][0]["message"]["content"] or ""}

    with httpx.Client(headers=_headers()) as client:
        pool = ThreadPoolExecutor(max(1, concurrency))
        try:
            futures = [pool.submit(ask, client, p) for p in prompts]
            return [f.result() for f in futures]
        finally:
            # After a failure the prompts not yet sent are dropped rather than asked for an answer nobody reads.
            pool.shutdown(wait=True, cancel_futures=True)
