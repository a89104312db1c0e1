"""GRPO's reward functions: each scores what its name says, with TRL's calling convention."""

import json

import pytest

from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import render_review
from review_slm.core.rewards import REWARD_NAMES, make_reward_func, reward_funcs, total_reward
from review_slm.core.schema import Finding, Review

PATH = "pkg/pool.go"
GOLD = Review(
    findings=[Finding(path=PATH, line=42, severity="high", category="concurrency", comment="goroutine leak")],
    summary="High concurrency issue",
)
CLEAN = Review(findings=[], summary="No issues found.")


def answer(line: int = 42, severity: str = "high", n: int = 1) -> str:
    findings = [
        Finding(path=PATH, line=line + 10 * i, severity=severity, category="concurrency", comment="leak")
        for i in range(n)
    ]
    return render_review(Review(findings=findings, summary="s"))


def score(name: str, text: str, gold: Review = GOLD, conversational: bool = True):
    """Call the reward the way GRPOTrainer does: keyword arguments, one value per completion, extra columns."""
    completion = [{"role": "assistant", "content": text}] if conversational else text
    return make_reward_func(name)(
        prompts=[[{"role": "user", "content": "diff"}]],
        completions=[completion],
        gold=[json.dumps(gold.model_dump(mode="json"))],
        path=[PATH],
        completion_ids=[[1]],
        trainer_state=None,
    )[0]


def test_format_rewards_a_valid_review_half_for_json_that_breaks_the_schema_nothing_for_prose():
    assert score("format", answer()) == 1.0
    assert score("format", '{"summary": "s", "findings": [{"line": 3, "severity": "huge"}]}') == 0.5
    assert score("format", "The code looks fine to me") == 0.0
    assert score("format", answer(), conversational=False) == 1.0  # a plain-text completion too


def test_finding_match_is_the_f1_of_findings_on_file_and_line():
    assert score("finding_match", answer(line=44)) == 1.0  # within the ±3 line tolerance
    assert score("finding_match", answer(line=60)) == 0.0
    assert score("finding_match", answer(line=42, n=3)) == pytest.approx(0.5)  # one of three predicted is right
    assert score("finding_match", render_review(NO_ISSUES), gold=CLEAN) == 1.0  # an empty review of a clean diff
    assert score("finding_match", answer(), gold=CLEAN) == 0.0  # a false alarm


def test_severity_grades_matched_findings_and_skips_clean_diffs():
    assert score("severity", answer(severity="high")) == 1.0
    assert score("severity", answer(severity="low")) == 0.0
    assert score("severity", answer(line=90)) == 0.0  # not matched: no severity credit
    assert score("severity", render_review(NO_ISSUES), gold=CLEAN) is None  # TRL leaves None out of the mean


def test_lazy_penalty_only_on_a_buggy_diff():
    assert score("lazy_penalty", render_review(NO_ISSUES)) == -1.0
    assert score("lazy_penalty", "LGTM, no issues") == -1.0  # a lazy phrase that is not even JSON
    assert score("lazy_penalty", answer()) == 0.0
    assert score("lazy_penalty", render_review(NO_ISSUES), gold=CLEAN) == 0.0


def test_length_penalises_answers_past_twice_the_gold():
    gold_len = len(render_review(GOLD))
    assert score("length", answer()) == 0.0
    assert score("length", "x" * (3 * gold_len)) == pytest.approx(-0.5)
    assert score("length", "x" * (10 * gold_len)) == -1.0


def test_reward_funcs_follow_the_recipe_weights_and_are_named_for_trl():
    funcs, weights = reward_funcs({"format": 2.0, "length": 0.0, "lazy_penalty": 1.0})
    assert [f.__name__ for f in funcs] == ["format", "lazy_penalty"] and weights == [2.0, 1.0]  # zero weight left out
    assert set(REWARD_NAMES) == {"format", "finding_match", "severity", "lazy_penalty", "length"}
    with pytest.raises(ValueError, match="unknown reward"):
        reward_funcs({"formatt": 1.0})
    assert total_reward(answer(), GOLD, PATH, {"format": 1.0, "finding_match": 1.0, "severity": 0.5}) == 2.5
    assert total_reward(render_review(NO_ISSUES), GOLD, PATH, {"format": 1.0, "lazy_penalty": 1.0}) == 0.0


def test_recipe_rejects_unknown_reward_names():
    from review_slm.core.recipe import RecipeError, load_recipe, parse_recipe

    data = load_recipe("tiny-grpo").model_dump(mode="json")
    assert data["method"] == "sft+grpo" and data["sft"] == load_recipe("tiny").model_dump(mode="json")["sft"]
    data["grpo"]["reward_weights"] = {"format": 1.0, "vibes": 1.0}
    with pytest.raises(RecipeError, match="vibes"):
        parse_recipe(data, "test")
