"""Write the bundled supplement's clean rows: hunks of merged pull requests of kubeflow/trainer, labelled `clean`.

The embedded default cannot read pull-request files offline (with a token, `mined_reviews` takes the uncommented
hunks of the mined pull requests, `core/clean_hunks.py`), so its clean examples come from the history of the project
the bundled comments are mined from: one hunk of each of the newest merged pull requests, as its squash commit on
master has it (`git show -U3`, what GitHub's pull-request files show), in Go, Python and Kubernetes YAML alike. Each
passed review (the project merges approved pull requests only); whether it drew a comment on the way is not known,
so, like a mined clean hunk, it is probably, not surely, clean. Never invented code, never presented as mined
comments: each row's `origin` names the pull request, the commit and its date.

Left out: the pull requests of the bundled comments (their other hunks would be neighbours of the test split's
rows), dependency bumps, cherry-picks and reverts (repeats of other changes), generated code and long hunks.

Why hunks of real changes: the rows this replaced were whole functions of well-known projects shown as added
lines. Three of four commented hunks of the bundled data also delete lines, none of those clean rows did, so a
student learnt "deletes a line, so it has a finding", which is false of a fix (4 of the bug suite's 7 clean diffs).
Of these rows 64 % delete lines (the mined commented hunks: 71 %).

Run from the repository root with a clone of github.com/kubeflow/trainer:

    python review_slm/data/hf_supplement/make_clean_rows.py ~/src/kubeflow-trainer > /tmp/clean.jsonl

and replace the rows whose id starts with `clean-` in code_review_supplement.jsonl with its output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

from review_slm.core.diff_hunks import changed_line_count, hunk_lines, split_unified_diff
from review_slm.core.languages import DEFAULT_LANGUAGES, EXTENSIONS, detect_language

PER_LANGUAGE = 30  # hunks per language, one per pull request
MAX_CHANGED = 16  # added + deleted lines: a hunk a reviewer reads in one look
MAX_LINES = 30
SNAPSHOT = Path(__file__).parents[1] / "github_snapshot" / "kubeflow__trainer.json"
NOT_A_REVIEWED_CHANGE = re.compile(r"^(chore\(deps\)|build\(deps\)|bump |revert|\[release-|cherry.pick)", re.I)
GENERATED = re.compile(
    r"(zz_generated|\.pb\.go$|_generated\.|/vendor/|go\.sum$|openapi|/crds/|kubeflow_trainer_api/|/applyconfiguration/"
    r"|/clientset/|/informers/|/listers/)"
)


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, text=True, check=True).stdout


def _candidates(git_dir: Path, sha: str, taken: Counter[str]) -> list[tuple[str, str, str, str]]:
    """(content hash, path, hunk, language) of the commit's hunks that may be taken (`taken`: rows per language)."""
    out = []
    for path, hunk in split_unified_diff(_git(git_dir, "show", "--format=", "--no-color", "-U3", sha)):
        language = detect_language(path, hunk, DEFAULT_LANGUAGES)
        if language is None or taken[language] >= PER_LANGUAGE or GENERATED.search(path) or "Code generated" in hunk:
            continue
        if not 0 < changed_line_count(hunk) <= MAX_CHANGED or len(hunk_lines(hunk)) - 1 > MAX_LINES:
            continue
        out.append((hashlib.sha256(f"{path}\n{hunk}".encode()).hexdigest(), path, hunk, language))
    return out


def history_rows(git_dir: Path) -> list[dict]:
    """Newest first, PER_LANGUAGE per language; within a pull request the hunk with the smallest content hash (not
    the first: a pull request's first file is often its go.mod or docs)."""
    snapshot_prs = {int(c["pull_request_url"].rsplit("/", 1)[1]) for c in json.loads(SNAPSHOT.read_text())}
    taken: Counter[str] = Counter()
    rows = []
    for line in _git(git_dir, "log", "--first-parent", "--format=%H%x09%cs%x09%s", "master").splitlines():
        sha, date, subject = line.split("\t", 2)
        number = re.search(r"\(#(\d+)\)$", subject)
        if not number or int(number[1]) in snapshot_prs or NOT_A_REVIEWED_CHANGE.match(subject):
            continue
        candidates = _candidates(git_dir, sha, taken)
        if not candidates:
            continue
        digest, path, hunk, language = min(candidates)
        taken[language] += 1
        lang = EXTENSIONS[language]  # the `codereviewer` shape spells a language as its file extension: py, go
        rows.append(
            {
                "id": f"clean-history-{lang}-{number[1]}-{digest[:8]}",
                "proj": "kubeflow/trainer",
                "lang": lang,
                "path": path,
                "patch": hunk,
                "clean": True,
                "origin": f"kubeflow/trainer pull request #{number[1]}, merged as {sha[:12]} on {date}: a hunk of "
                "a merged change as the repository's history has it (it passed review; whether it drew a comment "
                "on the way is not known)",
            }
        )
        if all(taken[language] >= PER_LANGUAGE for language in DEFAULT_LANGUAGES):
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("git_dir", type=Path, help="a clone of github.com/kubeflow/trainer (its master branch)")
    for row in history_rows(parser.parse_args().git_dir):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
