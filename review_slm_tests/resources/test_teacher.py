"""OllamaTeacher through the real `ollama` client against a local stand-in server (127.0.0.1)."""

import json
from http.server import BaseHTTPRequestHandler

import pytest

from review_slm_tests.servers import serve

from review_slm.core.schema import ReviewRecord
from review_slm.resources.teacher import OllamaTeacher

VALID = {"findings": [{"path": "a.go", "line": 3, "severity": "high", "category": "resource-leak",
                       "comment": "The response body is never closed.", "suggestion": "defer resp.Body.Close()"}],
         "summary": "Leaks the HTTP body."}


class StandIn(BaseHTTPRequestHandler):
    chats: list[dict] = []

    def log_message(self, *args):
        """Keep the test output free of access-log lines."""

    def _reply(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/show":
            return self._reply({"modelfile": "", "details": {"family": "qwen2"}, "model_info": {"general.architecture": "qwen2"}})
        StandIn.chats.append(request)
        user = request["messages"][1]["content"]
        # First answer for the "retry" record is invalid; the corrected one is valid.
        if "retry-me" in user and len(request["messages"]) == 2:
            content = '{"findings": [{"path": "a.go", "line": 3, "severity": "urgent"}], "summary": ""}'
        elif "always-bad" in user:
            content = "I think it is fine"
        else:
            content = json.dumps(VALID)
        self._reply({"model": request["model"], "created_at": "2026-11-21T00:00:00Z",
                     "message": {"role": "assistant", "content": content}, "done": True})


@pytest.fixture
def host():
    StandIn.chats = []
    with serve(StandIn) as url:
        yield url


def rec(i: int, body: str) -> ReviewRecord:
    return ReviewRecord(source="github", source_id=str(i), repo="o/r", path="a.go", line=3, language="go",
                        diff_hunk="@@ -1,2 +1,3 @@\n a\n+resp, _ := http.Get(u)\n b", body=body)


def test_structured_output_retry_and_failure(host):
    teacher = OllamaTeacher(host=host, model="qwen2.5-coder:7b-instruct", concurrency=2)
    name, cands = teacher.enrich([rec(1, "close the body"), rec(2, "retry-me"), rec(3, "always-bad")])
    assert name == "qwen2.5-coder:7b-instruct"
    assert cands[0].review.findings[0].category == "resource-leak"
    assert cands[1].review is not None  # retried once with the error, then valid
    assert cands[2].review is None and "invalid twice" in cands[2].error
    first = StandIn.chats[0]
    assert first["format"]["properties"]["findings"]  # the findings JSON schema constrains the answer
    assert "<human_comment>" in first["messages"][1]["content"] and "untrusted" in first["messages"][0]["content"]


def test_unreachable_teacher_falls_back_or_fails_loudly():
    dead = "http://127.0.0.1:9"
    name, cands = OllamaTeacher(host=dead).enrich([rec(1, "There is a data race on this map.")])
    assert name == "none" and cands[0].review.findings[0].category == "concurrency"
    with pytest.raises(RuntimeError, match="does not answer and is required"):
        OllamaTeacher(host=dead, required=True).enrich([rec(1, "x")])
