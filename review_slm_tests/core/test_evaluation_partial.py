"""A teacher that failed on some items is scored on the rest; the compared models are scored on every item."""

import json

from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.evaluate.eval_sets import eval_items
from review_slm.evaluate.report import evaluate


def test_a_partial_teacher_column_is_scored_on_what_it_answered():
    items = eval_items([], DEFAULT_LANGUAGES)[:6]
    right = {i["id"]: json.dumps(i["review"]) for i in items}  # the gold review itself: a perfect answer
    half = dict(list(right.items())[:3])
    scored = evaluate(items, {"candidate": half, "base": right, "teacher": half}, 0.02, partial=("teacher",))
    assert scored.results["teacher"]["items"] == 3 and scored.results["teacher"]["f1"] == 1.0
    assert scored.results["candidate"]["items"] == 6 and scored.results["candidate"]["f1"] < 1.0  # missing = wrong
