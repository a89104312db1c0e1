"""Write the bundled supplement's clean rows: real, reviewed code shown as a hunk that adds it, labelled `clean`.

The embedded default cannot read pull-request files offline, so its clean examples come from code that long ago
passed review in well-known projects, never from invented code and never presented as mined comments:

- Python: CPython's standard library (the interpreter running this script, e.g. 3.11.7), short functions;
- Go: git's `contrib/persistent-https` (Debian's git package ships it under /usr/share/doc/git/contrib);
- Kubernetes YAML: this project's own reviewed manifests under deploy/kustomize/base.

Each row says where it comes from in `origin`: project, version, file and lines. Run from the repository root:

    python review_slm/data/hf_supplement/make_clean_rows.py > /tmp/clean.jsonl

and replace the rows whose id starts with `clean-` in code_review_supplement.jsonl with its output.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

CONTEXT = 2  # lines shown as context before the added ones, as a pull request's hunk does
MAX_ADDED = 12

PYTHON = {
    "fnmatch.py": ["fnmatch", "filter"],
    "shlex.py": ["join", "quote"],
    "textwrap.py": ["fill", "shorten", "indent"],
    "bisect.py": ["insort_right", "insort_left"],
    "heapq.py": ["heappush", "heappop", "heapreplace"],
    "string.py": ["capwords"],
    "secrets.py": ["randbelow", "token_hex", "token_urlsafe"],
    "base64.py": ["b64encode", "urlsafe_b64decode", "standard_b64encode"],
    "glob.py": ["glob"],
    "shutil.py": ["copyfileobj"],
    "json/decoder.py": ["JSONArray"],
}
GIT_CONTRIB = Path("/usr/share/doc/git/contrib/persistent-https")
GO = {
    "socket.go": ["Listen", "Dial", "Path", "mkdir", "checkPermissions", "defaultDir"],
    "proxy.go": ["Done", "closeOnIdle", "closeOnUpdate", "closeOnSignal"],
    "client.go": ["readAddr"],
    "main.go": ["buildLabel"],
}
YAML = {  # (file, first line of a window of MAX_ADDED lines)
    "minio.yaml": [30, 42, 54],
    "postgres.yaml": [38, 46, 59],
    "mlflow.yaml": [33, 49],
}


def _python_function(lines: list[str], name: str) -> int:
    return next(i for i, line in enumerate(lines) if re.match(rf"def {name}\(", line))


def _go_function(lines: list[str], name: str) -> int:
    return next(i for i, line in enumerate(lines) if re.match(rf"func (\([^)]*\) )?{name}\(", line))


def _function_end(lines: list[str], start: int, closing: str | None) -> int:
    """One past the function's last line (its closing `}` for Go, the last indented line for Python), at most
    MAX_ADDED lines after `start`."""
    end = min(len(lines), start + MAX_ADDED)
    for i in range(start + 1, end):
        if closing and lines[i] == closing:
            return i + 1
        if not closing and lines[i] and not lines[i][0].isspace():
            end = i
            break
    while not lines[end - 1].strip():  # a hunk does not end on blank lines
        end -= 1
    return end


def hunk(lines: list[str], start: int, end: int) -> str:
    """Lines [start, end) (0-based) as added after CONTEXT lines of context, with the file's own line numbers."""
    first = max(start - CONTEXT, 0)
    context = lines[first:start]
    header = f"@@ -{first + 1},{len(context)} +{first + 1},{len(context) + end - start} @@"
    return "\n".join([header, *(" " + line for line in context), *("+" + line for line in lines[start:end])])


def row(kind: str, proj: str, lang: str, path: str, lines: list[str], start: int, end: int, origin: str) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{path}-{start + 1}".lower()).strip("-")
    return {
        "id": f"clean-{kind}-{slug}",
        "proj": proj,
        "lang": lang,
        "path": path,
        "patch": hunk(lines, start, end),
        "clean": True,
        "origin": f"{origin}, lines {start + 1}-{end}: real code that passed review, shown as added lines",
    }


def main() -> None:
    rows = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    version = ".".join(map(str, sys.version_info[:3]))
    for file, names in PYTHON.items():
        lines = (stdlib / file).read_text(encoding="utf-8").split("\n")
        for name in names:
            start = _python_function(lines, name)
            end = _function_end(lines, start, None)
            rows.append(row("py", "python/cpython", "py", f"Lib/{file}", lines, start, end, f"CPython v{version}"))
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    for file, names in GO.items():
        lines = (GIT_CONTRIB / file).read_text(encoding="utf-8").split("\n")
        for name in names:
            start = _go_function(lines, name)
            end = _function_end(lines, start, "}")
            path = f"contrib/persistent-https/{file}"
            rows.append(row("go", "git/git", "go", path, lines, start, end, f"git v{git} {path}"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    for file, starts in YAML.items():
        path = f"deploy/kustomize/base/{file}"
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        for start in starts:
            end = min(len(lines), start - 1 + MAX_ADDED)
            rows.append(
                row("yaml", "review-slm", "yaml", path, lines, start - 1, end, f"review-slm {path} at {commit}")
            )
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
