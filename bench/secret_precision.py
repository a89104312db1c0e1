"""Precision and recall of the secret redaction on real code, built on any machine without a download.

Clean corpus: ~20-line windows of the source files of this Python's standard library and of the packages
installed in its environment (Python, C/C++ headers, JavaScript, YAML/TOML/INI, Markdown, shell), written
as added lines of a unified diff (`@@ -0,0 +a,n @@` then `+line`), the shape the data assets see. The
sample is deterministic (files and windows ordered by a hash of their path), so two runs, or two
checkouts, read the same hunks. Nobody here wrote that code and no live secret is in it.

Test code is not "clean": test suites and mocking libraries carry credential-shaped fixtures on purpose
(a fake AWS secret key in a moto response, a PEM block in a TLS test), and a scanner that cannot tell
them from live ones must redact them. Files under a test folder (`test`, `tests`, `testing`, `fixtures`,
`idle_test`...), `test_*.py` / `*_test.py` / `conftest.py`, and the mocking packages in `MOCK_PACKAGES`
are sampled as a separate category, reported beside the figure with their kinds and text, never in it.

Planted: every secret of the project's planted-secret corpus (`review_slm_tests/core/secret_corpus.py`,
read from this checkout, whatever code PYTHONPATH points at) in the places a row carries text: an added line
inside a clean hunk and a review comment always; the path and the repository when the token's shape alone
tells it is a secret (`SELF_EVIDENT`), else the repository as a URL's credentials (see `planted`).

Both detectors run on every text: `redact` (`core/secrets.py`, what `scrub_record` at ingest and the gold
gates apply to every field) and `find_leaks` (`core/secret_rules.py`, the blocking check `gold_no_secrets`).
A clean hunk counts as redacted when `redact` changed its text or its path; e-mail addresses are personal
data the policy redacts, so hunks whose only finding is an e-mail are counted on their own line. A planted
secret counts as caught when no 8-character run of it survives redaction (and, for the check, when the check
flags the raw text).

    PYTHONPATH=$PWD .venv/bin/python bench/secret_precision.py [--hunks 10000] [--seed 0] [--examples 3] [--json PATH]

Ends with `precision: N clean hunks, R redacted (P%); recall: C/T planted secrets caught`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import results

from review_slm.core.redaction import redact
from review_slm.core.secret_rules import find_leaks

CORPUS_FILE = Path(__file__).resolve().parents[1] / "review_slm_tests" / "core" / "secret_corpus.py"
# Share of the clean hunks per family of files: mostly Python, as in the stdlib and the env, but every
# syntax the keyword detector reads differently (C, JavaScript, config files, prose) is represented.
FAMILIES = {
    "python": ({".py", ".pyi", ".pyx"}, 0.62),
    "c": ({".h", ".hpp", ".c", ".cc", ".cpp", ".cuh", ".cu"}, 0.14),
    "javascript": ({".js", ".ts", ".mjs"}, 0.08),
    "config": ({".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh"}, 0.08),
    "docs": ({".md", ".rst"}, 0.08),
}
TEST_PARTS = {"test", "tests", "testing", "fixtures", "idle_test", "testdata", "test_data", "unittests"}
MOCK_PACKAGES = {"moto", "responses", "_pytest", "hypothesis"}  # their product code is fakes for tests
MAX_FILE_BYTES = 1_000_000
MAX_LINE = 400  # a window with a longer line is generated or minified code, not code anyone reviews


@dataclass
class Hunk:
    path: str
    text: str


@dataclass
class Tally:
    hunks: int = 0
    redacted: list[tuple[Hunk, list[str], str]] = field(default_factory=list)
    email_only: int = 0
    flagged: list[tuple[Hunk, list[str]]] = field(default_factory=list)
    email_flags_only: int = 0
    redact_s: float = 0.0
    check_s: float = 0.0


def _key(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def _is_test_code(rel: Path) -> bool:
    parts = set(rel.parts[:-1])
    name = rel.name
    return bool(
        parts & TEST_PARTS
        or (rel.parts and rel.parts[0] in MOCK_PACKAGES)
        or name.startswith("test_")
        or name.endswith(("_test.py", "_tests.py"))
        or name == "conftest.py"
    )


def _roots() -> list[tuple[str, Path]]:
    paths = sysconfig.get_paths()
    roots = [("stdlib", Path(paths["stdlib"]))]
    for name in ("purelib", "platlib"):
        if Path(paths[name]) not in [r for _, r in roots]:
            roots.append(("site-packages", Path(paths[name])))
    return roots


@cache
def _files(seed: int) -> dict[tuple[str, bool], list[tuple[str, Path]]]:
    """(family, is test code) -> files, in the sample's deterministic order."""
    family_of = {ext: fam for fam, (exts, _) in FAMILIES.items() for ext in exts}
    out: dict[tuple[str, bool], list[tuple[str, Path]]] = {}
    for label, root in _roots():
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            fam = family_of.get(path.suffix)
            if fam is None or (label == "stdlib" and "site-packages" in rel.parts) or not path.is_file():
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            out.setdefault((fam, _is_test_code(rel)), []).append((f"{label}/{rel.as_posix()}", path))
    for files in out.values():
        files.sort(key=lambda f: _key(f[0], seed))
    return out


