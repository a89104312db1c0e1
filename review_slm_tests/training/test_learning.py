"""Learning must be visible: these fail when the training stack silently stops teaching anything.

A label mask that hides every token, a chat template that drops the answer, a collator that scrambles
packed rows: each leaves SFT "succeeding" with a student that cannot answer. Here the tiny student is
trained for real on the bundled, hand-labelled bug suite and must answer its prompts with valid
reviews; then a collapsed student (trained on a copy poisoned with "No issues found.") must be refused
by the promotion gate against the healthy one, on real metrics.
"""

import pytest

from review_slm.core.eval_sets import bug_suite_rows, eval_items
from review_slm.core.gate import promotion_decision
from review_slm.core.recipe import Recipe, load_recipe
from review_slm.training import experiment

STEPS = 90  # ~25 s on a 2-core CPU; the loss is ~1 and most answers are valid reviews well before


def recipe() -> Recipe:
    data = load_recipe("tiny").model_dump(mode="json")
    data["sft"].update(max_steps=STEPS, save_steps=0, warmup_ratio=0.05)
    data["line_offset_copies"] = 0  # memorise these 24 rows: the test is about learning at all
    return Recipe.model_validate(data)


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, model_cache):
    rec = recipe()
    work = tmp_path_factory.mktemp("healthy")
    model, summary = experiment.sft(rec, rec.base_model, bug_suite_rows(), work / "sft", model_cache)
    return rec, model, summary, work


def test_sft_teaches_the_tiny_student_the_review_format(healthy, model_cache):
    rec, model, summary, work = healthy
    losses = [h["loss"] for h in summary["loss_history"] if "loss" in h]
    assert losses[0] > 6.0 and min(losses[-5:]) < 1.5, losses  # from a random model's ~ln(vocab) to memorised answers
    items = eval_items([])
    before = experiment.evaluate(rec, rec.base_model, items, work / "eval-base", model_cache)["all"]
    after = experiment.evaluate(rec, model, items, work / "eval-sft", model_cache)["all"]
    assert before.format_validity == 0.0
    assert after.format_validity >= 0.8, after
    assert after.f1 > 0.2 and after.no_issues_rate_on_buggy <= 0.2, after


def test_the_gate_refuses_a_collapsed_student_against_a_healthy_champion(healthy, model_cache):
    rec, model, _, work = healthy
    collapsed, _ = experiment.sft(rec, rec.base_model, experiment.poisoned_copy(bug_suite_rows(), lazy_share=0.9),
                                  work / "collapsed", model_cache)
    items = eval_items([])
    champion = experiment.evaluate(rec, model, items, work / "eval-champion", model_cache)["all"].as_dict()
    candidate = experiment.evaluate(rec, collapsed, items, work / "eval-collapsed", model_cache)["all"].as_dict()
    assert candidate["no_issues_rate_on_buggy"] >= 0.8 > champion["no_issues_rate_on_buggy"]
    decision = promotion_decision(candidate, champion, "champion", tolerance=0.02)
    assert not decision.passed and "no-issues rate" in decision.reason
