"""Preference pairs from the SFT model's own weak answers: chosen = gold, rejected = what it said."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from review_slm.core.prompts import render_review, student_messages
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer


@dataclass
class PairingOutcome:
    pairs: list[dict] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)


def build_preference_pairs(examples: list[dict], answers: dict[str, str], min_quality_gap: float = 0.25) -> PairingOutcome:
    """`examples` are gold rows (dicts with id, path, language, diff_hunk, review); `answers` maps id -> model text.

    An answer becomes the rejected side when the rubric says it is weaker than gold by at least
    `min_quality_gap`; answers as good as gold are counted as `matched_gold` and produce no pair.
    """
    out = PairingOutcome()
    for ex in examples:
        answer = answers.get(ex["id"])
        if answer is None:
            out.kinds["no_answer"] += 1
            continue
        gold = Review.model_validate(ex["review"])
        score = score_answer(answer, gold, hunk_path=ex["path"])
        if score.kind == "ok" or 1.0 - score.quality < min_quality_gap:
            out.kinds["matched_gold"] += 1
            continue
        out.kinds[score.kind] += 1
        out.pairs.append(
            {
                "id": ex["id"],
                "prompt": student_messages(ex["path"], ex["language"], ex["diff_hunk"]),
                "chosen": [{"role": "assistant", "content": render_review(gold)}],
                "rejected": [{"role": "assistant", "content": answer}],
                "rejected_kind": score.kind,
                "rejected_quality": round(score.quality, 4),
            }
        )
    return out