def _windows(name: str, path: Path, lines_per_hunk: int, seed: int, per_file: int) -> list[Hunk]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return []
    starts = [
        s
        for s in range(0, max(len(lines) - 3, 0), lines_per_hunk)
        if all(len(line) <= MAX_LINE for line in lines[s : s + lines_per_hunk])
        and any(line.strip() for line in lines[s : s + lines_per_hunk])
    ]
    chosen = sorted(starts, key=lambda s: _key(f"{name}:{s}", seed))[:per_file]
    hunks = []
    for s in chosen:
        window = lines[s : s + lines_per_hunk]
        body = "".join(f"+{line}\n" for line in window)
        hunks.append(Hunk(name, f"@@ -0,0 +{s + 1},{len(window)} @@\n{body}"))
    return hunks


def sample(total: int, lines_per_hunk: int, seed: int, test: bool) -> list[Hunk]:
    files = _files(seed)
    hunks = []
    for fam, (_, share) in FAMILIES.items():
        want = round(total * share)
        got: list[Hunk] = []
        for name, path in files.get((fam, test), []):
            if len(got) >= want:
                break
            # Two windows a file, more where a family has few files (config, JavaScript).
            per_file = 2 if 2 * len(files.get((fam, test), [])) >= want else 8
            got += _windows(name, path, lines_per_hunk, seed, per_file)[: want - len(got)]
        hunks += got
    return hunks


def _only_email(kinds: list[str]) -> bool:
    return bool(kinds) and set(kinds) <= {"email_address", "email"}


def measure(hunks: list[Hunk]) -> Tally:
    tally = Tally(hunks=len(hunks))
    for hunk in hunks:
        started = time.perf_counter()
        text, kinds = redact(hunk.text, hunk.path)
        path, path_kinds = redact(hunk.path)
        tally.redact_s += time.perf_counter() - started
        kinds = sorted(set(kinds + path_kinds))
        if text != hunk.text or path != hunk.path:
            if _only_email(kinds):
                tally.email_only += 1
            else:
                tally.redacted.append((hunk, kinds, text))
        started = time.perf_counter()
        leaks = sorted(set(find_leaks(hunk.text) + find_leaks(hunk.path)))
        tally.check_s += time.perf_counter() - started
        if leaks:
            if _only_email(leaks):
                tally.email_flags_only += 1
            else:
                tally.flagged.append((hunk, leaks))
    return tally


