"""What every model is evaluated on: the frozen test split of the gold set plus the labelled bug suite
(buggy diffs with their findings, and clean diffs that must get an empty review).

The bug suite is every `*.jsonl` file of `review_slm/data/bug_suite/` (`bug_suite.jsonl`: Go, Python,
Kubernetes YAML; `bug_suite_more_languages.jsonl`: Rust, Java, TypeScript), restricted to the languages
the deployment reviews (`REVIEW_SLM_LANGUAGES`): a model is not scored on a language it is not trained
or asked to review.
"""

from __future__ import annotations

import json
from importlib import resources

BUG_SUITE_DIR = resources.files("review_slm.data") / "bug_suite"


def bug_suite_rows(languages: tuple[str, ...]) -> list[dict]:
    """The labelled items of the reviewed `languages`, file by file in name order."""
    files = sorted((f for f in BUG_SUITE_DIR.iterdir() if f.name.endswith(".jsonl")), key=lambda f: f.name)
    rows = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["language"] in languages]


def eval_items(test_rows: list[dict], languages: tuple[str, ...]) -> list[dict]:
    """Frozen test split + the labelled bug suite, each item tagged with its `set`."""

    def item(row: dict, prefix: str, set_name: str) -> dict:
        return {
            "id": f"{prefix}:{row['id']}",
            "set": set_name,
            "path": row["path"],
            "language": row["language"],
            "diff_hunk": row["diff_hunk"],
            "review": row["review"],
        }

    return [item(r, "test", "test") for r in test_rows] + [
        item(r, "bugs", "bug_suite") for r in bug_suite_rows(languages)
    ]
