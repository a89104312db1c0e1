"""Preference pairs from the SFT model's own weak answers: chosen = gold, rejected = what it said.

Both ways: on buggy prompts the gold findings beat a lazy "No issues found." (the collapse); on clean prompts
(hunks reviewers let pass, `clean` gold rows) the empty review beats invented findings (the noise that gets a
reviewer muted). Either failure alone is cured by over-correcting into the other, so each gets its pairs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from review_slm.core.diff_hunks import last_new_line
from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import render_review, student_messages
from review_slm.core.schema import Review, content_hash
from review_slm.core.scoring import score_answer


@dataclass
class PairingOutcome:
    pairs: list[dict] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    by_prompt: Counter[str] = field(default_factory=Counter)  # pairs on "clean" and on "buggy" prompts


LAZY_ANSWER = render_review(NO_ISSUES)


def build_preference_pairs(
    examples: list[dict],
    answers: dict[str, str],
    min_quality_gap: float = 0.25,
    reject_lazy: bool = True,
    reject_noise: bool = True,
) -> PairingOutcome:
    """`examples` are gold rows (dicts with id, path, language, diff_hunk, review); `answers` maps id -> model text.

    An answer becomes the rejected side when the rubric says it is weaker than gold by at least
    `min_quality_gap`; answers as good as gold are counted as `matched_gold` and produce no pair.

    With `reject_lazy`, every gold review that has findings also gets a pair whose rejected side is
    "No issues found." (kind `synthetic_lazy`) unless the model's own answer already was that. A model
    rarely answers lazily on prompts it was just trained on, yet does on new diffs: without these pairs
    DPO would never see the collapse this product exists to prevent.

    On a clean prompt (`clean` row: its gold is the empty review) an answer with findings is the rejected side
    (kind `clean_false_alarm`). With `reject_noise`, a clean prompt the model already answered with no findings
    still gets a pair whose rejected side is another example's gold finding moved onto this hunk (kind
    `synthetic_noise`): the mirror of `synthetic_lazy`, so that curing the collapse does not teach "always
    find something".
    """
    out = PairingOutcome()
    borrowed = [ex for ex in examples if ex["review"]["findings"]]
    for ex in examples:
        answer = answers.get(ex["id"])
        if answer is None:
            out.kinds["no_answer"] += 1
            continue
        gold = Review.model_validate(ex["review"])
        score = score_answer(answer, gold, hunk_path=ex["path"])
        clean = bool(ex.get("clean")) and not gold.findings
        side = "clean" if clean else "buggy" if gold.findings else "lazy"
        if reject_lazy and gold.findings and score.kind != "lazy_no_issues":
            out.kinds["synthetic_lazy"] += 1
            out.by_prompt[side] += 1
            out.pairs.append(_pair(ex, gold, LAZY_ANSWER, "synthetic_lazy", 0.0))
        if reject_noise and clean and borrowed and score.kind != "false_alarm":
            out.kinds["synthetic_noise"] += 1
            out.by_prompt[side] += 1
            out.pairs.append(_pair(ex, gold, invented_findings(ex, borrowed), "synthetic_noise", 0.0))
        if score.kind == "ok" or 1.0 - score.quality < min_quality_gap:
            out.kinds["matched_gold"] += 1
            continue
        kind = "clean_false_alarm" if clean and score.kind == "false_alarm" else score.kind
        out.kinds[kind] += 1
        out.by_prompt[side] += 1
        out.pairs.append(_pair(ex, gold, answer, kind, score.quality))
    return out


def invented_findings(ex: dict, buggy: list[dict]) -> str:
    """Findings this clean hunk does not deserve: those of a buggy example (chosen by the clean row's id, so reruns
    agree), moved onto this hunk's file and last line, where a model that always finds something would put them."""
    source = buggy[int(content_hash(ex["id"])[:8], 16) % len(buggy)]
    review = Review.model_validate(source["review"])
    line = last_new_line(ex["diff_hunk"]) or 1
    moved = [f.model_copy(update={"path": ex["path"], "line": line}) for f in review.findings]
    return render_review(Review(findings=moved, summary=review.summary))


def _pair(ex: dict, gold: Review, rejected: str, kind: str, quality: float) -> dict:
    return {
        "id": ex["id"],
        "prompt": student_messages(ex["path"], ex["language"], ex["diff_hunk"]),
        "chosen": [{"role": "assistant", "content": render_review(gold)}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "rejected_kind": kind,
        "rejected_quality": round(quality, 4),
    }
