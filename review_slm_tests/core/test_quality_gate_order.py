"""The gates as objects: every quarantine reason has its gate, every gate runs in both paths (before and after the
teacher, or all in one call), and gates that judge the same rows quarantine in row order, the first gate winning."""

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, QuarantineReason, apply_quality_gates
from review_slm.core.quality_gates.apply import AFTER_TEACHER, ALL_GATES, BEFORE_TEACHER
from review_slm.core.quality_gates.gate import Gate, SameRows
from review_slm.core.quality_gates.unredactable import MostlyRedactedAtIngest
from review_slm_tests.core.test_quality_gates import LOOSE, candidates, record


def _flat(gates: tuple[Gate, ...]) -> list[type]:
    return [type(g) for gate in gates for g in (gate.gates if isinstance(gate, SameRows) else (gate,))]


def test_every_reason_has_a_gate_and_every_gate_runs_in_both_paths():
    # Two reasons come from outside the gates: merging comments on one hunk, and holding out a frozen test change.
    outside = {QuarantineReason.MERGED_INTO_HUNK, QuarantineReason.TEST_SPLIT_CHANGE}
    yielded = {reason for gate in ALL_GATES for reason in gate.reasons} | outside
    assert yielded == set(QuarantineReason)
    # The split path runs one gate more: `MostlyRedactedAtIngest` (secrets marked at ingest, before any answer).
    assert set(_flat(BEFORE_TEACHER) + _flat(AFTER_TEACHER)) == {*_flat(ALL_GATES), MostlyRedactedAtIngest}
    names = [gate.name for gate in ALL_GATES]
    assert names[0] == "EmptyOrBinaryHunk + WrongLanguage + TeacherAnswered + SecretsRedacted"


def test_gates_on_the_same_rows_quarantine_in_row_order_and_the_first_gate_wins():
    long_hunk = "@@ -1,400 +1,401 @@\n" + "".join(f" line{i} := {i}\n" for i in range(400)) + "+x := 1\n"
    too_long = record(1, hunk=long_hunk)
    rows = [
        Candidate(record(0), None, "t", error="no json", failure="teacher_failed"),
        *candidates(
            [too_long, record(2, hunk="  \n"), record(3), record(3), too_long.model_copy(update={"source_id": "9"})]
        ),
    ]
    out = apply_quality_gates(rows, [], GateConfig(max_example_tokens=1500, **LOOSE), lambda pairs: [5000] * len(pairs))
    assert [(q.row_id, q.reason) for q in out.quarantined] == [
        ("github:0", "teacher_failed"),  # the row gates, row by row
        ("github:2", "empty_or_binary_hunk"),
        ("github:1", "over_token_budget"),  # budget and duplicates, row by row: the budget first
        ("github:3", "duplicate"),
        ("github:9", "over_token_budget"),
    ]
    assert [e.record_id for e in out.kept] == ["github:3"]
