"""The second, independent secret detector: gitleaks' maintained rule set, read by this module.

The gates redact with detect-secrets (secrets.py); the blocking check re-scans the kept rows with these
rules, so a kind one detector misses or a bug in the redaction is caught by the other. The rules are
gitleaks' own `config/gitleaks.toml` (MIT, vendored in `review_slm/data/gitleaks/`, 222 rules), matched
with RE2, the regex engine gitleaks' Go regexps share their syntax with. What this module does is
gitleaks' matching procedure for one fragment of text (hand-written: gitleaks is a Go binary and
cannot be installed here): keyword pre-filter, regex, secret group, Shannon entropy, global and
per-rule allowlists (regexes and stopwords; path allowlists are skipped because a row's path is
untrusted input).

gitleaks has no rule for e-mail addresses, credentials in URLs or short passwords by assignment, so
three patterns of this module's own cover them; they share no code with secrets.py. Their values, and those of
gitleaks' rules scoped to one file type (which run on every text here), pass gitleaks' own allowlist of generic
values: a word (`password`, `changeme`, `tiger`) is a name or a documentation example value, not a credential.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

RULES_FILE = resources.files("review_slm.data") / "gitleaks" / "gitleaks.toml"

_OWN = {
    "email": r"\b[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "url-credentials": r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]{3,})@",
    # A password by assignment: quoted anywhere, or unquoted on an env / YAML line (then it must hold a digit).
    "password-quoted": r"""(?i)(?:passw(?:or)?d|pwd)[\w.-]{0,20}["']?\s*(?:=|:|:=|=>)\s*["']([^"'\s$<{%]{6,})["']""",
    "password-assignment": (
        r"""(?im)(?:^[+ -]?|\s)\s*(?:export\s+)?[\w.-]*(?:passw(?:or)?d|pwd)[\w.-]*\s*[=:]\s*"""
        r"""([^\s"'$<{%][^\s"'()\[\]]{5,})\s*$"""  # brackets: `password = f(x[1]` is a call
    ),
    # "use secret k8Zq2LmN9vXw": a credential in prose (letters and digits, like the primary's rule asks).
    # A hyphenated compound (`--page-token <cursor>`) names something else.
    "prose-secret": (
        r"(?i)(?:^|[^\w-]|[^\w]-)(?:secret|password|token|key)[ \t]+(?:is[ \t]+|was[ \t]+)?[\"'`]?([A-Za-z0-9_+/-]{8,})"
    ),
}
_NEEDS_DIGIT = {"password-assignment", "prose-secret"}
# gitleaks' generic rule skips JavaScript import lines; a Python import (`from transformers import AutoTokenizer,
# Dots1ForCausalLM` reads as `token..., <value>`) names modules and classes just the same.
_IMPORT_LINE = re.compile(r"^[+ -]?\s*(?:>>>\s*)?(?:from\s+[\w.]+\s+)?import\s")
# gitleaks' private-key rule takes any 64 characters between header and footer, so the markers a PEM parser
# compares with (`("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----")`) read as a key: a key has
# base64 right after its header (or the armor headers of an encrypted or PGP key).
_KEY_AFTER_HEADER = re.compile(r"""-----(?:\s|\\n|[+"'`,])*(?:[A-Za-z0-9+/=]{16,}|Proc-Type:|Version:|Comment:)""")
# gitleaks' generic value class takes `.` and `=`: `private_key: x25519.X25519PrivateKey` (a type) and
# `asset_key, partition_key=expected_partition_key` (keyword arguments) read as values; a dotted name or words
# joined by `=` or a snake_case name are code.
_GENERIC_CODE = re.compile(
    r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Za-z_.-]+(?:=[A-Za-z_.-]+)+"
    r"|[a-z]+\d*(?:_[a-z]+\d*)+"  # a snake_case name (`"keypoints0": matched_keypoints0`)
)
# `password = self.password2;`, `password = password_v2`, `password = DB_PASSWORD_2`: code copying a name.
# `key: X25519PrivateKey | None` (a typeshed stub): a class name in a union with None is a type annotation.
_UNION_WITH_NONE = re.compile(r"\s*\|\s*None\b")
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
_CODE_NAME = re.compile(
    r"(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z]+\d*(?:_[a-z]\w*)+|[A-Z]+\d*(?:_[A-Z]\w*)+|(?i:\w*passw(?:or)?d\w*))[;,]?"
)
_OWN_ENTROPY = {"prose-secret": 3.0}
# gitleaks' rules end a token at a quote, a space, `;` or the line's end. In a path, a repository URL or a sentence a
# token also ends at `/ ? # & ,` or a full stop: each text is read a second time with those as line breaks (not at a
# bracket: `tokenizer = Auto.from_pretrained(...)` would end at `(` and read as a value).
_TOKEN_END = re.compile(r"[/?#&,]|\.(?=\s|$)")
_EXAMPLE_DOMAIN = re.compile(r"@example\.(?:com|org|net)$")
_DIGIT, _LETTER = re.compile(r"\d"), re.compile(r"[A-Za-z]")


@dataclass
class _Allowlist:
    target: str  # secret | match | line
    regexes: list
    stopwords: list[str]


