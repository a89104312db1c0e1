"""`review-slm review`'s exits: one code per outcome, the same table in `--help`, the README and the docs, errors
found before the model stack is imported, findings only at lines the model was shown."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from review_slm import cli
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.reviewer.pr_review import plan_units
from review_slm.reviewer.review_formats import to_markdown, to_rdjson, to_sarif
from review_slm.reviewer.review_input import EXIT_CODES, parse_input
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin
from review_slm_tests.test_cli import DIFF

ROOT = Path(__file__).parents[1]
HEAVY = ("torch", "transformers", "trl", "peft", "dagster", "mlflow")


def table_rows(text: str) -> list[str]:
    """The rows of the exit-code table in a text (from its `| exit | meaning |` header to the first non-row)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| exit | meaning |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line.strip())
    return rows


def test_the_readme_and_help_show_the_same_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["review", "--help"])
    help_rows = table_rows(capsys.readouterr().out)
    assert len(help_rows) == 2 + len(EXIT_CODES) and len(set(EXIT_CODES)) == len(EXIT_CODES)
    assert table_rows((ROOT / "README.md").read_text()) == help_rows
    assert table_rows((ROOT / "docs" / "reviewer.md").read_text()) == help_rows


ENDPOINT = ["--endpoint", "http://127.0.0.1:9"]  # never contacted: the input is wrong first
FAST_ERRORS = [
    # (argv after `review`, environment, input file content or None, exit code, message)
    (["{file}", *ENDPOINT], {}, "", 6, "no unified-diff hunk"),
    (["{file}", *ENDPOINT], {}, "Dear reviewer,\nplease look at this.\n", 6, "no unified-diff hunk"),
    (["{file}", *ENDPOINT], {}, "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", 10, "shorter than expected"),
    (["{file}", *ENDPOINT], {}, "--- a/x.md\n+++ b/x.md\n@@ -1 +1 @@\n-a\n+b\n", 6, "x.md (not Go, Python"),
    (["{missing}", *ENDPOINT], {}, None, 4, "no such file"),
    ([], {}, None, 2, "pass a diff file"),
    (["{file}", "--post"], {}, DIFF, 2, "--post needs --pr"),
    (["--pr", "acme-x-7"], {"GITHUB_TOKEN": "t"}, None, 2, "is not OWNER/REPO#NUMBER"),
    (["--pr", "acme/x#7"], {}, None, 2, "--pr needs GITHUB_TOKEN"),
    (["{file}", "--max-hunks", "0"], {}, DIFF, 2, "--max-hunks must be at least 1"),
    (["{file}"], {}, DIFF, 9, "run an iteration first"),
    (["{file}", "--model", "{missing}"], {}, DIFF, 9, "no model at"),
]


