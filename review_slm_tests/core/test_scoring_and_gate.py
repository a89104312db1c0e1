import json

import pytest

from review_slm.core.metrics import compute_metrics, markdown_table
from review_slm.core.pairing import build_preference_pairs
from review_slm.core.prompts import parse_review, render_review
from review_slm.core.schema import Finding, Review
from review_slm.core.scoring import answer_shape, score_answer
from review_slm.evaluate.promotion_gate import promotion_decision

BUG = Review(
    findings=[Finding(path="a.go", line=10, severity="high", category="concurrency", comment="race")], summary="race"
)
CLEAN = Review(findings=[], summary="No issues found.")


def answer(*lines, path="a.go", severity="high"):
    return json.dumps(
        {
            "findings": [
                {
                    "path": path,
                    "line": ln,
                    "severity": severity,
                    "category": "correctness",
                    "comment": "x",
                    "suggestion": "",
                }
                for ln in lines
            ],
            "summary": "s",
        }
    )


def test_rubric_kinds():
    assert score_answer(answer(12), BUG).kind == "ok"  # within 3 lines
    assert score_answer(answer(20), BUG).kind == "missed_findings"
    assert score_answer(answer(10, 30), BUG).kind == "wrong_findings"
    assert score_answer(answer(), BUG).kind == "lazy_no_issues"
    assert score_answer(answer(1), CLEAN).kind == "false_alarm"
    assert score_answer("Looks fine to me", BUG).kind == "invalid_format"
    assert score_answer(answer(10, path="b.go"), BUG).matched == 0


def test_answer_shape_tells_the_empty_review_from_a_no_issues_summary_followed_by_findings():
    contradiction = render_review(BUG.model_copy(update={"summary": "No issues found."}))
    assert answer_shape(render_review(CLEAN), "a.go") == "empty_review"
    assert answer_shape(contradiction, "a.go") == "no_issues_with_findings"
    # Clean accuracy counts the findings, not the summary: the contradiction is a false alarm.
    assert score_answer(contradiction, CLEAN, hunk_path="a.go").kind == "false_alarm"
    assert answer_shape(render_review(BUG), "a.go") == "findings"
    assert answer_shape('{"summary": "No issues found.", "findings": [', "a.go") == "invalid_format"


def test_the_student_answer_has_no_path_and_parsing_puts_the_hunk_file_back():
    rendered = render_review(BUG)
    assert rendered == (
        '{"summary": "race", "findings": [{"line": 10, "severity": "high", "category": "concurrency", '
        '"comment": "race"}]}'
    )  # no path, no empty suggestion, the summary first
    assert parse_review(rendered, hunk_path="a.go")[0] == BUG
    review, error = parse_review(rendered)  # without the hunk, a finding without a file is not a review
    assert review is None and "path" in error
    # Another file, or a garbled copy of this one, is the hunk's file: a review of one hunk is about that file.
    assert parse_review(answer(10, path="pkg/a/a/a/a.go"), hunk_path="a.go")[0].findings[0].path == "a.go"
    assert score_answer(answer(10, path="b.go"), BUG, hunk_path="a.go").kind == "ok"


def test_parse_review_explains_what_is_wrong():
    review, error = parse_review('{"findings": [{"path": "a", "line": 1, "severity": "urgent"}], "summary": ""}')
    assert review is None and "severity" in error


def test_metrics_punish_flagging_everything_and_lazy_answers():
    golds = [BUG, CLEAN]
    perfect = compute_metrics([answer(10), answer()], golds)
    flag_all = compute_metrics([answer(10), answer(1)], golds)
    lazy = compute_metrics([answer(), answer()], golds)
    assert perfect.score == pytest.approx(1.0)
    assert flag_all.clean_accuracy == 0.0 and flag_all.score < perfect.score
    assert lazy.no_issues_rate_on_buggy == 1.0 and lazy.score < perfect.score
    table = markdown_table({"candidate": perfect.as_dict(), "base": lazy.as_dict()})
    assert "| f1 | 1.000 | 0.000 |" in table


def test_gate_refuses_regressions_and_lazy_collapse():
    ref = {"score": 0.5, "no_issues_rate_on_buggy": 0.1}
    assert promotion_decision({"score": 0.49, "no_issues_rate_on_buggy": 0.1}, ref, "champion", 0.02).passed
    worse = promotion_decision({"score": 0.4, "no_issues_rate_on_buggy": 0.1}, ref, "champion", 0.02)
    assert not worse.passed and "champion" in worse.reason
    lazier = promotion_decision({"score": 0.6, "no_issues_rate_on_buggy": 0.5}, ref, "champion", 0.02)
    assert not lazier.passed and "no-issues" in lazier.reason


