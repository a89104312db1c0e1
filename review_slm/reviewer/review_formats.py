"""A review (`review-slm review`'s JSON) in the formats other tools read: Markdown, SARIF 2.1.0, rdjson.

- SARIF 2.1.0 is what GitHub code scanning uploads (`github/codeql-action/upload-sarif`): one run,
  the categories as rules, severity as `level`, a code suggestion as a `fix`.
- rdjson is reviewdog's Diagnostic JSON (`reviewdog -f=rdjson`): one diagnostic per finding, the
  suggestion as a `suggestions[]` replacement of the commented range.
"""

from __future__ import annotations

import json

from review_slm.core.schema import Category
from review_slm.reviewer.pr_review import is_code

TOOL_NAME = "review-slm"
TOOL_URI = "https://github.com/review-slm/review-slm"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_RDJSON_SEVERITY = {"critical": "ERROR", "high": "ERROR", "medium": "WARNING", "low": "INFO", "info": "INFO"}
FORMATS = ("json", "markdown", "sarif", "rdjson")


def _end_line(finding: dict) -> int:
    return max(finding.get("end_line") or finding["line"], finding["line"])


def to_markdown(review: dict) -> str:
    lines = ["# review-slm", "", review.get("summary") or "No issues found.", ""]
    findings = review.get("findings", [])
    if findings:
        lines += ["| file | line | severity | category | comment |", "|---|---|---|---|---|"]
        for f in findings:
            comment = f["comment"].replace("|", r"\|")  # a pipe would end the table cell
            lines.append(f"| `{f['path']}` | {f['line']} | {f['severity']} | {f['category']} | {comment} |")
        for f in findings:
            if f.get("suggestion"):
                fence = "suggestion" if is_code(f["suggestion"]) else ""
                lines += [
                    "",
                    f"**`{f['path']}:{f['line']}`** suggestion:",
                    f"```{fence}",
                    f["suggestion"].rstrip("\n"),
                    "```",
                ]
    outside = review.get("outside_diff") or []
    if outside:
        lines += ["", "**Findings at lines outside the hunk they were found in** (no line position is claimed):"]
        lines += [
            f"- `{f['path']}` ({f['severity']}, {f['category']}): {f['comment']} ({f['reason']})" for f in outside
        ]
    incomplete = [(i, i["error"]) for i in review.get("invalid_answers") or []]
    incomplete += [(n, n["reason"]) for n in review.get("not_reviewed") or []]
    if incomplete:
        lines += ["", "**Not reviewed:**"]
        lines += [f"- `{unit['path']}` lines {unit['lines']}: {why}" for unit, why in incomplete]
    skipped = review.get("files_skipped") or []
    if skipped:
        lines += ["", "**Files skipped:** " + ", ".join(f"`{s['path']}` ({s['reason']})" for s in skipped)]
    return "\n".join(lines) + "\n"


def to_sarif(review: dict, version: str = "0.1.0") -> dict:
    rules = [
        {
            "id": c.value,
            "name": c.value.replace("-", " ").title().replace(" ", ""),
            "shortDescription": {"text": f"{c.value} issue found by review-slm"},
        }
        for c in Category
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in review.get("findings", []):
        region = {"startLine": f["line"], "endLine": _end_line(f)} if f["line"] >= 1 else None
        location = {"physicalLocation": {"artifactLocation": {"uri": f["path"], "uriBaseId": "%SRCROOT%"}}}
        if region:
            location["physicalLocation"]["region"] = region
        result = {
            "ruleId": f["category"],
            "ruleIndex": index[f["category"]],
            "level": _SARIF_LEVEL[f["severity"]],
            "message": {"text": f["comment"]},
            "locations": [location],
            "properties": {"severity": f["severity"]},
        }
        if region and is_code(f.get("suggestion") or ""):
            result["fixes"] = [
                {
                    "description": {"text": "suggested change"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": f["path"], "uriBaseId": "%SRCROOT%"},
                            "replacements": [
                                {
                                    "deletedRegion": region,
                                    "insertedContent": {"text": f["suggestion"].rstrip("\n") + "\n"},
                                }
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": TOOL_NAME, "version": version, "informationUri": TOOL_URI, "rules": rules}},
                "results": results,
                # Findings the model put on lines it was not shown have no trustworthy location: not results.
                "properties": {"summary": review.get("summary", ""), "outside_diff": review.get("outside_diff", [])},
            }
        ],
    }


def to_rdjson(review: dict) -> dict:
    diagnostics = []
    for f in review.get("findings", []):
        span = {"start": {"line": f["line"]}, "end": {"line": _end_line(f)}}
        diagnostic = {
            "message": f["comment"],
            "location": {"path": f["path"], "range": {"start": span["start"]}},
            "severity": _RDJSON_SEVERITY[f["severity"]],
            "code": {"value": f["category"]},
        }
        if is_code(f.get("suggestion") or ""):
            # reviewdog replaces the range with `text`: whole lines, from the start of `line` to the start of the
            # line after.
            diagnostic["suggestions"] = [
                {
                    "range": {
                        "start": {"line": f["line"], "column": 1},
                        "end": {"line": _end_line(f) + 1, "column": 1},
                    },
                    "text": f["suggestion"].rstrip("\n") + "\n",
                }
            ]
        diagnostics.append(diagnostic)
    return {"source": {"name": TOOL_NAME, "url": TOOL_URI}, "diagnostics": diagnostics}


def render(review: dict, fmt: str) -> str:
    if fmt == "markdown":
        return to_markdown(review)
    if fmt == "sarif":
        return json.dumps(to_sarif(review), indent=2, ensure_ascii=False)
    if fmt == "rdjson":
        return json.dumps(to_rdjson(review), indent=2, ensure_ascii=False)
    return json.dumps(review, indent=2, ensure_ascii=False)
