"""Languages as configuration: detection by Pygments' registry, content markers, REVIEW_SLM_LANGUAGES,
and the Rust / Java / TypeScript items of the bug suite."""

import pytest

from review_slm import settings
from review_slm.core.diff_hunks import numbered_hunk
from review_slm.core.languages import contradicting_language, detect_language, normalize_language, parse_languages
from review_slm.core.metrics import metrics_by_group
from review_slm.core.prompts import render_review, student_user_prompt
from review_slm.core.schema import Review
from review_slm.core.scoring import score_answer
from review_slm.evaluate.eval_sets import bug_suite_rows, eval_items
from review_slm.evaluate.report import evaluate
from review_slm.evaluate.report_metadata import group_table

MORE = ("go", "python", "yaml", "rust", "java", "typescript", "javascript")


@pytest.mark.parametrize(
    "path, language",
    [
        ("src/lib.rs", "rust"),
        ("src/main/java/A.java", "java"),
        ("web/app.ts", "typescript"),
        ("web/App.tsx", "typescript"),
        ("web/app.js", "javascript"),
        ("web/App.jsx", "javascript"),
        ("web/esm.mjs", "javascript"),
        ("cmd/main.go", "go"),
        ("pkg/x.py", "python"),
        ("stubs/x.pyi", "python"),
        ("src/core/pool.cc", None),
        ("README.md", None),
        ("Makefile", None),
    ],
)
def test_extension_detection_through_the_lexer_registry(path, language):
    assert detect_language(path, "", MORE) == language


def test_languages_not_configured_are_not_detected(monkeypatch):
    monkeypatch.delenv("REVIEW_SLM_LANGUAGES", raising=False)
    assert settings.languages() == ("go", "python", "yaml")
    configured = settings.languages()
    assert detect_language("src/lib.rs", "", configured) is None and normalize_language("rust", configured) is None
    monkeypatch.setenv("REVIEW_SLM_LANGUAGES", "go, Rust ,ts")
    configured = settings.languages()
    assert configured == ("go", "rust", "typescript")
    assert detect_language("src/lib.rs", "", configured) == "rust"
    assert normalize_language("tsx", configured) == "typescript"
    assert detect_language("pkg/x.py", "", configured) is None  # python is not in the list any more
    monkeypatch.setenv("REVIEW_SLM_LANGUAGES", "go,cobol")
    with pytest.raises(ValueError, match="REVIEW_SLM_LANGUAGES.*cobol"):
        settings.languages()


def test_yaml_is_reviewed_only_when_it_is_kubernetes():
    assert detect_language("ci/config.yml", "+apiVersion: apps/v1\n+kind: Deployment", MORE) == "yaml"
    assert detect_language(".github/workflows/ci.yml", "+on: push", MORE) is None
    assert detect_language("charts/x/templates/_helpers.tpl", "", MORE) == "yaml"


def test_content_markers_catch_a_declared_language_the_content_contradicts():
    rust = (
        "@@ -1,2 +1,4 @@\n use std::io;\n+pub fn read(p: &str) -> String {\n+    let mut s = fs::read(p).unwrap();\n }"
    )
    java = "@@ -1,1 +1,3 @@\n import java.util.List;\n+    @Override\n+    public String name() {"
    ts = (
        "@@ -1,1 +1,3 @@\n+export interface User {\n+  id: string;\n+}\n"
        "+export function get(id: string): Promise<User> {"
    )
    assert contradicting_language("python", rust) == "rust"
    assert contradicting_language("go", java) == "java"
    assert contradicting_language("python", ts) == "typescript"
    assert contradicting_language("rust", rust) is None and contradicting_language("java", java) is None
    assert contradicting_language("javascript", ts) is None  # TypeScript is a superset of JavaScript
    assert parse_languages("golang,py,yml") == ("go", "python", "yaml")


def test_new_bug_suite_items_parse_score_and_number_their_lines():
    rows = [r for r in bug_suite_rows(MORE) if r["language"] in ("rust", "java", "typescript")]
    assert {r["language"] for r in rows} == {"rust", "java", "typescript"}
    for language in ("rust", "java", "typescript"):
        mine = [r for r in rows if r["language"] == language]
        buggy = sum(1 for r in mine if r["review"]["findings"])
        assert buggy >= 2 and len(mine) - buggy >= 2  # each bug has a clean counterpart
    for row in rows:
        assert detect_language(row["path"], row["diff_hunk"], MORE) == row["language"]
        assert contradicting_language(row["language"], row["diff_hunk"]) is None
        gold = Review.model_validate(row["review"])
        assert score_answer(render_review(gold), gold, hunk_path=row["path"]).quality == 1.0  # gold scores as perfect
        numbered = numbered_hunk(row["diff_hunk"])
        for finding in gold.findings:  # the finding's line is a numbered line of the prompt, ready to be copied
            numbers = [line.split(maxsplit=1)[:1] for line in numbered.splitlines()]
            assert [str(finding.line)] in numbers, (row["id"], finding.line)
        prompt = student_user_prompt(row["path"], row["language"], row["diff_hunk"])
        assert f"File: {row['path']} ({row['language']})" in prompt


def test_bug_suite_follows_the_configured_languages(monkeypatch):
    monkeypatch.delenv("REVIEW_SLM_LANGUAGES", raising=False)
    rows = bug_suite_rows(settings.languages())
    assert len(rows) == 24 and {r["language"] for r in rows} == {"go", "python", "yaml"}
    monkeypatch.setenv("REVIEW_SLM_LANGUAGES", "go,python,yaml,rust,java,typescript")
    assert len(bug_suite_rows(settings.languages())) == 36


def test_metrics_per_language_and_category(monkeypatch):
    items = eval_items([], ("go", "python", "yaml", "rust", "java", "typescript"))
    # A model that is perfect on Rust and says nothing anywhere else.
    answers = {
        i["id"]: render_review(Review.model_validate(i["review"])) if i["language"] == "rust" else "" for i in items
    }
    groups = metrics_by_group(items, answers)
    assert groups["lang_rust"].f1 == 1.0 and groups["lang_java"].format_validity == 0.0
    assert groups["cat_concurrency"].recall == 0.3333  # the Rust Mutex item of three concurrency items (two Go)
    # In MLflow per group, and one table in the UI (rows: languages and categories; cells: candidate / base).
    evaluation = evaluate(items, {"candidate": answers, "base": {}}, tolerance=0.02)
    metrics = evaluation.mlflow_metrics()
    assert metrics["candidate/lang_rust/f1"] == 1.0 and metrics["candidate/lang_typescript/f1"] == 0.0
    assert "candidate/cat_resource_leak/recall" in metrics and "base/cat_security/f1" in metrics
    table = group_table(evaluation)
    assert "| language rust | 4 | 1.000 / 0.000 |" in table and "| category resource_leak |" in table
