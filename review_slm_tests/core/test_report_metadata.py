"""The few samples eval_report shows: taken from each evaluation set, a wrong answer beside a right one, and
fenced so that no answer can close its code block."""

from review_slm.evaluate.report_metadata import code_block, samples_markdown, shown_samples


def record(item: str, set_name: str, verdict: str, answer: str = "{}") -> dict:
    return {
        "id": item,
        "set": set_name,
        "language": "go",
        "path": "a.go",
        "diff_hunk": "@@ -1 +1 @@\n-a\n+b",
        "gold": '{"summary": "ok", "findings": []}',
        "answers": [{"model": "candidate", "answer": answer, "verdict": verdict}],
    }


def test_samples_alternate_sets_and_show_each_verdict_before_repeating_one():
    records = [
        record("t1", "test", "ok"),
        record("t2", "test", "ok"),
        record("t3", "test", "lazy_no_issues"),
        record("b1", "bug_suite", "ok"),
        record("b2", "bug_suite", "ok"),
    ]
    assert [r["id"] for r in shown_samples(records, 4)] == ["t1", "b1", "t3", "b2"]
    assert [r["id"] for r in shown_samples(records[:1], 4)] == ["t1"]


def test_an_answer_with_backticks_cannot_close_its_block():
    answer = 'Sure:\n```json\n{"findings": []}\n```'
    block = code_block(answer, "text")
    assert block.startswith("````text\n") and block.endswith("\n````") and answer in block
    text = samples_markdown([record("t1", "test", "invalid_format", answer)], "/a/samples.parquet")
    assert text.startswith("1 of 1 items; all of them: `/a/samples.parquet`")
    assert "```diff\n@@ -1 +1 @@\n-a\n+b\n```" in text and '  "summary": "ok"' in text  # gold indented
