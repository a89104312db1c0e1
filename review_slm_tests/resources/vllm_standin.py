"""A stand-in for vLLM's OpenAI-compatible server (tests only): models, chat completions, runtime LoRA loading.

It answers every chat completion with `answer` (a fixed review by default), records each request,
and implements `/v1/load_lora_adapter` the way vLLM does with VLLM_ALLOW_RUNTIME_LORA_UPDATING: the
adapter becomes a served model id; loading the same name twice is a 400.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from review_slm_tests.servers import serve

DEFAULT_ANSWER = json.dumps(
    {
        "findings": [
            {
                "path": "pkg/pool.go",
                "line": 41,
                "severity": "high",
                "category": "concurrency",
                "comment": "the goroutine captures the loop variable and writes the map without a lock",
                "suggestion": "pass i as an argument and guard p.m with a mutex",
            }
        ],
        "summary": "Data race on p.m.",
    }
)


@dataclass
class VllmState:
    base_model: str = "review-slm"
    answer: str = DEFAULT_ANSWER
    adapters: dict[str, str] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    status: int = 200  # every POST answers this status (not 200: an error body)
    failures: list[int] = field(default_factory=list)  # statuses the next POSTs answer, one each, before `status`
    retry_after: str | None = None  # the Retry-After header of an error answer
    delay: float = 0.0  # seconds each POST waits before it answers (a hung server: longer than the client waits)


@contextmanager
def vllm_standin(state: VllmState | None = None) -> Iterator[tuple[str, VllmState]]:
    state = state or VllmState()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, status: int, body: dict | str) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            if status >= 400 and state.retry_after is not None:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.path = self.path.removeprefix("/openai")  # KServe's huggingface runtime serves the API under /openai
            if self.path == "/v1/models":
                ids = [state.base_model, *state.adapters]
                return self._reply(200, {"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})
            self._reply(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            self.path = self.path.removeprefix("/openai")
            state.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization"), "at": time.monotonic()}
            )
            time.sleep(state.delay)
            status = state.failures.pop(0) if state.failures else state.status
            if status != 200:
                return self._reply(status, {"error": "unavailable"})
            if self.path == "/v1/chat/completions":
                if body.get("model") not in (state.base_model, *state.adapters):
                    return self._reply(404, {"error": f"The model `{body.get('model')}` does not exist."})
                return self._reply(
                    200,
                    {
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": state.answer},
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )
            if self.path == "/v1/load_lora_adapter":
                if body.get("lora_name") in state.adapters:
                    return self._reply(
                        400, {"error": f"The lora adapter '{body['lora_name']}' has already been loaded."}
                    )
                state.adapters[body["lora_name"]] = body["lora_path"]
                return self._reply(200, f"Success: LoRA adapter '{body['lora_name']}' added successfully.")
            self._reply(404, {"error": f"no route {self.path}"})

    with serve(Handler) as url:
        yield url, state
