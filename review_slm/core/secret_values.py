"""Whether a value found beside a secret's name is a credential: a secret is a value, not a name.

detect-secrets' keyword plugin (and the detectors of the same shape in secrets.py) report whatever follows
`password`, `secret`, `api_key`... On code that is mostly not a credential: `password_mgr=None`,
`self.password = password`, `password: str`, a docstring's `- password: the password`, the name of a
field (`"refresh_token"`), a documentation example (`scott:tiger@`, `"changeme"`). detect-secrets' own
filters (templates, indirect references, UUIDs, sequences) run first; what they leave is judged here:

- an unquoted value is code (an identifier, an attribute, a call, a constant, a type annotation, a
  `$VAR` or `%(name)s` reference) unless it is a single token of at least 8 characters mixing letters
  and digits, the shape of a password in an env file or YAML (`DB_PASSWORD=Sup3rS3cr3tValue9`), and not
  a snake_case / CONSTANT_CASE name or a name built on a secret's (`password_v2`, `SECRET_KEY_V2`);
- a value of letters and separators only (`_ . - / : ` and spaces) is a word, a phrase, a path or a
  URL: gitleaks' allowlist for its generic rule (`^[a-zA-Z_.-]+$`), widened to phrases and paths. So
  the example values of documentation (`changeme`, `your-token`, `password`, `tiger`) are not secrets,
  and neither is a real password made of letters only: the price of not redacting every word that
  follows `password` in prose and code;
- a value made of one repeated character, or shorter than 6 characters, is not a credential either.
"""

from __future__ import annotations

import re

_WORDS = re.compile(r"[A-Za-z_./: -]+")
_REFERENCE = re.compile(
    r"""[$%@&*]?[A-Za-z_][\w$]*(?:(?:\.|->|::)[A-Za-z_][\w$]*)*"""  # a name or an attribute chain
    r"""(?:\(.*|\[.*|\{.*)?"""  # ... called, indexed or built
)
_TEMPLATE = re.compile(r"[$%]\{|\$\(|\{\{|%\(|<[\w -]+>|\$[A-Z_]+")
_SNAKE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)+|[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)+")
_NAMES_A_SECRET = re.compile(r"(?i)passw(?:or)?d|secret|token|api_?key")
_DIGIT, _LETTER = re.compile(r"\d"), re.compile(r"[A-Za-z]")
_PUNCT_AROUND = "\"'`;,)]}"


def is_credential(value: str, quoted: bool) -> bool:
    """`value` as found after a secret's name; `quoted`: it was inside a string literal."""
    value = value.strip().strip(_PUNCT_AROUND)
    if len(value) < 6 or len(set(value)) < 3 or _WORDS.fullmatch(value) or _TEMPLATE.search(value):
        return False
    if quoted:
        return True
    has_both = _DIGIT.search(value) and _LETTER.search(value)
    if not has_both or len(value) < 8 or any(c.isspace() for c in value):
        return False
    # A lone token like `Sup3rS3cr3tValue9` is an identifier to Python too: only a dotted, called or indexed
    # name, a snake_case / CONSTANT_CASE name or one built on a secret's own name (`password_v2`, `SECRET_KEY_V2`,
    # `secrets2`) is surely code. Constants and type names hold no digit, so the rule above already left them.
    if _SNAKE_NAME.fullmatch(value) or _NAMES_A_SECRET.search(value):
        return False
    return not (_REFERENCE.fullmatch(value) and re.search(r"[.(\[{>:]", value))
