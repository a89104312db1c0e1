"""The endpoint client against a stand-in that fails the way busy servers do: retried, Retry-After honoured, and
the whole review held to its deadline."""

import email.utils
import time

import httpx
import pytest

from review_slm import cli
from review_slm.reviewer.endpoint_client import Deadline, EndpointError, chat_answers, retry_after
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin

PROMPT = {"id": "0", "messages": [{"role": "user", "content": "review this"}]}


def test_a_503_is_retried_and_the_review_still_comes_back():
    with vllm_standin(VllmState(failures=[503, 502])) as (url, state):
        (answer,) = chat_answers(url, "review-slm", [PROMPT], 32)
    assert len(state.requests) == 3 and "Data race" in answer["answer"]


def test_a_429_waits_what_retry_after_asks():
    with vllm_standin(VllmState(failures=[429], retry_after="1")) as (url, state):
        chat_answers(url, "review-slm", [PROMPT], 32)
    first, second = (r["at"] for r in state.requests)
    assert second - first >= 0.95  # not the ~0.25-0.5 s of the backoff the client would pick itself


def test_a_retry_after_longer_than_the_time_left_fails_now_and_says_so():
    started = time.monotonic()
    with vllm_standin(VllmState(failures=[429], retry_after="30")) as (url, state), pytest.raises(EndpointError) as err:
        chat_answers(url, "review-slm", [PROMPT], 32, deadline=Deadline(5))
    assert time.monotonic() - started < 2 and len(state.requests) == 1
    assert "HTTP 429" in str(err.value) and "--timeout 5 s" in str(err.value)


def test_a_hung_server_ends_at_the_deadline():
    started = time.monotonic()
    with vllm_standin(VllmState(delay=10)) as (url, _state), pytest.raises(EndpointError) as err:
        chat_answers(url, "review-slm", [PROMPT, {**PROMPT, "id": "1"}], 32, deadline=Deadline(1.0))
    assert 0.9 < time.monotonic() - started < 3
    assert "time limit (--timeout 1 s)" in str(err.value)


def test_a_client_error_is_not_retried():
    with vllm_standin(VllmState(status=400)) as (url, state), pytest.raises(EndpointError, match="HTTP 400"):
        chat_answers(url, "review-slm", [PROMPT], 32)
    assert len(state.requests) == 1


def test_retry_after_reads_seconds_and_http_dates():
    def header(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert retry_after(header("7")) == 7.0 and 8 < retry_after(header(in_ten)) <= 10
    assert retry_after(header("soon")) is None and retry_after(httpx.Response(503)) is None


def test_the_cli_review_ends_at_its_timeout_with_the_endpoint_exit_code(tmp_path, capsys):
    from review_slm_tests.test_cli import DIFF

    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    started = time.monotonic()
    with vllm_standin(VllmState(delay=10)) as (url, _state):
        code = cli.main(["review", str(diff), "--endpoint", url, "--served-model", "review-slm", "--timeout", "1"])
    assert code == 3 and time.monotonic() - started < 3
    assert "time limit (--timeout 1 s)" in capsys.readouterr().err
