"""Find and redact secrets and personal data in mined text before it can reach a training set."""

from __future__ import annotations

import re

# Patterns from the public formats of each credential (AWS, GitHub, Slack, Google, JWT, PEM).
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "aws_access_key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "github_token": re.compile(r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    "slack_token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"),
    "private_key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----|$)"),
    "password_assignment": re.compile(
        r"(?i)\b(password|passwd|pwd|secret|api_?key)\b(\s*[:=]\s*)([\"']?)(?!\$\{|\{\{|<)([^\s\"']{6,})\3"
    ),
    "bearer_token": re.compile(r"(?i)\b(authorization:\s*bearer|bearer)\s+[A-Za-z0-9._~+/-]{20,}=*"),
    "url_credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]{3,}@"),
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@(?!example\.(?:com|org))[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
}


# Literals every match of a pattern contains (in the lower-cased text). Most text has none of them,
# and a substring test is far cheaper than a regex scan: the gold set redacts every row three times.
_HINTS: dict[str, tuple[str, ...]] = {
    "aws_access_key": ("akia", "asia"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "slack_token": ("xox",),
    "google_api_key": ("aiza",),
    "jwt": ("eyj",),
    "private_key": ("private key",),
    "password_assignment": ("password", "passwd", "pwd", "secret", "api_key", "apikey"),
    "bearer_token": ("bearer",),
    "url_credentials": ("://",),
    "email": ("@",),
}
_EMAIL_AT = re.compile(r"[\w.%+-]@[A-Za-z0-9]")  # "@@ -1,2" hunk headers have an @ but no address

_MARKER = re.compile(r"<REDACTED(?::\w+)?>")


_HINT_PAIRS = [(hint, name) for name, hints in _HINTS.items() for hint in hints]
_ORDER = {name: i for i, name in enumerate(SECRET_PATTERNS)}


def _candidates(text: str) -> list[str]:
    lowered = text.lower()
    names = {name for hint, name in _HINT_PAIRS if hint in lowered}
    if "email" in names and not _EMAIL_AT.search(text):
        names.discard("email")
    return sorted(names, key=_ORDER.__getitem__)


def find_secrets(text: str) -> list[str]:
    return [name for name in _candidates(text) if SECRET_PATTERNS[name].search(text)]


def redact(text: str) -> tuple[str, list[str]]:
    """Replace every secret with a typed marker; returns the new text and the kinds found."""
    found: list[str] = []
    for name in _candidates(text):
        pattern = SECRET_PATTERNS[name]
        if not pattern.search(text):
            continue
        found.append(name)
        if name == "password_assignment":
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}<REDACTED>{m.group(3)}", text)
        else:
            text = pattern.sub(f"<REDACTED:{name}>", text)
    return text, found


def redacted_share(original: str, redacted: str) -> float:
    """Share of the original's non-space characters that redaction replaced. When most of it is gone, what is
    left teaches nothing, and a review of it would be about a secret nobody can see."""
    before = len(re.sub(r"\s+", "", original))
    after = len(re.sub(r"\s+", "", _MARKER.sub("", redacted)))
    return (before - after) / before if before else 0.0
