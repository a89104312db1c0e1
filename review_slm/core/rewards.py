"""Reward functions for GRPO, built from the rubric the evaluation scores with (`core/scoring.py`).

Each function scores one completion against the gold review of its prompt and is named for what it
rewards, so TRL logs it on its own (`rewards/<name>/mean`). Their weights come from the recipe
(`grpo.reward_weights`); the sum is what GRPO's group-relative advantage ranks.

| name            | value                                                                                   |
|-----------------|-----------------------------------------------------------------------------------------|
| `format`        | 1 when the answer parses as a review, 0.5 when it is JSON but not a review, else 0      |
| `finding_match` | F1 of the findings against gold (same file, line within ±3); 1 for an empty review of a    |
|                 | clean diff; 0 when invalid                                                              |
| `severity`      | share of the gold findings matched with the right severity; None (not scored) on a clean diff |
| `lazy_penalty`  | -1 for "no issues" (an empty review, or a lazy phrase) on a diff with gold findings, else 0 |
| `length`        | 0 up to twice the gold answer's length, falling linearly to -1 at four times it          |

Pure Python (no torch): the trainer calls them with TRL's signature, tests call them directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from review_slm.core.lazy import is_lazy_comment
from review_slm.core.prompts import parse_review, render_review
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer

REWARD_NAMES = ("format", "finding_match", "severity", "lazy_penalty", "length")


def completion_text(completion) -> str:
    """TRL passes a conversational completion as `[{"role": "assistant", "content": ...}]`, a plain one as text."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def _gold(gold: str | dict | Review) -> Review:
    if isinstance(gold, Review):
        return gold
    return Review.model_validate(json.loads(gold) if isinstance(gold, str) else gold)


def format_reward(answer: str, gold: Review, path: str) -> float:
    # Half credit for JSON that breaks the schema (a made-up severity, a missing field): a sampled group
    # in which no answer is a valid review still tells JSON from word salad, so the policy has a gradient.
    review, error = parse_review(answer, path)
    if review is not None:
        return 1.0
    return 0.5 if error.startswith("schema:") else 0.0


def finding_match_reward(answer: str, gold: Review, path: str) -> float:
    # AnswerScore.quality is the F1 of findings, 1 for an empty review of a clean diff, 0 when invalid:
    # exactly the ranking preference pairs use, so GRPO and DPO chase the same thing.
    return score_answer(answer, gold, hunk_path=path).quality


def severity_reward(answer: str, gold: Review, path: str) -> float | None:
    if not gold.findings:
        return None  # nothing to grade: TRL turns None into NaN and leaves it out of the sum and the mean
    score = score_answer(answer, gold, hunk_path=path)
    return score.severity_matches / score.gold_findings


def lazy_penalty_reward(answer: str, gold: Review, path: str) -> float:
    if not gold.findings:
        return 0.0  # "no issues" is the right answer on a clean diff
    review, _ = parse_review(answer, path)
    lazy = (review is not None and not review.findings) or (review is None and is_lazy_comment(answer))
    return -1.0 if lazy else 0.0


def length_reward(answer: str, gold: Review, path: str) -> float:
    # A small policy's failure is looping until the token limit; a long answer past twice the gold is
    # penalised before it is cut off, so "finish your JSON" is learnt from the length too.
    budget = 2 * len(render_review(gold))
    excess = (len(answer) - budget) / budget
    return -min(1.0, max(0.0, excess))


_SCORERS: dict[str, Callable[[str, Review, str], float | None]] = {
    "format": format_reward,
    "finding_match": finding_match_reward,
    "severity": severity_reward,
    "lazy_penalty": lazy_penalty_reward,
    "length": length_reward,
}


def make_reward_func(name: str) -> Callable:
    """A TRL reward function `(prompts, completions, gold, path, **kwargs) -> list[float | None]`.

    `gold` (the gold review as JSON) and `path` (the hunk's file) are dataset columns: TRL passes
    every extra column to reward functions, one value per completion.
    """
    scorer = _SCORERS[name]

    def reward(prompts, completions, gold, path, **kwargs) -> list[float | None]:
        return [scorer(completion_text(c), _gold(g), p) for c, g, p in zip(completions, gold, path, strict=True)]

    reward.__name__ = name  # TRL logs `rewards/<__name__>/mean`
    reward.__qualname__ = name
    return reward


def reward_funcs(weights: dict[str, float]) -> tuple[list[Callable], list[float]]:
    """The reward functions with a non-zero weight, in `REWARD_NAMES` order, and their weights."""
    unknown = set(weights) - set(REWARD_NAMES)
    if unknown:
        raise ValueError(f"unknown reward(s) {sorted(unknown)}: expected some of {list(REWARD_NAMES)}")
    names = [n for n in REWARD_NAMES if weights.get(n, 0.0)]
    if not names:
        raise ValueError("every reward weight is 0: GRPO needs at least one reward")
    return [make_reward_func(n) for n in names], [float(weights[n]) for n in names]


def total_reward(answer: str, gold: Review, path: str, weights: dict[str, float]) -> float:
    """The weighted sum TRL computes for one completion (a None reward counts as 0), for benches and tests."""
    return sum(w * (_SCORERS[n](answer, gold, path) or 0.0) for n, w in weights.items() if w)
