"""`make serve` for real: `python -m review_slm.serve` starts `transformers serve` on the tiny model, and
`review-slm review --endpoint` reviews through it exactly as through KServe (no model name needed)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from review_slm import cli
from review_slm.core.recipe import load_recipe
from review_slm.serve import cpu_thread_env
from review_slm.training.tiny_model import ensure_tiny_model
from review_slm_tests.test_cli import DIFF

transformers_serve = pytest.importorskip("transformers.utils.import_utils")
if not transformers_serve.is_serve_available():
    pytest.skip("transformers serve needs the `serve` extra (pip install -e '.[serve]')", allow_module_level=True)


def answers(url: str) -> bool:
    """The server is up: it answers its model list (a refused connection means not yet)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_review_through_make_serve(tmp_path, home, model_cache, capsys):
    model_dir = ensure_tiny_model(load_recipe("tiny").tiny_model, model_cache)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "review_slm.serve", "--model", str(model_dir), "--port", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.time() + 180
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            if answers(f"{url}/v1/models"):
                break
            assert time.time() < deadline, log.read_text()[-2000:]
            time.sleep(1)
        diff = tmp_path / "change.diff"
        diff.write_text(DIFF)
        # --allow-incomplete: the random model cannot write a review in 16 tokens (exit 11 otherwise).
        assert cli.main(["review", str(diff), "--endpoint", url, "--max-new-tokens", "16", "--allow-incomplete"]) == 0
        # the tiny recipe's one CPU thread reached the server (it execs transformers serve: same pid)
        if "OMP_NUM_THREADS" not in os.environ:
            assert b"OMP_NUM_THREADS=1\x00" in Path(f"/proc/{server.pid}/environ").read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = json.loads(capsys.readouterr().out)
    # The random tiny model cannot write a review in 16 tokens; what matters is that the server answered it.
    assert out["hunks_reviewed"] == 1 and len(out["findings"]) + len(out["invalid_answers"]) >= 1


def test_the_server_gets_the_recipes_cpu_threads_unless_they_are_set(monkeypatch):
    monkeypatch.setenv("REVIEW_SLM_RECIPE", "tiny")
    assert cpu_thread_env({}) == {"OMP_NUM_THREADS": "1"}
    assert cpu_thread_env({"OMP_NUM_THREADS": "4"}) == {}
    monkeypatch.setenv("REVIEW_SLM_RECIPE", "qwen2.5-coder-1.5b-qlora")  # no cpu_threads: torch's default
    assert cpu_thread_env({}) == {}
