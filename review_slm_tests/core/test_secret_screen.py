"""The vectorised secret screen (`might_have_secrets`) only skips texts `scan` finds nothing in, so the gates keep,
quarantine and redact exactly the rows the per-row path did: on the data bench's synthetic rows and the secret corpus."""

import importlib.util
from pathlib import Path

import pytest

from review_slm.core import quality_gates
from review_slm.core.quality_gates import GateConfig, apply_quality_gates, gate_before_teacher
from review_slm.core.schema import ReviewRecord
from review_slm.core.secrets import might_have_secrets, scan
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm_tests.core.secret_corpus import LINES, PEM, TOKENS

BENCH = Path(__file__).resolve().parents[2] / "bench" / "data_throughput.py"
ORDINARY = ["password: ${DB_PASSWORD}", 'password = get_password("db")', "secretName: my-tls-secret", "token expiry is 3600 seconds",
            "mail me at someone@example.com", "@@ -10,7 +10,8 @@ func main() {", "naïve café: ключ = значение", "tab\there\x0bvt"]


@pytest.fixture(scope="module")
def bench_rows():
    # bench/ is a folder of scripts, not a package: load the file itself.
    spec = importlib.util.spec_from_file_location("data_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_rows(1500, seed=3)


def corpus_records() -> list[dict]:
    """Each planted kind in a hunk's added line, in a comment, in a path and in the repo, plus a PEM hunk."""
    rows = []
    for n, (kind, line) in enumerate(sorted(LINES.items())):
        base = {"source": "github", "repo": "o/r", "path": f"cmd/{kind}.go", "line": 2, "language": "go",
                "body": "The handle leaks when the call fails; close it with defer before returning."}
        hunk = f"@@ -1,2 +1,3 @@\n func main() {{\n+\t{line}\n+\tx := run(ctx)\n }}\n"
        rows += [{**base, "source_id": f"{n}-hunk", "diff_hunk": hunk},
                 {**base, "source_id": f"{n}-body", "diff_hunk": "@@ -1 +1 @@\n+\tx := run(ctx)\n", "body": f"Do not commit this: {line}. Rotate it."},
                 {**base, "source_id": f"{n}-path", "diff_hunk": "@@ -1 +1 @@\n+\ty := run(ctx)\n", "path": f"cfg/{TOKENS[kind]}.go"},
                 {**base, "source_id": f"{n}-repo", "diff_hunk": "@@ -1 +1 @@\n+\tz := run(ctx)\n", "repo": f"o/{TOKENS[kind]}"}]
    rows.append({"source": "github", "source_id": "pem", "repo": "o/r", "path": "k.go", "line": 1, "language": "go",
                 "diff_hunk": "@@ -0,0 +1,3 @@\n+" + PEM.replace("\n", "\n+") + "\n+\tok := true\n", "body": "A private key is committed here."})
    return rows


def test_the_screen_flags_every_text_scan_finds_something_in(bench_rows):
    texts = [*LINES.values(), *TOKENS.values(), PEM, *ORDINARY, *(r[f] for r in corpus_records() for f in ("diff_hunk", "body", "path", "repo")),
             *(r[f] for r in bench_rows for f in ("diff_hunk", "body", "path"))]
    flags = might_have_secrets(texts)
    missed = [t for t, flagged in zip(texts, flags) if not flagged and scan(t, "a.go")]
    assert missed == []
    assert all(might_have_secrets([*LINES.values(), PEM]))
    assert flags.count(False) > len(texts) / 2  # and it is a screen: most synthetic texts are cleared


def _gate(rows: list[dict]) -> tuple[list[dict], list[dict], int]:
    records = [ReviewRecord.model_validate(r) for r in rows]
    config = GateConfig(max_example_tokens=1_000_000)
    worth_asking, before = gate_before_teacher(records, config)
    candidates, _ = HumanCommentTeacher().enrich(worth_asking)
    out = apply_quality_gates(candidates, [], config, before_teacher=before)
    return [e.model_dump() for e in out.kept], [q.model_dump() for q in out.quarantined], out.secrets_redacted


@pytest.mark.parametrize("which", ["bench", "corpus"])
def test_gates_keep_quarantine_and_redact_the_same_rows_with_the_screen_as_row_by_row(which, bench_rows, monkeypatch):
    rows = bench_rows if which == "bench" else corpus_records()
    screened = _gate(rows)
    # Without the screen every text goes through detect-secrets, as before it existed.
    monkeypatch.setattr(quality_gates, "might_have_secrets", lambda texts: [True] * len(texts))
    row_by_row = _gate(rows)
    assert screened == row_by_row
    assert screened[2] > 0  # the rows do carry secrets the gates redact
