"""Ask an OpenAI-compatible chat endpoint (vLLM behind KServe, or any server speaking that API) for reviews.

vLLM serves `/v1/chat/completions` for the model name it was started with (`--served-model-name`,
by default the model path) and for every LoRA adapter loaded into it. Reviews are requested with
`response_format: json_schema` so a server with structured outputs returns only valid reviews; a
server without it still answers, and the caller's parser reports invalid answers.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import httpx

from review_slm.core.prompts import student_answer_schema


class EndpointError(RuntimeError):
    """The endpoint answered with an error (or not at all); the message names the URL and the status."""


def review_response_format() -> dict:
    return {"type": "json_schema", "json_schema": {"name": "review", "schema": student_answer_schema()}}


def _headers() -> dict[str, str]:
    # vLLM's --api-key / KServe auth: the token comes from the environment, never from a flag.
    key = os.environ.get("OPENAI_API_KEY")
    return {"Authorization": f"Bearer {key}"} if key else {}


def served_models(base_url: str, timeout: float = 10.0) -> list[str]:
    """The model ids the endpoint serves (`GET /v1/models`): the base model and any loaded adapters."""
    url = f"{base_url.rstrip('/')}/v1/models"
    try:
        response = httpx.get(url, headers=_headers(), timeout=timeout)
    except httpx.HTTPError as err:
        raise EndpointError(f"GET {url}: {err}") from err
    if response.status_code != 200:
        raise EndpointError(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
    return [m["id"] for m in response.json().get("data", [])]


def chat_answers(
    base_url: str,
    model: str | None,
    prompts: list[dict],
    max_tokens: int,
    concurrency: int = 4,
    timeout: float = 120.0,
    structured: bool = True,
) -> list[dict]:
    """One greedy completion per prompt (`{"id", "messages"}`), `concurrency` requests at a time.

    `model` None sends no model name: a server pinned to one model (`transformers serve MODEL`) answers with it.
    """
    url = f"{base_url.rstrip('/')}/v1/chat/completions"

    def ask(client: httpx.Client, prompt: dict) -> dict:
        body = {
            "messages": prompt["messages"],
            "max_tokens": max_tokens,
            "temperature": 0,
            **({"model": model} if model else {}),
        }
        if structured:
            body["response_format"] = review_response_format()
        try:
            response = client.post(url, json=body)
        except httpx.HTTPError as err:
            raise EndpointError(f"POST {url} (prompt {prompt['id']}): {err}") from err
        if response.status_code != 200:
            raise EndpointError(
                f"POST {url} (prompt {prompt['id']}, model {model!r}): HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        return {"id": prompt["id"], "answer": response.json()["choices"][0]["message"]["content"] or ""}

    with httpx.Client(headers=_headers(), timeout=timeout) as client, ThreadPoolExecutor(max(1, concurrency)) as pool:
        return list(pool.map(lambda p: ask(client, p), prompts))
