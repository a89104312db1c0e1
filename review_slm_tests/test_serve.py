"""`make serve` for real: `python -m review_slm.serve` starts `transformers serve` on the tiny model, and
`review-slm review --endpoint` reviews through it exactly as through KServe (no model name needed)."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from review_slm import cli
from review_slm.core.recipe import load_recipe
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
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = json.loads(capsys.readouterr().out)
    # The random tiny model cannot write a review in 16 tokens; what matters is that the server answered it.
    assert out["hunks_reviewed"] == 1 and len(out["findings"]) + len(out["invalid_answers"]) >= 1