def test_preference_pairs_take_weak_answers_as_rejected():
    examples = [
        {
            "id": "1",
            "path": "a.go",
            "language": "go",
            "diff_hunk": "@@ -1 +1 @@\n+x",
            "review": BUG.model_dump(mode="json"),
        },
        {
            "id": "2",
            "path": "a.go",
            "language": "go",
            "diff_hunk": "@@ -1 +1 @@\n+y",
            "review": BUG.model_dump(mode="json"),
        },
    ]
    out = build_preference_pairs(examples, {"1": answer(), "2": answer(10)}, reject_lazy=False)
    assert out.kinds == {"lazy_no_issues": 1, "matched_gold": 1}
    pair = out.pairs[0]
    assert pair["chosen"][0]["content"] == render_review(BUG) and pair["rejected"][0]["content"] == answer()
    assert pair["prompt"][-1]["role"] == "user"


def test_every_buggy_prompt_also_rejects_the_lazy_answer():
    examples = [
        {
            "id": str(i),
            "path": "a.go",
            "language": "go",
            "diff_hunk": "@@ -1 +1 @@\n+x",
            "review": r.model_dump(mode="json"),
        }
        for i, r in enumerate([BUG, BUG, CLEAN])
    ]
    out = build_preference_pairs(examples, {"0": answer(), "1": answer(10), "2": answer()})
    # The lazy answer of "0" is its own pair; "1" matched gold but still learns that "no issues" is wrong;
    # the clean diff gets none: "No issues found." is right there.
    assert out.kinds == {"lazy_no_issues": 1, "matched_gold": 2, "synthetic_lazy": 1}
    (synthetic,) = [p for p in out.pairs if p["rejected_kind"] == "synthetic_lazy"]
    assert synthetic["id"] == "1" and parse_review(synthetic["rejected"][0]["content"], "a.go")[0] == CLEAN


def test_pairs_go_both_ways_on_clean_prompts_the_empty_review_beats_invented_findings():
    """Clean prompts (hunks reviewers let pass): an answer with findings is rejected against the empty review; one
    already empty still learns it from an invented finding (synthetic_noise), the mirror of synthetic_lazy. A lazy
    "LGTM" row that is not clean gets no noise pair."""

    def ex(i: int, review: Review) -> dict:
        hunk = f"@@ -1,1 +1,3 @@\n a\n+x{i}\n+y{i}"
        return {"id": str(i), "path": "b.go", "language": "go", "diff_hunk": hunk, "review": review.model_dump()}

    examples = [ex(0, BUG), {**ex(1, CLEAN), "clean": True}, {**ex(2, CLEAN), "clean": True}, ex(3, CLEAN)]
    lazy = render_review(CLEAN)
    out = build_preference_pairs(examples, {"0": answer(10), "1": answer(2, path="b.go"), "2": lazy, "3": lazy})
    assert out.kinds == {"synthetic_lazy": 1, "matched_gold": 3, "clean_false_alarm": 1, "synthetic_noise": 1}
    assert out.by_prompt == {"buggy": 1, "clean": 2}
    by_kind = {p["rejected_kind"]: p for p in out.pairs}
    assert by_kind["clean_false_alarm"]["id"] == "1" and by_kind["synthetic_noise"]["id"] == "2"
    for pair in (by_kind["clean_false_alarm"], by_kind["synthetic_noise"]):
        assert parse_review(pair["chosen"][0]["content"], "b.go")[0] == CLEAN
    invented, _ = parse_review(by_kind["synthetic_noise"]["rejected"][0]["content"], "b.go")
    assert [(f.path, f.line, f.comment) for f in invented.findings] == [("b.go", 3, "race")]
    quiet = build_preference_pairs(examples, {"0": answer(10), "2": lazy}, reject_noise=False)
    assert "synthetic_noise" not in quiet.kinds


def test_gate_refuses_a_candidate_that_trades_collapse_for_noise_or_back():
    """Curing the collapse by finding something on every clean hunk is refused, and so is the reverse, even when
    the score says the candidate is better; a move on either within the tolerance passes."""
    ref = {"score": 0.5, "no_issues_rate_on_buggy": 0.6, "clean_accuracy": 0.8, "false_findings_per_clean": 0.2}
    noisy = {"score": 0.6, "no_issues_rate_on_buggy": 0.0, "clean_accuracy": 0.0, "false_findings_per_clean": 1.4}
    refused = promotion_decision(noisy, ref, "champion", 0.05)
    assert not refused.passed and refused.clean_accuracy_delta == -0.8
    assert "noise" in refused.reason and "1.40 false findings per clean hunk" in refused.reason
    assert "no-issues" not in refused.reason
    quiet = {"score": 0.6, "no_issues_rate_on_buggy": 0.9, "clean_accuracy": 1.0}
    collapsed = promotion_decision(quiet, ref, "champion", 0.05)
    assert not collapsed.passed and "no-issues" in collapsed.reason and "noise" not in collapsed.reason
    within = {"score": 0.5, "no_issues_rate_on_buggy": 0.2, "clean_accuracy": 0.76}
    assert promotion_decision(within, ref, "champion", 0.05).passed


def test_false_findings_per_clean_hunk_counts_the_noise():
    answers = [answer(1, 2), answer(), answer(10)]
    m = compute_metrics(answers, [CLEAN, CLEAN, BUG], ["a.go"] * 3)
    assert (m.clean_accuracy, m.false_findings_per_clean) == (0.5, 1.0)
