"""Real third-party code through ingest and the gold gates (issue 18): the standard library's network clients name
passwords, tokens and keys on every page (`password_mgr=None`, `self.passwd = passwd`, `:param password:`) and hold
no secret. Every hunk reaches the gold set byte-identical (e-mail addresses aside: personal data, redacted by
policy), and the blocking check's detector finds nothing in any kept field."""

import json
import sysconfig
from pathlib import Path

import pytest

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.schema import ReviewRecord
from review_slm.core.scrub import scrub_record
from review_slm.core.secret_rules import find_leaks
from review_slm.core.structuring import structure_human_comment

MODULES = ["urllib/request.py", "smtplib.py", "ftplib.py", "imaplib.py", "poplib.py", "getpass.py", "netrc.py"]
LINES = 20


def _hunks() -> list[tuple[str, str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for module in MODULES:
        lines = (stdlib / module).read_text(encoding="utf-8").splitlines()
        for start in range(0, len(lines), LINES):
            window = lines[start : start + LINES]
            if any(line.strip() for line in window):
                body = "".join(f"+{line}\n" for line in window)
                out.append((f"Lib/{module}", f"@@ -0,0 +{start + 1},{len(window)} @@\n{body}"))
    return out


@pytest.fixture(scope="module")
def gated():
    hunks = _hunks()
    records, found = [], {}
    for i, (path, hunk) in enumerate(hunks):
        raw = ReviewRecord(
            source="hf",
            source_id=f"stdlib-{i}",
            repo="python/cpython",
            path=path,
            line=1,
            language="python",
            diff_hunk=hunk,
            body=f"Window {i} of {path}: check the error path of this block before it ships.",
        )
        record, kinds = scrub_record(raw)  # what ingestion does to a supplement row
        records.append(record)
        found[raw.record_id] = (hunk, kinds, record.diff_hunk)
    candidates = [Candidate(r, structure_human_comment(r), "none") for r in records]
    out = apply_quality_gates(candidates, [], GateConfig(template_min_hunks=10**9, max_example_tokens=1_000_000))
    return hunks, found, out


def test_the_sample_is_the_code_that_was_redacted_before(gated):
    hunks, _, _ = gated
    text = "".join(h for _, h in hunks)
    assert len(hunks) > 300
    for construct in (
        "password_mgr=None",
        "self.passwd = passwd",
        "passwd = getpass.getpass(",
        "user = password = None",
    ):
        assert construct in text, construct


def test_real_code_reaches_the_gold_set_byte_identical_and_the_check_finds_nothing(gated):
    _, found, out = gated
    # The one literal password of the sample, in urllib's docstring example, is a password by its shape: a scanner
    # cannot tell a documentation example from a real one unless it looks like a placeholder (README, Secrets).
    changed = {
        line
        for hunk, kinds, scrubbed in found.values()
        if kinds != ["email_address"]
        for line in set(hunk.splitlines()) - set(scrubbed.splitlines())
    }
    assert changed == {"+                      passwd='geheim$parole')"}
    assert "secret_unredactable" not in out.reason_counts() and len(out.kept) > 0.9 * len(found)
    for example in out.kept:
        original, kinds, _ = found[example.record_id]
        assert example.diff_hunk == original or kinds, example.record_id
        fields = [example.diff_hunk, example.human_comment, json.dumps(example.review.model_dump()), example.path]
        assert [find_leaks(text) for text in fields] == [[]] * len(fields), example.record_id
