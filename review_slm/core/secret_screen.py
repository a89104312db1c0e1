"""Screens for `secrets.scan`: RE2 patterns that match every text (or line) a detector could find something in.

Each detector's own patterns, widened so RE2 can run them (lookarounds dropped, backreferences read as
"anything", huge bounded repeats unbounded: each only adds matches), so a text a screen misses cannot give a
hit and the slow Python detectors are skipped on it. Speed only, never a second opinion: on a column,
pyarrow's `match_substring_regex` runs them vectorised (`might_have_secrets`); inside `scan` they replace the
cheap literal pre-tests. Python's `re` and RE2 differ outside printable ASCII (\\w, \\d, \\s, case folding), so
such text is never screened out.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from review_slm.core.secret_detectors import PRETEST, plugins

_LOOKAROUND = re.compile(r"\(\?<?[=!]")
_HUGE_REPEAT = re.compile(r"\{(\d+),\d{4,}\}")
_BACKREF = re.compile(r"\\[1-9]")
# Base64HighEntropyString needs a quoted run with more than 2**4.5 distinct characters (entropy <= log2 of the
# alphabet used), HexHighEntropyString one with more than 2**3: so at least 23 and 9 characters.
_ENTROPY_CANDIDATE = r"""["'][A-Za-z0-9+/\\_=-]{23,}["']|["'][0-9a-fA-F]{9,}["']"""
_NOT_PLAIN_ASCII = r"[^\t\n\r\x20-\x7e]"
_NOT_PLAIN = re.compile(_NOT_PLAIN_ASCII)
_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


def plain_ascii(text: str) -> bool:
    return _NOT_PLAIN.search(text) is None


def _without_lookarounds(pattern: str) -> str:
    """The pattern with its lookaround groups removed (scanning to the group's closing parenthesis)."""
    while m := _LOOKAROUND.search(pattern):
        depth, i, in_class = 0, m.start(), False
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\":
                i += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
                if pattern[i + 1 : i + 2] == "]":
                    i += 1
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        pattern = pattern[: m.start()] + pattern[i + 1 :]
    return _BACKREF.sub(lambda _: r"[\s\S]*", _HUGE_REPEAT.sub(r"{\1,}", pattern))


def _widened(regex: re.Pattern[str], fallback: re.Pattern[str] | None = None) -> str:
    """RE2 syntax for a superset of what `regex` matches; a verbose pattern (RE2 has no x flag) becomes its
    plugin's literal pre-test, which every match of it contains."""
    if regex.flags & re.VERBOSE and re.search(r"\s|#", regex.pattern):
        if fallback is None:
            raise ValueError(f"no RE2 screen for the verbose pattern {regex.pattern[:60]!r}")
        regex = fallback
        pattern = regex.pattern
    else:
        pattern = _without_lookarounds(regex.pattern)
    import re2

    flags = "".join(letter for flag, letter in _FLAGS if regex.flags & flag)
    part = f"(?{flags}:{pattern})" if flags else f"(?:{pattern})"
    re2.compile(part)  # fails loudly rather than screening with a pattern RE2 cannot read
    return part


def _keyword_regexes() -> list[re.Pattern[str]]:
    """Every regex detect-secrets' keyword plugin may use, whatever the file type."""
    from detect_secrets.plugins import keyword

    tables = [keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, *keyword.REGEX_BY_FILETYPE.values()]
    return list(dict.fromkeys(regex for table in tables for regex in table))


@cache
def _plugin_screen(secret_type: str):
    import re2

    plugin = next(p for p in plugins()[0] if p.secret_type == secret_type)
    return re2.compile("|".join(_widened(r, PRETEST.get(secret_type)) for r in plugin.denylist))


def pretest_of(plugin):
    """For plain ASCII text: an RE2 screen of a text-level plugin (None: always run it)."""
    try:
        return _plugin_screen(plugin.secret_type)
    except ValueError:
        return PRETEST.get(plugin.secret_type)


@lru_cache(maxsize=1)
def entropy_screen() -> re.Pattern[str]:
    """Per line: where the entropy plugins could find something. Python `re`: explicit ASCII classes read the same
    in both engines, and `re` is cheaper than the RE2 wrapper's call on a short line."""
    return re.compile(_ENTROPY_CANDIDATE)


@lru_cache(maxsize=1)
def candidate_patterns() -> tuple[str, ...]:
    """RE2 patterns one of which every text with a secret matches: every text-level plugin's, the PEM header,
    the entropy plugins' quoted runs, the keyword plugin's, and anything outside printable ASCII."""
    text_level, _ = plugins()
    parts = [_NOT_PLAIN_ASCII, "-----BEGIN", _ENTROPY_CANDIDATE]
    parts += [_widened(r, PRETEST.get(p.secret_type)) for p in text_level for r in p.denylist]
    parts += [_widened(r) for r in _keyword_regexes()]
    # In unions of ~20: one union of all ~70 outgrows RE2's DFA memory and runs several times slower.
    return tuple("|".join(parts[i : i + 20]) for i in range(0, len(parts), 20))


def might_have_secrets(texts: list[str]) -> list[bool]:
    """Per text, False only when `scan` cannot find anything in it: vectorised RE2 passes over the column
    (pyarrow's `match_substring_regex`), so the per-text detectors run only on the candidates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not texts:
        return []
    column = pa.array(texts, pa.string())
    found = None
    for pattern in candidate_patterns():
        # pyarrow.compute's kernels are generated on import: no stub declares them
        hit = pc.match_substring_regex(column, pattern)  # pyright: ignore[reportAttributeAccessIssue]
        found = hit if found is None else pc.or_(found, hit)  # pyright: ignore[reportAttributeAccessIssue]
    return found.to_pylist() if found is not None else [False] * len(texts)
