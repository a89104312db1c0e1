"""`review-slm review` on bad input: a clear message on stderr and a distinct exit code, never a traceback."""

import json
import re

import pytest

from review_slm import cli
from review_slm_tests.resources.vllm_standin import vllm_standin
from review_slm_tests.test_cli import DIFF


def review(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["review", *args, "--endpoint", "http://127.0.0.1:9", "--served-model", "m"])  # never reached
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "content, code, message",
    [
        (None, 4, "no such file"),
        ("folder", 4, "is a folder"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 5, "binary data"),
        ("café".encode("latin-1") + b"\n@@ -1 +1 @@\n+x", 5, "not UTF-8 text (byte 0xe9"),
        (b"just some prose, no diff at all\n", 6, "no unified-diff hunk"),
        (
            b"--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # x\n+more\n",
            6,
            "no hunk to review (files: README.md (not Go, Python or Kubernetes YAML))",
        ),
        (DIFF.encode() * 50, 7, "larger than --max-bytes=1,000"),
    ],
)
def test_bad_input_gets_a_message_and_its_own_exit_code(tmp_path, capsys, content, code, message):
    path = tmp_path / "input.diff"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    got, out, err = review(capsys, str(path), "--max-bytes", "1000")
    assert (got, out) == (code, "") and message in err and "Traceback" not in err


def test_long_hunks_are_reviewed_in_windows_and_long_inputs_report_progress(tmp_path, capsys):
    body = "".join(f"+\tx{i} := f({i})\n" for i in range(300))
    hunks = "".join(
        f"--- a/pkg/f{n}.go\n+++ b/pkg/f{n}.go\n@@ -1,1 +1,301 @@\n func f{n}() {{\n{body}" for n in range(3)
    )
    path = tmp_path / "big.diff"
    path.write_text(hunks)
    with vllm_standin() as (url, state):
        assert cli.main(["review", str(path), "--endpoint", url, "--max-hunk-lines", "50"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    # 301 lines in windows of at most 50: 7 windows per hunk, nothing cut.
    assert result["hunks_reviewed"] == 21 and result["not_reviewed"] == [] and "truncated_hunks" not in result
    assert "3 long hunk(s) reviewed in windows: pkg/f0.go (7), pkg/f1.go (7), pkg/f2.go (7)" in err
    assert "reviewing hunks 1-16 of 21" in err and "reviewing hunks 17-21 of 21" in err
    prompts = [
        m[1]["content"] for m in (r["body"]["messages"] for r in state.requests) if "pkg/f1.go" in m[1]["content"]
    ]
    # Every line reaches the model once, numbered with its own new-file line (x{i} is line i + 2).
    shown = sorted((int(n), int(i)) for p in prompts for n, i in re.findall(r"^\s*(\d+) \+\tx(\d+) :=", p, re.M))
    assert shown == [(i + 2, i) for i in range(300)]
