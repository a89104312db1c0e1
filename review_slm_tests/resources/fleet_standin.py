"""A stand-in for a fleet of OpenAI-compatible replicas (tests and benches only), of known capacity and latency.

Each replica serves `/v1/models` and `/v1/chat/completions` like vLLM: up to `capacity` requests are
processed at once, each taking `latency_s` (continuous batching: a full batch is as fast as one
request), and more wait in its queue. A replica can answer its first requests with scripted failures
(`fail_first`: e.g. [503, 503, 500]), with `Retry-After` when set. Every answered prompt is recorded,
so a test can tell that each prompt was answered once, by which replica.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from review_slm_tests.servers import serve

ANSWER = {
    "findings": [
        {
            "path": "a.go",
            "line": 3,
            "severity": "high",
            "category": "resource-leak",
            "comment": "The response body is never closed.",
            "suggestion": "defer resp.Body.Close()",
        }
    ],
    "summary": "Leaks the HTTP body.",
}


@dataclass
class ReplicaState:
    model: str = "teacher"
    capacity: int = 8
    latency_s: float = 0.0
    fail_first: list[int] = field(default_factory=list)  # statuses of the first POSTs, one each
    retry_after: str | None = None  # sent with every error answer
    fail_for_s: float = 0.0  # answers 503 and 500 in turn for this long after its first request (still loading)
    answer: str = json.dumps(ANSWER)
    # The review a prompt is answered with, when set (else `answer` for every prompt): see `restating`.
    answer_for: Callable[[str], str] | None = None
    # What a judge request (response_format named "verdict") is answered: a verdict per answer, by a rule of thumb.
    verdict: Callable[[str], dict] = field(default_factory=lambda: _verdict)
    answered: Counter = field(default_factory=Counter)  # first user message (the prompt) -> times answered
    posts: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    bodies: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.slots = threading.Semaphore(self.capacity)
        self.in_flight = 0
        self.started = 0.0


def _verdict(user: str) -> dict:
    """A stand-in judge: an answer naming the gold problem's words is right; prose is wrong on every count."""
    answer = user.split("<answer>", 1)[1]
    right = "findings" in answer and "never closed" in answer
    return {c: right for c in ("correct_problem", "right_line", "actionable", "right_severity")} | {"rationale": "-"}


def restating(user: str) -> str:
    """A review restating the prompt's human comment on its line, as a teacher does: answers differ as the rows do
    (one answer for every prompt is what the gold set's template-poisoning gate quarantines)."""
    on_line = re.search(r"is on line (\d+)\.", user)
    comment = user.split("<human_comment>\n", 1)[-1].split("\n</human_comment>", 1)[0].strip() or "Looks fine."
    finding = ANSWER["findings"][0] | {"line": int(on_line.group(1)) if on_line else 1, "comment": comment}
    return json.dumps({"findings": [finding], "summary": comment[:60]})


def _prompt(body: dict) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def _handler(state: ReplicaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's server: no connection set up per request

        def log_message(self, *args):
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            if status != 200 and state.retry_after is not None:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/v1/models":
                return self._reply(200, {"object": "list", "data": [{"id": state.model, "object": "model"}]})
            self._reply(404, {"error": "no route"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with state.lock:
                state.posts += 1
                state.started = state.started or time.monotonic()
                status = state.fail_first.pop(0) if state.fail_first else 200
                if time.monotonic() - state.started < state.fail_for_s:
                    status = (503, 500)[state.posts % 2]
            if status != 200:
                return self._reply(status, {"error": {"message": "replica unavailable"}})
            if body.get("model") != state.model:
                return self._reply(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
            with state.slots:  # at most `capacity` at once, the rest wait their turn (vLLM's queue)
                with state.lock:
                    state.in_flight += 1
                    state.peak = max(state.peak, state.in_flight)
                    state.bodies.append(body)
                time.sleep(state.latency_s)
                with state.lock:
                    state.in_flight -= 1
                    state.answered[_prompt(body)] += 1
            user = _prompt(body)
            invalid = "always-bad" in user or ("retry-me" in user and len(body["messages"]) == 2)
            content = "not json" if invalid else (state.answer_for(user) if state.answer_for else None)
            if body.get("response_format", {}).get("json_schema", {}).get("name") == "verdict":
                content = json.dumps(state.verdict(user))
            self._reply(
                200,
                {
                    "object": "chat.completion",
                    "model": state.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content or state.answer}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140},
                },
            )

    return Handler


@contextmanager
def fleet_standin(states: list[ReplicaState]) -> Iterator[list[str]]:
    """Base URLs (ending in /v1) of one stand-in replica per state."""
    with ExitStack() as stack:
        yield [f"{stack.enter_context(serve(_handler(s), backlog=1024))}/v1" for s in states]
