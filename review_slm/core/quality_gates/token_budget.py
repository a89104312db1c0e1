"""The token budget gate: prompt + answer in the student's tokens, within the recipe's `max_example_tokens`."""

from __future__ import annotations

import re

from review_slm.core.prompts import STUDENT_SYSTEM_PROMPT, student_user_prompt
from review_slm.core.quality_gates.gate import Gate, GateRow, GateRun, Verdict
from review_slm.core.quality_gates.reasons import QuarantineReason

# Chat framing (<|im_start|>role\n ... <|im_end|>\n) costs fewer tokens than this many bytes.
_FRAMING_BYTES = 64
_DIGITS = re.compile(r"\d+")
_EMPTY_PROMPT_BYTES = len(student_user_prompt("", "", "").encode())


class TokenBudget(Gate):
    """Before the teacher (`prompt_alone`), the rows' answers are still empty: the prompt alone is measured."""

    reasons = (QuarantineReason.OVER_TOKEN_BUDGET,)

    def __init__(self, prompt_alone: bool = False):
        self.prompt_alone = prompt_alone

    def judge(self, rows: list[GateRow], run: GateRun) -> dict[int, Verdict]:
        too_long = over_budget([(r.record.path, r.record.language, r.hunk, r.answer) for r in rows], run)
        what = "the prompt alone is " if self.prompt_alone else ""
        budget = run.config.max_example_tokens
        return {
            i: Verdict(QuarantineReason.OVER_TOKEN_BUDGET, "diff_hunk", f"{what}{n} tokens > {budget}")
            for i, n in too_long.items()
        }


def prompt_bytes_bound(path: str, language: str, hunk: str) -> int:
    """At least len(student_user_prompt(path, language, hunk).encode()), without rendering it: each line gains a
    number column and a space (a line number is at most the header's start plus the line count, so its width at
    most the longest digit run's plus the count's plus one), and fencing makes a '<' or '>' a 3-byte '‹' / '›'."""
    lines = len(hunk.splitlines())
    width = max(map(len, _DIGITS.findall(hunk)), default=0) + len(str(lines)) + 1
    return (
        _EMPTY_PROMPT_BYTES
        + len(path.encode())
        + len(language.encode())
        + len(hunk.encode())
        + lines * (width + 1)
        + 2 * (hunk.count("<") + hunk.count(">"))
    )


def over_budget(rows: list[tuple[str, str, str, str]], run: GateRun) -> dict[int, int]:
    """Token counts of the (path, language, hunk, answer) rows over the budget. A byte-level BPE token is at
    least one byte, so a row with fewer bytes than the budget fits without asking the tokenizer."""
    budget = run.config.max_example_tokens
    system_bytes = len(STUDENT_SYSTEM_PROMPT.encode()) + _FRAMING_BYTES
    maybe: list[tuple[int, str, str]] = []
    for i, (path, language, hunk, answer) in enumerate(rows):
        answer_bytes = len(answer.encode())
        if system_bytes + prompt_bytes_bound(path, language, hunk) + answer_bytes <= budget:
            continue  # fits without rendering the prompt
        prompt = student_user_prompt(path, language, hunk)
        if system_bytes + len(prompt.encode()) + answer_bytes > budget:
            maybe.append((i, prompt, answer))
    if not maybe:
        return {}
    if run.count_tokens is None:
        raise ValueError(f"{len(maybe)} rows may exceed max_example_tokens={budget}: a token counter is required")
    counts = run.count_tokens([(prompt, answer) for _, prompt, answer in maybe])
    run.outcome.tokens_counted += len(maybe)
    return {i: n for (i, _, _), n in zip(maybe, counts) if n > budget}