@dataclass
class _Rule:
    id: str
    regex: Any  # re2's compiled pattern, or re's where RE2 cannot compile the rule: the same finditer/search
    keywords: list[str]
    secret_group: int = 0
    entropy: float = 0.0
    allowlists: list[_Allowlist] = field(default_factory=list)
    generic: bool = False  # its secret is any value after a name: gitleaks' allowlist of generic values applies


def _compile(pattern: str):
    import re2

    return re2.compile(pattern)


@lru_cache(maxsize=1)
def _rules() -> tuple[list[_Rule], _Allowlist]:
    config = tomllib.loads(RULES_FILE.read_text())
    rules = []
    for raw in config["rules"]:
        if "regex" not in raw:  # path-only rules (a .p12 file) say nothing about text
            continue
        allowlists = [
            _Allowlist(
                a.get("regexTarget", "secret"),
                [_compile(r) for r in a.get("regexes", [])],
                [s.lower() for s in a.get("stopwords", [])],
            )
            for a in raw.get("allowlists", [])
            # An allowlist that must also match the path cannot be met: the path is untrusted, never read.
            if not (a.get("condition") == "AND" and a.get("paths"))
        ]
        rules.append(
            _Rule(
                raw["id"],
                _compile(raw["regex"]),
                [k.lower() for k in raw.get("keywords", [])],
                raw.get("secretGroup", 0),
                raw.get("entropy", 0.0),
                allowlists,
                # A rule gitleaks scopes to one file type (`password = "..."` in Terraform) runs on every text
                # here, where its value is as generic as the own rules' below.
                generic="path" in raw,
            )
        )
    for rule_id, pattern in _OWN.items():
        rules.append(_Rule(rule_id, _compile(pattern), [], entropy=_OWN_ENTROPY.get(rule_id, 0.0), generic=True))
    glob = config.get("allowlist", {})
    return rules, _Allowlist(
        "secret", [_compile(r) for r in glob.get("regexes", [])], [s.lower() for s in glob.get("stopwords", [])]
    )


@lru_cache(maxsize=1)
def _generic_values() -> _Allowlist:
    """gitleaks' allowlist of the values its generic rule does not report (`^[a-zA-Z_.-]+$`: a word such as
    `password`, `changeme` or `tiger` is a name or a documentation example, not a credential), read from its rule."""
    rules, _ = _rules()
    generic = next(r for r in rules if r.id == "generic-api-key")
    return next(a for a in generic.allowlists if a.target == "secret" and a.regexes)


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def _allowed(allowlist: _Allowlist, secret: str, match: str, line: str) -> bool:
    target = {"secret": secret, "match": match, "line": line}.get(allowlist.target, secret)
    lowered = secret.lower()
    return any(r.search(target) for r in allowlist.regexes) or any(w in lowered for w in allowlist.stopwords)


def _line_of(text: str, start: int, end: int) -> str:
    return text[text.rfind("\n", 0, start) + 1 : (text.find("\n", end) + 1 or len(text) + 1) - 1]


def find_leaks(text: str) -> list[str]:
    """The ids of the rules that find a secret in `text` (sorted, each once)."""
    rules, global_allow = _rules()
    lowered = text.lower()
    broken = _TOKEN_END.sub("\n", text)
    views = [text] if broken == text else [text, broken]
    found = set()
    for rule in rules:
        if rule.keywords and not any(k in lowered for k in rule.keywords):
            continue
        if any(_rule_finds(rule, global_allow, view) for view in views):
            found.add(rule.id)
    return sorted(found)


def _rule_finds(rule: _Rule, global_allow: _Allowlist, text: str) -> bool:
    for m in rule.regex.finditer(text):
        groups = m.groups()
        if rule.secret_group:
            secret = m.group(rule.secret_group) or ""
        else:
            secret = next((g for g in groups if g), m.group(0))
        if rule.id == "email" and _EXAMPLE_DOMAIN.search(secret):
            continue
        if rule.id in _NEEDS_DIGIT and not (_DIGIT.search(secret) and _LETTER.search(secret)):
            continue
        if rule.id == "password-assignment" and _CODE_NAME.fullmatch(secret):
            continue
        if rule.id == "private-key" and not _KEY_AFTER_HEADER.match(secret, secret.find("-----", 5)):
            continue
        if rule.id == "generic-api-key" and (
            _GENERIC_CODE.fullmatch(secret)
            or _IMPORT_LINE.match(_line_of(text, *m.span()))
            or (
                _CLASS_NAME.fullmatch(secret)
                and _UNION_WITH_NONE.match(text, text.find(secret, m.start()) + len(secret))
            )
        ):
            continue
        if rule.generic and _allowed(_generic_values(), secret.strip("\"'`"), m.group(0), ""):
            continue
        if rule.entropy and shannon_entropy(secret) <= rule.entropy:
            continue
        if secret.startswith("<REDACTED") or _allowed(global_allow, secret, m.group(0), ""):
            continue
        line = _line_of(text, *m.span())
        if any(_allowed(a, secret, m.group(0), line) for a in rule.allowlists):
            continue
        return True
    return False
