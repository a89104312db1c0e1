"""bench/quiet_signal.py: the balanced preference step's pairs, where a global switch of the decision gains nothing."""

import importlib.util
import sys
from pathlib import Path

import pytest

from review_slm.core.pairing import LAZY_ANSWER
from review_slm.core.schema import Finding, Review

BENCH = Path(__file__).resolve().parents[2] / "bench"
BUG = Review(
    findings=[Finding(path="a.go", line=2, severity="high", category="concurrency", comment="race")], summary="r"
)


@pytest.fixture(scope="module")
def quiet_signal():
    # bench/ is a folder of scripts that import each other by name: load the file with its folder on the path.
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("quiet_signal", BENCH / "quiet_signal.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def row(i: int, hunk: str, language: str = "go", clean: bool = False) -> dict:
    review = Review(findings=[], summary="No issues found.") if clean else BUG
    path = "a.go" if language == "go" else "a.py"
    return {
        "id": f"r{i}",
        "path": path,
        "language": language,
        "diff_hunk": hunk,
        "review": review.model_dump(),
        "clean": clean,
    }


def test_each_clean_prompt_gets_its_own_most_similar_buggy_prompt_of_its_language(quiet_signal):
    clean = [row(0, "@@ -1 +1,2 @@\n+mu.Lock()\n+count++", clean=True), row(1, "@@ -1 +1 @@\n+mu.Lock()", clean=True)]
    buggy = [
        row(2, "@@ -1 +1,2 @@\n+mu.Lock()\n+count++", language="python"),  # identical, but another language
        row(3, "@@ -1 +1,2 @@\n+mu.Lock()\n+total++"),
        row(4, "@@ -1 +1 @@\n+mu.Lock()"),
        row(5, "@@ -1 +1 @@\n+fmt.Println(x)"),
    ]
    near = quiet_signal.nearest_buggy(clean, buggy)
    # r0 takes r3 (same language, most tokens shared), r1 then r4: no buggy prompt is used twice.
    assert [r["id"] for r in near] == ["r3", "r4"]


def test_balanced_pairs_choose_the_empty_review_as_often_as_they_reject_it(quiet_signal):
    rows = [row(i, f"@@ -1 +1,2 @@\n+a{i}\n+b", clean=True) for i in range(3)]
    rows += [row(10 + i, f"@@ -1 +1,2 @@\n+a{i}\n+c") for i in range(6)]
    answers = {r["id"]: LAZY_ANSWER for r in rows}  # a collapsed model: the empty review everywhere
    pairs = quiet_signal.balanced_pairs(rows, answers)
    chose_empty = [p for p in pairs if p["chosen"][0]["content"] == LAZY_ANSWER]
    rejected_empty = [p for p in pairs if p["rejected"][0]["content"] == LAZY_ANSWER]
    assert len(chose_empty) == len(rejected_empty) == 3 and len(pairs) == 6
    assert {p["id"] for p in chose_empty} == {"r0", "r1", "r2"}
    assert {p["id"] for p in rejected_empty} == {"r10", "r11", "r12"}  # the nearest: same a<i>, same shape
    more = quiet_signal.balanced_pairs(rows, answers, extra_lazy=2)
    assert sum(p["rejected"][0]["content"] == LAZY_ANSWER for p in more) == 5
