"""The champion served locally (`make serve`): is it up, and does it review?

`transformers serve` keeps the weights it loaded; after `deployed_endpoint` copied a new champion
into the folder it serves, `POST /reset` unloads them so the next request reads the new ones (vLLM
has no such route: it answers 404 and keeps serving what it loaded until restarted, which the smoke
result says).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from review_slm.core.prompts import parse_review, student_messages
from review_slm.reviewer.endpoint_client import EndpointError, chat_answers, served_models

SMOKE_HUNK = (
    "@@ -40,2 +40,5 @@ func (p *Pool) Start() {\n"
    " \tfor i := 0; i < p.size; i++ {\n"
    "+\t\tgo func() {\n"
    "+\t\t\tp.results[i] = work(i)\n"
    "+\t\t}()\n"
    " \t}"
)


@dataclass(frozen=True)
class SmokeReview:
    """One review of a known hunk through the endpoint: how it went, and the model that answered."""

    verdict: str
    served_model: str | None = None


def smoke_review(base_url: str, max_tokens: int = 256, timeout: float = 120.0) -> SmokeReview:
    try:
        models = served_models(base_url, timeout=5.0, retries=0)
    except EndpointError as err:
        return SmokeReview(f"not running ({err}); start it with `make serve`")
    reloaded = "unknown"
    try:
        reloaded = (
            "reloaded"
            if httpx.post(f"{base_url.rstrip('/')}/reset", timeout=30.0).status_code == 200
            else "not reloaded: restart the server"
        )
    except httpx.HTTPError:
        pass
    model = models[0] if models else None
    prompt = {"id": "smoke", "messages": student_messages("pkg/pool.go", "go", SMOKE_HUNK)}
    started = time.perf_counter()
    try:
        [answer] = chat_answers(base_url, model, [prompt], max_tokens, concurrency=1, timeout=timeout)
    except EndpointError as err:
        return SmokeReview(f"failed: {err}", model or "(pinned)")
    seconds = time.perf_counter() - started
    review, error = parse_review(answer["answer"], hunk_path="pkg/pool.go")
    verdict = (
        f"ok: a valid review with {len(review.findings)} finding(s) in {seconds:.1f}s"
        if review
        else f"answered in {seconds:.1f}s, but not a valid review ({error})"
    )
    return SmokeReview(f"{verdict}; weights {reloaded}", model or "(pinned)")