def test_bad_input_fails_before_the_model_stack_is_imported(tmp_path):
    """Every error in one fresh interpreter: each must be found with none of the heavy modules imported."""
    cases = []
    for i, (argv, env, content, code, message) in enumerate(FAST_ERRORS):
        path = tmp_path / f"input{i}.diff"
        if content is not None:
            path.write_text(content)
        args = [a.format(file=path, missing=tmp_path / "nothing-here") for a in argv]
        cases.append({"argv": ["review", *args], "env": env, "code": code, "message": message})
    script = f"""
import contextlib, io, json, os, sys, time
from review_slm import cli
for case in json.loads(sys.argv[1]):
    os.environ.pop("GITHUB_TOKEN", None)
    os.environ.update(case["env"])
    err = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stderr(err):
        code = cli.main(case["argv"])
    print(json.dumps({{"code": code, "err": err.getvalue(), "s": time.monotonic() - started,
                      "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("REVIEW_SLM_ENDPOINT", "GITHUB_TOKEN")}
    env.update(PYTHONPATH=str(ROOT), REVIEW_SLM_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(cases)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(cases)
    for case, result in zip(cases, results):
        assert (result["code"], result["heavy"]) == (case["code"], []), (case, result)
        assert case["message"] in result["err"] and "Traceback" not in result["err"], (case, result)


def review(capsys, tmp_path, *args, answer: str | None = None, diff: str = DIFF) -> tuple[int, dict, str]:
    path = tmp_path / "change.diff"
    path.write_text(diff)
    with vllm_standin(VllmState(answer=answer) if answer else None) as (url, _state):
        code = cli.main(["review", str(path), "--endpoint", url, *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.startswith("{") else {"text": out}), err


def test_fail_on_exits_12_for_a_finding_at_or_above_it(tmp_path, capsys):
    # The stand-in answers one high concurrency finding at pkg/pool.go:41.
    code, out, err = review(capsys, tmp_path, "--fail-on", "high")
    assert code == 12 and out["findings"][0]["severity"] == "high"
    assert "1 finding(s) at or above --fail-on high: pkg/pool.go:41 (high)" in err
    assert review(capsys, tmp_path, "--fail-on", "critical")[0] == 0
    assert review(capsys, tmp_path, "--fail-on", "High")[0] == 12  # the Action's spelling


def test_an_answer_that_is_no_review_exits_11_unless_allowed(tmp_path, capsys):
    prose = "The change looks fine to me."
    code, out, err = review(capsys, tmp_path, answer=prose)
    assert code == 11 and out["findings"] == [] and out["summary"] == ""
    assert out["invalid_answers"][0] | {"error": ""} == {
        "path": "pkg/pool.go",
        "lines": "40-42",
        "error": "",
        "answer": prose,
    }
    assert "not reviewed: pkg/pool.go lines 40-42: the answer was not a valid review" in err
    assert review(capsys, tmp_path, "--allow-incomplete", answer=prose)[0] == 0


def test_max_hunks_applies_to_a_file_and_names_what_was_left(tmp_path, capsys):
    three = "".join(f"--- a/pkg/f{n}.go\n+++ b/pkg/f{n}.go\n@@ -1 +1,2 @@\n x\n+y{n}\n" for n in range(3))
    code, out, err = review(capsys, tmp_path, "--max-hunks", "1", diff=three)
    assert code == 11 and out["hunks_reviewed"] == 1
    assert out["not_reviewed"] == [
        {"path": f"pkg/f{n}.go", "lines": "1-2", "reason": "over --max-hunks=1"} for n in (1, 2)
    ]
    assert "not reviewed: pkg/f2.go lines 1-2: over --max-hunks=1" in err
    assert review(capsys, tmp_path, "--max-hunks", "1", "--allow-incomplete", diff=three)[0] == 0


def test_a_finding_outside_its_hunk_is_never_reported_at_a_line(tmp_path, capsys):
    answer = json.dumps(
        {
            "summary": "Leak.",
            "findings": [
                {"line": 99999, "severity": "high", "category": "security", "comment": "token logged"},
                {"line": 10, "severity": "low", "category": "style", "comment": "naming"},
                {"line": 44, "severity": "medium", "category": "concurrency", "comment": "unguarded map write"},
            ],
        }
    )
    diff = (ROOT / "examples" / "leaky_worker.diff").read_text()  # the Go hunk covers new lines 40-50
    code, out, _err = review(capsys, tmp_path, answer=answer, diff=diff)
    assert code == 0
    assert [(f["path"], f["line"]) for f in out["findings"]] == [("pkg/worker/pool.go", 44)]
    assert [(f["line"], f["reason"]) for f in out["outside_diff"]] == [
        (99999, "line 99999 is not a new-side line of the hunk (lines 40-50)"),
        (10, "line 10 is not a new-side line of the hunk (lines 40-50)"),
    ]
    sarif_lines = [
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in to_sarif(out)["runs"][0]["results"]
    ]
    assert sarif_lines == [44]
    assert [d["location"]["range"]["start"]["line"] for d in to_rdjson(out)["diagnostics"]] == [44]
    markdown = to_markdown(out)
    assert "| `pkg/worker/pool.go` | 44 |" in markdown and "| 99999 |" not in markdown and "token logged" in markdown
    # --fail-on counts a severe finding even when its line is wrong: it was reported, in outside_diff.
    assert review(capsys, tmp_path, "--fail-on", "high", answer=answer, diff=diff)[0] == 12


def test_long_hunks_are_windowed_to_the_local_models_context(home, model_cache):
    from review_slm import settings
    from review_slm.core.prompts import student_messages
    from review_slm.core.recipe import load_recipe
    from review_slm.training.tiny_model import ensure_tiny_model

    model_dir = ensure_tiny_model(load_recipe("tiny").tiny_model, model_cache)
    model = cli.LocalModel(model_dir, max_new_tokens=192)
    body = "".join(f"+\tresults[{i}] = fetch(ctx, urls[{i}], retries, timeout)  // {i}\n" for i in range(200))
    parsed = parse_input(f"--- a/pkg/big.go\n+++ b/pkg/big.go\n@@ -1 +1,201 @@\n func f() {{\n{body}")
    plan = plan_units(parsed.hunks, 10_000, DEFAULT_LANGUAGES, model.token_budget())  # no line limit: tokens decide
    assert len(plan.hunks) > 1  # 200 such lines do not fit the tiny model's context
    tokenizer = model.tokenizer()
    recipe = load_recipe(settings.recipe_name())  # the `home` fixture's recipe
    context = min(json.loads((model_dir / "config.json").read_text())["max_position_embeddings"], recipe.sft.max_length)
    shown = []
    for unit in plan.hunks:
        messages = student_messages(unit.path, unit.language, unit.text)
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) + 192 <= context
        shown += sorted(unit.right_lines)
    assert shown == list(range(1, 202))  # every line in exactly one window
