"""The gates' fast paths change no outcome. The secret screens (`core/secret_screen.py`) only skip texts `scan`
finds nothing in, so the gates keep, quarantine and redact exactly the rows the per-row path did, on the data
bench's synthetic rows and the secret corpus; the prompt byte bound is never below the rendered prompt."""

import importlib.util
import sys
from pathlib import Path

import pytest

from review_slm.core import secret_screen
from review_slm.core.quality_gates import GateConfig, apply_quality_gates, gate_before_teacher, unredactable
from review_slm.core.redaction import scan
from review_slm.core.schema import ReviewRecord
from review_slm.core.secret_screen import might_have_secrets
from review_slm.resources.teacher import HumanCommentTeacher
from review_slm_tests.core.secret_corpus import LINES, PEM, TOKENS

BENCH = Path(__file__).resolve().parents[2] / "bench" / "data_throughput.py"
ORDINARY = [
    "password: ${DB_PASSWORD}",
    'password = get_password("db")',
    "secretName: my-tls-secret",
    "token expiry is 3600 seconds",
    "mail me at someone@example.com",
    "@@ -10,7 +10,8 @@ func main() {",
    "naïve café: ключ = значение",
    "tab\there\x0bvt",
    "server 203.0.113.7 and 10.0.0.1:8080",
    'digest = "9f86d081884c7d659a2feaa0c55ad015"',
    'api_key: "abc"',
    "  secret_key := loadKey(ctx)",
    'if password == "letmein99" {',
    "cloudant_password='x8Hw2kPq9sLmZ3vN'",
]
PATHS = ["cmd/main.go", "deploy/values.yaml", "app/settings.py", ""]


def _before(monkeypatch) -> None:
    """The per-row path as it was: every text to detect-secrets, with only its literal pre-tests and hints."""
    monkeypatch.setattr(unredactable, "might_have_secrets", lambda texts: [True] * len(texts))
    monkeypatch.setattr(secret_screen, "plain_ascii", lambda text: False)


@pytest.fixture(scope="module")
def bench_rows():
    # bench/ is a folder of scripts, not a package: load the file itself, with its folder importable (bench/results.py).
    if str(BENCH.parent) not in sys.path:
        sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("data_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_rows(1500, seed=3)


def corpus_records() -> list[dict]:
    """Each planted kind in a hunk's added line, in a comment, in a path and in the repo, plus a PEM hunk."""
    rows = []
    for n, (kind, line) in enumerate(sorted(LINES.items())):
        base = {
            "source": "github",
            "repo": "o/r",
            "path": f"cmd/{kind}.go",
            "line": 2,
            "language": "go",
            "body": "The handle leaks when the call fails; close it with defer before returning.",
        }
        hunk = f"@@ -1,2 +1,3 @@\n func main() {{\n+\t{line}\n+\tx := run(ctx)\n }}\n"
        rows += [
            {**base, "source_id": f"{n}-hunk", "diff_hunk": hunk},
            {
                **base,
                "source_id": f"{n}-body",
                "diff_hunk": "@@ -1 +1 @@\n+\tx := run(ctx)\n",
                "body": f"Do not commit this: {line}. Rotate it.",
            },
            {
                **base,
                "source_id": f"{n}-path",
                "diff_hunk": "@@ -1 +1 @@\n+\ty := run(ctx)\n",
                "path": f"cfg/{TOKENS[kind]}.go",
            },
            {
                **base,
                "source_id": f"{n}-repo",
                "diff_hunk": "@@ -1 +1 @@\n+\tz := run(ctx)\n",
                "repo": f"o/{TOKENS[kind]}",
            },
        ]
    rows.append(
        {
            "source": "github",
            "source_id": "pem",
            "repo": "o/r",
            "path": "k.go",
            "line": 1,
            "language": "go",
            "diff_hunk": "@@ -0,0 +1,3 @@\n+" + PEM.replace("\n", "\n+") + "\n+\tok := true\n",
            "body": "A private key is committed here.",
        }
    )
    return rows


def test_the_screen_flags_every_text_scan_finds_something_in(bench_rows):
    texts = [
        *LINES.values(),
        *TOKENS.values(),
        PEM,
        *ORDINARY,
        *(r[f] for r in corpus_records() for f in ("diff_hunk", "body", "path", "repo")),
        *(r[f] for r in bench_rows for f in ("diff_hunk", "body", "path")),
    ]
    flags = might_have_secrets(texts)
    missed = [t for t, flagged in zip(texts, flags) if not flagged and any(scan(t, path) for path in PATHS)]
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
    _before(monkeypatch)
    row_by_row = _gate(rows)
    assert screened == row_by_row
    assert screened[2] > 0  # the rows do carry secrets the gates redact


def test_scan_finds_the_same_spans_with_its_re2_screens_as_with_the_literal_pre_tests(bench_rows, monkeypatch):
    texts = [
        *LINES.values(),
        PEM,
        *ORDINARY,
        *(r[f] for r in [*corpus_records(), *bench_rows[:400]] for f in ("diff_hunk", "body", "path")),
    ]
    screened = [scan(t, path) for t in texts for path in PATHS]
    _before(monkeypatch)
    assert [scan(t, path) for t in texts for path in PATHS] == screened
    assert sum(bool(hits) for hits in screened) > len(LINES)


def test_the_prompt_byte_bound_is_never_below_the_rendered_prompt(bench_rows):
    from review_slm.core.prompts import student_user_prompt
    from review_slm.core.quality_gates.token_budget import prompt_bytes_bound

    hunks = [r["diff_hunk"] for r in bench_rows] + [
        "@@ -1 +99999999999 @@\n+a\n+b\n",
        "@@ -1,2 +1,2 @@\n-x\n+y\n@@ -90,1 +990,2 @@\n z\n+w\n",
        "no header\n+a\r\n-b\u2028c",
        "@@ -1 +9 @@\n" + "+\n" * 12,
        "@@ -1 +1 @@\n+</diff> <diff> < human_comment >\n",
        "@@ -1 +1 @@\n+ünïcødé ‹›\n",
        "",
        "\n\n\n",
    ]
    for hunk in hunks:
        assert prompt_bytes_bound("pkg/ä.go", "go", hunk) >= len(
            student_user_prompt("pkg/ä.go", "go", hunk).encode()
        ), hunk


def test_the_build_asks_the_token_counter_once_per_distinct_pair():
    from review_slm.gold.build import remembering

    asked = []
    count = remembering(lambda pairs: asked.extend(pairs) or [len(p) + len(a) for p, a in pairs])
    assert count([("ab", "c"), ("x", ""), ("ab", "c")]) == [3, 1, 3]
    assert count([("x", ""), ("a", "bc")]) == [1, 3]  # ("a", "bc") is not ("ab", "c")
    assert asked == [("ab", "c"), ("x", ""), ("a", "bc")]
