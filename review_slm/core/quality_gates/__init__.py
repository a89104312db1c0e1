"""The quality gates between the records and the gold set: one `Gate` object per rule (`gate.py`), each
quarantining with a `QuarantineReason` (`reasons.py`), run in the order `apply.py` gives them:

| gate (module)                                                | reasons                                              |
|--------------------------------------------------------------|------------------------------------------------------|
| (upstream: mining, the supplement)                           | its own text (`bot`, `outdated`, `malformed_<x>`...) |
| `folded_rows` (`apply`: comments merged)                     | `merged_into_hunk`, `duplicate`                      |
| `EmptyOrBinaryHunk`, `WrongLanguage` (`content`)             | `empty_or_binary_hunk`, `wrong_language`             |
| `TeacherAnswered` (`teacher_answer`)                         | `teacher_invalid`, `teacher_failed`                  |
| `MostlyRedactedAtIngest`, `SecretsRedacted` (`unredactable`) | `secret_unredactable`                                |
| `TokenBudget` (`token_budget`)                               | `over_token_budget`                                  |
| `Duplicates` (`duplicates`)                                  | `duplicate`, `near_duplicate`                        |
| `TemplatePoisoning` (`template_poisoning`)                   | `template_poisoning`                                 |
| `LazyNegativeCap`, `CleanCap` (`share_caps`)                 | `lazy_negative_over_cap`, `clean_over_cap`           |

A clean example (a hunk reviewers let pass, `ReviewRecord.clean`) answers "No issues found." and is not lazy: lazy
is a no-issues answer to code someone commented on.
"""

from review_slm.core.quality_gates.apply import apply_quality_gates, folded_rows, gate_before_teacher
from review_slm.core.quality_gates.config import GateConfig, TokenCounter
from review_slm.core.quality_gates.gate import GateOutcome
from review_slm.core.quality_gates.reasons import QuarantineReason

__all__ = [
    "GateConfig",
    "GateOutcome",
    "QuarantineReason",
    "TokenCounter",
    "apply_quality_gates",
    "folded_rows",
    "gate_before_teacher",
]
