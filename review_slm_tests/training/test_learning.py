"""Learning must be visible: these fail when the training stack silently stops teaching anything.

A label mask that hides every token, a chat template that drops the answer, a collator that scrambles
packed rows: each leaves SFT "succeeding" with a student that cannot answer. Here the tiny student is
trained for real on the bundled supplement's comments (structured as the pipeline does with no
teacher) and must answer the unseen bug suite with valid reviews; then a collapsed student (trained on
a copy poisoned with "No issues found.") must be refused by the promotion gate against the healthy one, on real metrics.
"""

import pytest

from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.recipe import Recipe, load_recipe
from review_slm.core.structuring import structure_human_comment
from review_slm.evaluate.eval_sets import eval_items
from review_slm.evaluate.promotion_gate import promotion_decision
from review_slm.resources.supplement import BUNDLED_SUPPLEMENT, HFSupplementSource
from review_slm.training import experiment

# The recipe's 240 SFT steps at half its learning rate (~70 s on a 2-core CPU). At 160 steps and lr 5e-3 this
# 0.56M student's trajectory followed the CPU's rounding: format validity 0.04 with AVX-512 kernels, 0.67 with
# AVX2 ones (same code, data and packages), and 0.58-0.96 at 240 steps. At 2.5e-3 both ISAs train alike (losses
# equal to 3 decimals) to validity 0.71 (seed 7: 1.00 on both), and to a lower loss (1.05 against ~1.9); with the
# recipe's CPU fast paths (on in `tiny` since v3) too: validity 0.7083 and loss 1.046 on both ISAs.
STEPS = 240
LEARNING_RATE = 2.5e-3


def recipe() -> Recipe:
    data = load_recipe("tiny").model_dump(mode="json")
    data["sft"].update(max_steps=STEPS, learning_rate=LEARNING_RATE, save_steps=0)
    return Recipe.model_validate(data)


def supplement_gold_rows() -> list[dict]:
    """Gold rows as the pipeline makes them with the teacher off: the bundled supplement read by its
    own adapter, each comment structured by rules (compact answers), without running the data assets. Its
    comments only: the reviewed-and-passed rows (`clean`) are what the gold set caps, not this test's data."""
    source = HFSupplementSource(dataset=BUNDLED_SUPPLEMENT)
    return [
        {
            "id": r.source_id,
            "path": r.path,
            "language": r.language,
            "diff_hunk": r.diff_hunk,
            "review": structure_human_comment(r).model_dump(mode="json"),
        }
        for r, _ in source.iter_rows(source.info())
        if r is not None and not r.clean
    ]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory, model_cache):
    rec = recipe()
    work = tmp_path_factory.mktemp("healthy")
    model, summary = experiment.sft(rec, rec.base_model, supplement_gold_rows(), work / "sft", model_cache)
    return rec, model, summary, work


def test_sft_teaches_the_tiny_student_the_review_format(healthy, model_cache):
    rec, model, summary, work = healthy
    losses = [h["loss"] for h in summary["loss_history"] if "loss" in h]
    assert losses[0] > 6.0 and min(losses[-3:]) < 3.0, losses  # from a random model's ~ln(vocab) to the answer's shape
    items = eval_items([], DEFAULT_LANGUAGES)  # the labelled bug suite: diffs it never saw
    before = experiment.evaluate(rec, rec.base_model, items, work / "eval-base", model_cache)["all"]
    after = experiment.evaluate(rec, model, items, work / "eval-sft", model_cache)["all"]
    assert before.format_validity == 0.0
    # A broken mask, template or collator gives 0; the bar sits below what it reaches on either ISA (see STEPS),
    # so the numerics of another CPU cannot flip it.
    assert after.format_validity >= 0.5 and after.no_issues_rate_on_buggy <= 0.2, after


def test_the_gate_refuses_a_collapsed_student_against_a_healthy_champion(healthy, model_cache):
    rec, model, _, work = healthy
    collapsed, _ = experiment.sft(
        rec,
        rec.base_model,
        experiment.poisoned_copy(supplement_gold_rows(), lazy_share=0.9),
        work / "collapsed",
        model_cache,
    )
    items = eval_items([], DEFAULT_LANGUAGES)
    champion = experiment.evaluate(rec, model, items, work / "eval-champion", model_cache)["all"].as_dict()
    candidate = experiment.evaluate(rec, collapsed, items, work / "eval-collapsed", model_cache)["all"].as_dict()
    assert candidate["no_issues_rate_on_buggy"] >= 0.8 > champion["no_issues_rate_on_buggy"]
    decision = promotion_decision(candidate, champion, "champion", tolerance=0.02)
    assert not decision.passed and "no-issues rate" in decision.reason
