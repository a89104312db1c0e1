"""Preference pairs from the SFT model's own weak answers: chosen = gold, rejected = what it said."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import render_review, student_messages
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer


@dataclass
class PairingOutcome:
    pairs: list[dict] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


LAZY_ANSWER = render_review(NO_ISSUES)


def build_preference_pairs(
    examples: list[dict], answers: dict[str, str], min_quality_gap: float = 0.25, reject_lazy: bool = True
) -> PairingOutcome:
    """`examples` are gold rows (dicts with id, path, language, diff_hunk, review); `answers` maps id -> model text.

    An answer becomes the rejected side when the rubric says it is weaker than gold by at least
    `min_quality_gap`; answers as good as gold are counted as `matched_gold` and produce no pair.

    With `reject_lazy`, every gold review that has findings also gets a pair whose rejected side is
    "No issues found." (kind `synthetic_lazy`) unless the model's own answer already was that. A model
    rarely answers lazily on prompts it was just trained on, yet does on new diffs: without these pairs
    DPO would never see the collapse this product exists to prevent.
    """
    out = PairingOutcome()
    for ex in examples:
        answer = answers.get(ex["id"])
        if answer is None:
            out.kinds["no_answer"] += 1
            continue
        gold = Review.model_validate(ex["review"])
        score = score_answer(answer, gold, hunk_path=ex["path"])
        if reject_lazy and gold.findings and score.kind != "lazy_no_issues":
            out.kinds["synthetic_lazy"] += 1
            out.pairs.append(_pair(ex, gold, LAZY_ANSWER, "synthetic_lazy", 0.0))
        if score.kind == "ok" or 1.0 - score.quality < min_quality_gap:
            out.kinds["matched_gold"] += 1
            continue
        out.kinds[score.kind] += 1
        out.pairs.append(_pair(ex, gold, answer, score.kind, score.quality))
    return out


def _pair(ex: dict, gold: Review, rejected: str, kind: str, quality: float) -> dict:
    return {
        "id": ex["id"],
        "prompt": student_messages(ex["path"], ex["language"], ex["diff_hunk"]),
        "chosen": [{"role": "assistant", "content": render_review(gold)}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "rejected_kind": kind,
        "rejected_quality": round(quality, 4),
    }
