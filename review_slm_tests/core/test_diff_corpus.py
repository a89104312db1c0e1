"""Tricky diffs read line by line: every new-side line of every hunk reaches the model, in file mode and `--pr`.

The oracle is `git apply`: each corpus diff is applied to a pre-image rebuilt from the diff's old side (lines the
diff does not show are fillers), and the lines the hunks' `@@` headers cover are read from the file git wrote. A
parser that ends a hunk early (a removed `-- x` line read as a file header), shifts numbers (a form feed split a
line) or misnames a file (git's quoted paths) disagrees with git here.

Corpus (review_slm_tests/data/diffs/): `git_tricky.diff` is real `git diff -M` output (a path with a space, an
octal-quoted non-ASCII path, a backslash-quoted path, SQL `--` lines, `++` lines, CRLF lines, no newline at end of
file, a form feed and U+2028 inside lines, a rename with changes, a pure rename, a mode change, a binary file, deleted
and new files, `@@ -0,0 +1 @@`); the others are hand-written: quoted paths in `---`/`+++` headers, headers without
counts, `diff -u` timestamps, a diff with CRLF on every line, SQL inside Go; `git_format_patch.diff` is the same change
as `git format-patch` writes it (mail headers, diffstat, signature).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from unidiff import PatchSet

from review_slm import cli
from review_slm.core.diff_hunks import hunk_windows, new_file_lines, parse_diff, unquote_git_path
from review_slm.reviewer.github_pulls import GitHubPullRequests
from review_slm.reviewer.pr_command import PrOptions, review_pull_request
from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.servers import serve

CORPUS = sorted((Path(__file__).parents[1] / "data" / "diffs").glob("*.diff"))
REVIEWED = (".go", ".py")  # the corpus has no Kubernetes YAML; other files are skipped by language
NUMBERED = re.compile(r"^ *(\d+) [+ ](.*)$", re.MULTILINE)  # a new-side line as `numbered_hunk` shows it


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # "\r\n" stays as it is in the file


def _repo_path(raw: str) -> str:
    path = unquote_git_path(raw.strip())
    return path[2:] if path[:2] in ("a/", "b/") else path


def git_apply_lines(diff: Path, work: Path) -> set[tuple[str, int, str]]:
    """(path, new line, text) for every line the hunks' headers cover, as `git apply` writes the new files."""
    patch = PatchSet(read(diff))  # only to rebuild a pre-image git can apply the diff to
    excluded = []
    for patched in patch:
        if patched.is_binary_file:
            excluded.append(f"--exclude={_repo_path(patched.target_file)}")
            continue
        if patched.source_file in (None, "/dev/null"):
            continue
        old: dict[int, str] = {}
        previous = None
        for hunk in patched:
            for line in hunk:
                if line.source_line_no:
                    old[line.source_line_no] = line.value
                elif line.line_type == "\\" and previous is not None and previous.source_line_no:
                    old[previous.source_line_no] = old[previous.source_line_no].rstrip("\r\n")
                previous = line
        target = work / _repo_path(patched.source_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = max(old, default=0)
        target.write_bytes("".join(old.get(n, f"filler {n}\n") for n in range(1, size + 1)).encode("utf-8"))
    # --unidiff-zero: a hand-written hunk without context is not anchored to the file's start or end.
    subprocess.run(["git", "apply", "--unidiff-zero", *excluded, str(diff)], cwd=work, check=True, capture_output=True)
    expected = set()
    for patched in patch:
        if patched.is_binary_file or patched.target_file in (None, "/dev/null"):
            continue
        path = _repo_path(patched.target_file)
        lines = (work / path).read_bytes().decode("utf-8").split("\n")
        for hunk in patched:
            for n in range(hunk.target_start, hunk.target_start + hunk.target_length):
                expected.add((path, n, lines[n - 1].removesuffix("\r")))
    return expected


@pytest.mark.parametrize("diff", CORPUS, ids=[d.name for d in CORPUS])
def test_the_parser_reads_every_new_side_line_as_git_apply_does(diff, tmp_path):
    parsed = parse_diff(read(diff))
    ours = [(h.path, n, text) for h in parsed.hunks for n, text in new_file_lines(h.text)]
    assert len(ours) == len(set(ours))
    assert set(ours) == git_apply_lines(diff, tmp_path)


def test_files_without_reviewable_lines_are_listed_with_the_reason():
    parsed = parse_diff(read(CORPUS[[d.name for d in CORPUS].index("git_tricky.diff")]))
    assert {s["path"]: s["reason"] for s in parsed.skipped} == {
        "docs/logo.png": "binary file",
        "pkg/gone.py": "deleted",
        "pkg/old_name.py": "deleted",
        "pkg/mode.py": "mode change only (100644 -> 100755)",
        "pkg/pure_new.py": "renamed, content unchanged",
    }
    paths = {h.path for h in parsed.hunks}
    assert {"ops/my scripts/rotate.py", "pkg/résumé été.py", "pkg/caf\\xc3\\xa9.py", "pkg/big_new.py"} <= paths


class Recorder:
    """Stands in for the model: keeps every prompt, answers "no issues"."""

    def __init__(self):
        self.prompts: list[str] = []

    def __call__(self, prompts: list[dict]) -> list[dict]:
        self.prompts += [p["messages"][1]["content"] for p in prompts]
        return [{"id": p["id"], "answer": '{"summary": "No issues found.", "findings": []}'} for p in prompts]

    def lines(self) -> list[tuple[str, int, str]]:
        out = []
        for prompt in self.prompts:
            path = re.match(r"File: (.*) \((?:go|python)\)\n", prompt).group(1)
            out += [(path, int(n), text) for n, text in NUMBERED.findall(prompt)]
        return sorted(out)


def expected_for_review(diff: Path, work: Path) -> list[tuple[str, int, str]]:
    return sorted(line for line in git_apply_lines(diff, work) if line[0].endswith(REVIEWED))


@pytest.mark.parametrize("max_hunk_lines", [200, 3])  # 3: every long hunk in windows
@pytest.mark.parametrize("diff", CORPUS, ids=[d.name for d in CORPUS])
def test_every_new_side_line_reaches_the_model_once_in_file_mode(diff, max_hunk_lines, tmp_path):
    model = Recorder()
    review = cli.review_diff(read(diff), model, max_hunk_lines)
    assert review["not_reviewed"] == [] and review["invalid_answers"] == []
    assert model.lines() == expected_for_review(diff, tmp_path)


def github_files(diff: Path) -> list[dict]:
    """The diff as `GET /pulls/{n}/files` would list it: each file's hunks as its `patch`, none for a binary."""
    files = []
    for patched in PatchSet(read(diff)):
        entry = {"filename": _repo_path(patched.path), "status": "modified", "changes": 1, "sha": "x"}
        if patched.is_removed_file:
            entry["status"] = "removed"
        if patched.is_binary_file:
            entry["changes"] = 0
        else:
            entry["patch"] = "".join(str(h) for h in patched)
        files.append(entry)
    return files


@pytest.mark.parametrize("diff", CORPUS, ids=[d.name for d in CORPUS])
def test_every_new_side_line_reaches_the_model_once_with_pr(diff, tmp_path):
    state = GitHubState()
    state.pulls["acme/x#1"] = PullState(head_sha="h1", files=github_files(diff))
    model = Recorder()
    with serve(make_handler(state)) as url:
        client = GitHubPullRequests("test-token", url, backoff_factor=0, seconds_between_writes=0)
        review = review_pull_request(client, "acme/x", 1, model, PrOptions(max_hunk_lines=3))
    assert review["not_reviewed"] == [] and review["invalid_answers"] == []
    assert model.lines() == expected_for_review(diff, tmp_path)


def test_a_form_feed_or_line_separator_inside_a_line_does_not_shift_line_numbers():
    hunk = "@@ -1,2 +1,3 @@\n a\r\n+b\x0c = 1\u2028 # c\r\n c"
    assert new_file_lines(hunk) == [(1, "a"), (2, "b\x0c = 1\u2028 # c"), (3, "c")]


def test_windows_are_valid_hunks_and_keep_the_no_newline_marker_with_its_line():
    marker = "\\ No newline at end of file"
    hunk = f"@@ -1,2 +1,2 @@ func f() {{\n a\n-b\n{marker}\n+c\n{marker}"
    assert hunk_windows(hunk, 2) == [
        f"@@ -1,2 +1,1 @@ func f() {{\n a\n-b\n{marker}",
        f"@@ -2,0 +2,1 @@ func f() {{\n+c\n{marker}",
    ]
    assert hunk_windows(hunk, 10) == [hunk]


def test_windows_fit_a_token_budget_and_a_line_over_it_is_a_window_of_its_own():
    hunk = "@@ -1,1 +1,4 @@\n a\n+bb\n+" + "x" * 50 + "\n+c"
    windows = hunk_windows(hunk, 100, lambda lines: [len(line) for line in lines], 6)
    assert [new_file_lines(w) for w in windows] == [[(1, "a"), (2, "bb")], [(3, "x" * 50)], [(4, "c")]]


def test_changed_lines_inside_a_hunk_count_even_when_they_look_like_file_headers():
    from review_slm.core.diff_hunks import changed_line_count

    hunk = "@@ -1,2 +1,2 @@\n--- old SQL comment\n+++ new counter\n context\n"
    assert changed_line_count(hunk) == 2
    assert changed_line_count("--- a/x.sql\n+++ b/x.sql\n" + hunk) == 2  # real file headers are not changes
    assert changed_line_count("-old\n+new\n") == 2  # a bare patch without a header still counts
