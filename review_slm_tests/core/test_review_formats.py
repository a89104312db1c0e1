"""`review --format`: SARIF 2.1.0 and rdjson validated against their published schemas (vendored)."""

import json
from pathlib import Path

import jsonschema

from review_slm.reviewer.review_formats import render, to_markdown, to_rdjson, to_sarif

SCHEMAS = Path(__file__).parents[1] / "schemas"
REVIEW = {
    "summary": "Channel closed twice.",
    "findings": [
        {
            "path": "pkg/pool.go",
            "line": 42,
            "end_line": 43,
            "severity": "high",
            "category": "resource-leak",
            "comment": "closed twice | once in Stop",
            "suggestion": "\tclose(p.ch)\n\tp.ch = nil",
        },
        {
            "path": "cmd/new.py",
            "line": 2,
            "severity": "info",
            "category": "style",
            "comment": "name it",
            "suggestion": "use a clearer name.",
        },
        {
            "path": "cmd/new.py",
            "line": 0,
            "severity": "low",
            "category": "docs",
            "comment": "file-level note",
            "suggestion": "",
        },
    ],
}


def validator(name: str):
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def test_sarif_validates_against_the_2_1_0_schema_and_carries_fixes():
    sarif = to_sarif(REVIEW)
    errors = sorted(validator("sarif-schema-2.1.0.json").iter_errors(sarif), key=str)
    assert not errors, errors[0].message
    results = sarif["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error", "note", "note"]
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 42, "endLine": 43}
    assert (
        results[0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"]
        == "\tclose(p.ch)\n\tp.ch = nil\n"
    )
    assert "fixes" not in results[1]  # prose advice is not a code change
    assert "region" not in results[2]["locations"][0]["physicalLocation"]  # SARIF lines start at 1
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rules[results[0]["ruleIndex"]]["id"] == "resource-leak"


def test_a_broken_sarif_is_caught_by_the_schema():
    sarif = to_sarif(REVIEW)
    sarif["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator("sarif-schema-2.1.0.json").iter_errors(sarif))


def test_rdjson_is_what_reviewdog_reads():
    rd = to_rdjson(REVIEW)
    assert not list(validator("reviewdog-DiagnosticResult.json").iter_errors(rd))
    first = rd["diagnostics"][0]
    assert first["severity"] == "ERROR" and first["code"] == {"value": "resource-leak"}
    # Whole lines 42-43 replaced: the end is exclusive, the start of line 44.
    assert first["suggestions"][0]["range"] == {"start": {"line": 42, "column": 1}, "end": {"line": 44, "column": 1}}


def test_markdown_escapes_table_cells_and_render_picks_the_format():
    md = to_markdown(REVIEW)
    assert "closed twice \\| once in Stop" in md and "```suggestion\n\tclose(p.ch)\n\tp.ch = nil\n```" in md
    assert json.loads(render(REVIEW, "json")) == REVIEW
    assert json.loads(render(REVIEW, "sarif"))["version"] == "2.1.0"


def test_review_format_sarif_and_min_severity_from_the_cli(tmp_path, capsys):
    from review_slm import cli
    from review_slm_tests.resources.vllm_standin import vllm_standin
    from review_slm_tests.test_cli import DIFF

    diff = tmp_path / "change.diff"
    diff.write_text(DIFF)
    with vllm_standin() as (url, _state):  # answers one high concurrency finding on pkg/pool.go:41
        assert cli.main(["review", str(diff), "--endpoint", url, "--format", "sarif"]) == 0
        sarif = json.loads(capsys.readouterr().out)
        assert (
            cli.main(["review", str(diff), "--endpoint", url, "--format", "rdjson", "--min-severity", "critical"]) == 0
        )
        rd = json.loads(capsys.readouterr().out)
    assert not list(validator("sarif-schema-2.1.0.json").iter_errors(sarif))
    [result] = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 41 and result["ruleId"] == "concurrency"
    assert rd["diagnostics"] == []  # a high finding is below --min-severity critical
