"""Compare a model's answer with the gold review: the rubric behind preference pairs and evaluation.

A predicted finding matches a gold one when it is on the same file and within `line_tolerance`
lines; matching is one-to-one, greedy by line distance.
"""

from __future__ import annotations

from dataclasses import dataclass

from review_slm.core.lazy import NO_ISSUES
from review_slm.core.prompts import parse_review
from review_slm.core.schema import Finding, Review

LINE_TOLERANCE = 3


@dataclass(frozen=True)
class AnswerScore:
    valid: bool
    gold_findings: int
    predicted_findings: int
    matched: int
    severity_matches: int
    kind: str  # ok | invalid_format | lazy_no_issues | false_alarm | missed_findings | wrong_findings
    error: str = ""

    @property
    def recall(self) -> float:
        return self.matched / self.gold_findings if self.gold_findings else 1.0

    @property
    def precision(self) -> float:
        return (
            self.matched / self.predicted_findings
            if self.predicted_findings
            else (1.0 if not self.gold_findings else 0.0)
        )

    @property
    def quality(self) -> float:
        """One number in [0, 1] to rank answers: F1 of findings, 0 when the format is invalid."""
        if not self.valid:
            return 0.0
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match_findings(
    predicted: list[Finding], gold: list[Finding], tolerance: int = LINE_TOLERANCE
) -> list[tuple[Finding, Finding]]:
    candidates = sorted(
        (
            (abs(p.line - g.line), i, j)
            for i, p in enumerate(predicted)
            for j, g in enumerate(gold)
            if p.path == g.path and abs(p.line - g.line) <= tolerance
        ),
    )
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs: list[tuple[Finding, Finding]] = []
    for _, i, j in candidates:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        pairs.append((predicted[i], gold[j]))
    return pairs


def score_answer(
    answer: str, gold: Review, tolerance: int = LINE_TOLERANCE, hunk_path: str | None = None
) -> AnswerScore:
    """With `hunk_path` (the file of the reviewed hunk), findings are matched on that file: see `parse_review`."""
    review, error = parse_review(answer, hunk_path)
    if hunk_path is not None:
        gold = Review(findings=[f.model_copy(update={"path": hunk_path}) for f in gold.findings], summary=gold.summary)
    n_gold = len(gold.findings)
    if review is None:
        return AnswerScore(False, n_gold, 0, 0, 0, "invalid_format", error)
    pairs = match_findings(review.findings, gold.findings, tolerance)
    matched = len(pairs)
    sev = sum(1 for p, g in pairs if p.severity == g.severity)
    n_pred = len(review.findings)
    if n_gold and not n_pred:
        kind = "lazy_no_issues"
    elif not n_gold and n_pred:
        kind = "false_alarm"
    elif matched < n_gold:
        kind = "missed_findings"
    elif matched < n_pred:
        kind = "wrong_findings"
    else:
        kind = "ok"
    return AnswerScore(True, n_gold, n_pred, matched, sev, kind)


ANSWER_SHAPES = ("empty_review", "no_issues_with_findings", "findings", "invalid_format")


def answer_shape(answer: str, hunk_path: str) -> str:
    """What an answer says, whatever the gold: the empty review, findings, or the contradiction a small student
    falls into when it picks each part of the answer by its frequency in training rather than from the hunk: the
    summary "No issues found." (the most frequent single summary of the gold set) followed by findings."""
    review, _ = parse_review(answer, hunk_path)
    if review is None:
        return "invalid_format"
    if not review.findings:
        return "empty_review"
    return "no_issues_with_findings" if review.summary.strip() == NO_ISSUES.summary else "findings"