def _load_corpus():
    spec = importlib.util.spec_from_file_location("secret_corpus", CORPUS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def planted(host: list[Hunk]) -> list[tuple[str, str, str, str, str]]:
    """(kind, place, text, path, secret): each planted secret as an added line inside a clean hunk and in a review
    comment, and, when its shape alone tells it is a secret (`SELF_EVIDENT`), as a path and a repository name;
    a password or a key that is a secret only by the name beside it is planted in the repository as a URL's
    credentials instead (a bare `Sup3rS3cr3tValue9` in a path is no more a secret than any other word)."""
    corpus = _load_corpus()
    cases = []
    for n, (kind, line) in enumerate(sorted(corpus.LINES.items())):
        secret = corpus.TOKENS[kind]
        head, *body = host[n % len(host)].text.splitlines(keepends=True)
        middle = body[len(body) // 2][1:]
        body.insert(len(body) // 2, f"+{middle[: len(middle) - len(middle.lstrip())]}{line}\n")
        cases += [
            (kind, "hunk", head + "".join(body), host[n % len(host)].path, secret),
            (kind, "comment", f"Do not commit this: {line}. Rotate it.", "", secret),
        ]
        if kind in corpus.SELF_EVIDENT and "/" not in secret:  # a webhook URL is no path or repository name
            cases += [
                (kind, "path", f"deploy/{secret}/settings.py", "", secret),
                (kind, "repo", f"https://github.com/acme/{secret}", "", secret),
            ]
        elif "/" not in secret and "=" not in secret:
            cases.append((kind, "repo", f"https://deploy:{secret}@git.acme.io/acme/app", "", secret))
    pem_hunk = "@@ -0,0 +1,4 @@\n+" + corpus.PEM.replace("\n", "\n+") + "\n+ok = True\n"
    cases += [
        ("private_key", "hunk", pem_hunk, "certs/server.key", corpus.PEM_BODY),
        ("private_key", "comment", f"This key leaked:\n{corpus.PEM}\nplease rotate", "", corpus.PEM_BODY),
    ]
    return cases


def _survives(secret: str, text: str) -> bool:
    """Whether any 8-character run of the secret is still in the text (a partial redaction leaks too)."""
    size = min(8, len(secret))
    return any(secret[i : i + size] in text for i in range(len(secret) - size + 1))


def recall(cases) -> tuple[list, list]:
    missed_redact, missed_check = [], []
    for kind, place, text, path, secret in cases:
        if _survives(secret, redact(text, path)[0]):
            missed_redact.append((kind, place))
        if not find_leaks(text):
            missed_check.append((kind, place))
    return missed_redact, missed_check


def _show(hunk: Hunk, note: str, text: str | None = None) -> None:
    print(f"  --- {hunk.path} ({note})")
    original = hunk.text.splitlines()
    after = (text or hunk.text).splitlines()
    shown = [(a, b) for a, b in zip(original, after) if a != b] if text is not None else []
    for a, b in shown[:4]:
        print(f"    - {a[:150]}\n    + {b[:150]}")
    if text is None:
        for line in original[1:21]:
            print(f"    {line[:150]}")


def report(name: str, tally: Tally, examples: int) -> None:
    share = 100 * len(tally.redacted) / tally.hunks if tally.hunks else 0.0
    per_hunk = 1000 / max(tally.hunks, 1)
    print(
        f"{name}: {tally.hunks} hunks; redact {tally.redact_s * per_hunk:.2f} ms/hunk, "
        f"check {tally.check_s * per_hunk:.2f} ms/hunk (hunk and path, one core)"
    )
    print(
        f"  redact: {len(tally.redacted)} redacted ({share:.2f}%), {tally.email_only} more with only e-mail addresses"
    )
    kinds = Counter(k for _, ks, _ in tally.redacted for k in ks)
    if kinds:
        print("  redacted kinds: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    for hunk, ks, text in tally.redacted[:examples]:
        _show(hunk, "/".join(ks), text)
    print(f"  check (gold_no_secrets): {len(tally.flagged)} flagged, {tally.email_flags_only} more with only e-mail")
    rules = Counter(r for _, rs in tally.flagged for r in rs)
    if rules:
        print("  flagged rules: " + ", ".join(f"{k} {n}" for k, n in rules.most_common()))
    for hunk, rs in tally.flagged[:examples]:
        _show(hunk, "/".join(rs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hunks", type=int, default=10000, help="clean hunks (test code: a quarter as many more)")
    parser.add_argument("--lines", type=int, default=20, help="lines per hunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=3, help="redacted hunks shown per category")
    results.add_json_option(parser)
    args = parser.parse_args()

    started = time.perf_counter()
    clean = sample(args.hunks, args.lines, args.seed, test=False)
    tests = sample(args.hunks // 4, args.lines, args.seed, test=True)
    built = time.perf_counter()
    roots = ", ".join(str(r) for _, r in _roots())
    print(f"python {sys.version.split()[0]}; corpus built in {built - started:.1f} s from {roots}")
    print("clean hunks per family: " + ", ".join(f"{f} {n}" for f, n in Counter(_family(h) for h in clean).items()))
    clean_tally, test_tally = measure(clean), measure(tests)
    cases = planted(clean)
    missed_redact, missed_check = recall(cases)
    print(f"measured in {time.perf_counter() - built:.1f} s ({len(clean) + len(tests) + len(cases)} texts)")
    report("clean code", clean_tally, args.examples)
    report(
        "test code and mocks (not in the figure: fixtures are credential-shaped on purpose)", test_tally, args.examples
    )
    total = len(cases)
    print(f"planted: {total} secrets of {len({kind for kind, *_ in cases})} kinds in hunk, comment, path and repo")
    print(f"  check (gold_no_secrets) recall: {total - len(missed_check)}/{total}; missed: {missed_check or 'none'}")
    print(f"  redact missed: {missed_redact or 'none'}")
    n, r = clean_tally.hunks, len(clean_tally.redacted)
    print(
        f"precision: {n} clean hunks, {r} redacted ({100 * r / n if n else 0:.2f}%); "
        f"recall: {total - len(missed_redact)}/{total} planted secrets caught"
    )
    rows = [_row("clean code", clean_tally), _row("test code and mocks (not in the figure)", test_tally)]
    summary = {
        "planted_secrets": total,
        "caught_by_redact": total - len(missed_redact),
        "flagged_by_check": total - len(missed_check),
        "clean_redacted_percent": round(100 * r / n, 2) if n else 0.0,
    }
    results.write(args.json, results.results("secret_precision", {"redaction on real code": rows}, summary))


def _row(name: str, tally: Tally) -> dict:
    per_hunk = 1000 / max(tally.hunks, 1)
    return {
        "corpus": name,
        "hunks": tally.hunks,
        "redacted": len(tally.redacted),
        "redacted_percent": round(100 * len(tally.redacted) / tally.hunks, 2) if tally.hunks else 0.0,
        "email_only": tally.email_only,
        "flagged_by_check": len(tally.flagged),
        "redact_ms_per_hunk": round(tally.redact_s * per_hunk, 2),
        "check_ms_per_hunk": round(tally.check_s * per_hunk, 2),
    }


def _family(hunk: Hunk) -> str:
    suffix = Path(hunk.path).suffix
    return next(f for f, (exts, _) in FAMILIES.items() if suffix in exts)


if __name__ == "__main__":
    main()
