"""The promotion gate: a candidate replaces the champion only if it does not regress."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reference: str
    score_delta: float
    no_issues_delta: float
    reason: str
    clean_accuracy_delta: float = 0.0


def promotion_decision(
    candidate: dict[str, float], reference: dict[str, float], reference_name: str, tolerance: float
) -> GateDecision:
    """Pass iff the score drops by at most `tolerance`, the lazy no-issues rate on buggy diffs rises by at most
    `tolerance` (collapse) and the clean-diff accuracy drops by at most `tolerance` (noise).

    Both failure modes are gated on their own: collapsing into "no issues found" is the failure this product
    exists to prevent, and the cure for it over-corrects into findings on every hunk, the noise that gets a
    reviewer muted. The score alone lets one be traded for the other.
    """
    score_delta = round(candidate["score"] - reference["score"], 4)
    lazy_delta = round(candidate["no_issues_rate_on_buggy"] - reference["no_issues_rate_on_buggy"], 4)
    problems = []
    if score_delta < -tolerance:
        problems.append(f"score {candidate['score']:.3f} < {reference_name} {reference['score']:.3f} - {tolerance}")
    if lazy_delta > tolerance:
        problems.append(
            f"no-issues rate {candidate['no_issues_rate_on_buggy']:.3f} > {reference_name} "
            f"{reference['no_issues_rate_on_buggy']:.3f} + {tolerance}"
        )
    clean_delta = round(candidate.get("clean_accuracy", 0.0) - reference.get("clean_accuracy", 0.0), 4)
    if clean_delta < -tolerance:
        noise = {name: m.get("false_findings_per_clean", 0.0) for name, m in (("c", candidate), ("r", reference))}
        problems.append(
            f"noise: clean-diff accuracy {candidate.get('clean_accuracy', 0.0):.3f} < {reference_name} "
            f"{reference.get('clean_accuracy', 0.0):.3f} - {tolerance} ({noise['c']:.2f} false findings per clean "
            f"hunk, {reference_name} {noise['r']:.2f})"
        )
    reason = (
        "; ".join(problems) if problems else f"no regression against {reference_name} (score delta {score_delta:+.3f})"
    )
    return GateDecision(not problems, reference_name, score_delta, lazy_delta, reason, clean_delta)


def with_judge(
    decision: GateDecision, candidate: float | None, reference: float | None, tolerance: float
) -> GateDecision:
    """The recipe's `gate.use_judge`: the decision, also refused when the candidate's judge score drops more than
    `tolerance` below the reference's, or when either score is missing (no judge ran: the gate cannot tell)."""
    name = decision.reference
    if candidate is None or reference is None:
        problem = f"gate.use_judge is set but there is no judge score for the candidate and the {name}"
    elif candidate < reference - tolerance:
        problem = f"judge score {candidate:.3f} < {name} {reference:.3f} - {tolerance}"
    else:
        return replace(decision, reason=f"{decision.reason}; judge score {candidate:.3f} vs {name} {reference:.3f}")
    reason = problem if decision.passed else f"{decision.reason}; {problem}"
    return replace(decision, passed=False, reason=reason)
