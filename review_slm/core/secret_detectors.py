# pyright: reportIncompatibleMethodOverride=false, reportAssignmentType=false
# (the detectors set `secret_type` / `denylist` as class attributes, detect-secrets' own plugins' idiom,
# where its base class declares abstract properties)
"""The secret detectors: detect-secrets' own plugin registry, with a few kinds it has no plugin for added as
plugins of the same shape (gitleaks' patterns where gitleaks has a rule), and cheap literal pre-tests.

Shared by the redaction (`redaction.py`) and its RE2 screens (`secret_screen.py`), so neither imports the other.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from detect_secrets.plugins.base import RegexBasedDetector

# detect-secrets' logger factory calls logging.captureWarnings(True) when its modules load, which sends
# every later warning of the process to a logger that drops it (the tests' warning filters included).
logging.captureWarnings(False)

# Not secrets in code: a hex string is a commit SHA, a content hash or a migration id (a hex credential is told
# by its name, which the keyword plugin reads); an IPv4 address is no credential, and the plugin cannot tell
# one from a dotted version or section number (`3.1.1.6`, RFC 7692 section 7.2.3.1).
_OFF = ("HexHighEntropyString", "IPPublicDetector")


class HuggingFaceTokenDetector(RegexBasedDetector):
    secret_type = "Hugging Face Token"
    denylist = [
        re.compile(r"\b(?:hf_[A-Za-z]{34}|api_org_[A-Za-z]{34})\b")
    ]  # gitleaks: huggingface-access-token / -org-api-token


class GoogleApiKeyDetector(RegexBasedDetector):
    secret_type = "Google API Key"
    denylist = [re.compile(r"\bAIza[\w-]{35}\b")]  # gitleaks: gcp-api-key


class GitHubFineGrainedTokenDetector(RegexBasedDetector):
    secret_type = "GitHub Fine-grained Token"
    denylist = [re.compile(r"\bgithub_pat_\w{82}\b")]  # gitleaks: github-fine-grained-pat


class NpmTokenDetector(RegexBasedDetector):
    secret_type = "NPM Token"
    denylist = [
        re.compile(r"(?i)\bnpm_[a-z0-9]{36}\b")
    ]  # gitleaks: npm-access-token (detect-secrets wants an .npmrc line)


class BearerTokenDetector(RegexBasedDetector):
    secret_type = "Bearer Token"
    denylist = [re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)")]


class ProseSecretDetector(RegexBasedDetector):
    """A credential named in prose: "with secret k8Zq2LmN9vXw", "the token is 9f8e...". The value must
    mix letters and digits, so "the secret handling" or "token expiry" do not match. A hyphenated compound names
    something else (`--page-token "eyJvZmZzZXQiOiA1MH0="` is a pagination cursor), `--token ...` still counts."""

    secret_type = "Secret In Prose"
    denylist = [
        re.compile(
            r"(?i)(?<!\w-)\b(?:secret|password|passwd|token|api[ _-]?key|credentials?)\s+(?:is\s+|was\s+|of\s+)?"
            r"[\"'`]?((?=[A-Za-z0-9_\-+/.]*\d)(?=[A-Za-z0-9_\-+/.]*[A-Za-z])[A-Za-z0-9_\-+/.]{8,})"
        )
    ]


class SecretDefaultDetector(RegexBasedDetector):
    """A literal default beside a secret's name: `os.environ.get("APP_SECRET_KEY", "thisISaSECRET_1234")`,
    `getenv("DB_PASSWORD", "...")`, `("api_token", "...")`; detect-secrets' keyword plugin wants `name = value`."""

    secret_type = "Secret Default"
    denylist = [
        re.compile(
            r"(?i)[\"'][\w.-]*(?:secret|passw(?:or)?d|token|api_?key)[\w.-]*[\"']\s*,\s*[\"']([^\"'\s$<{%]{8,})[\"']"
        )
    ]


class EmailDetector(RegexBasedDetector):
    secret_type = "Email Address"
    denylist = [
        re.compile(r"\b[A-Za-z0-9._%+-]+@(?!example\.(?:com|org)\b)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
    ]


_EXTRA = (
    HuggingFaceTokenDetector,
    GoogleApiKeyDetector,
    GitHubFineGrainedTokenDetector,
    NpmTokenDetector,
    BearerTokenDetector,
    ProseSecretDetector,
    SecretDefaultDetector,
    EmailDetector,
)
# Cheap pre-tests for the slowest text-level plugins: each of their regexes needs this literal, so a text
# without it cannot match (speed only: a plugin without an entry always runs).
_CREDENTIAL_WORD = re.compile(r"(?i)key|pw|pass|token|secret")
PRETEST = {
    "Cloudant Credentials": _CREDENTIAL_WORD,
    "IBM Cloud IAM Key": _CREDENTIAL_WORD,
    "IBM COS HMAC Credentials": _CREDENTIAL_WORD,
    "SoftLayer Credentials": _CREDENTIAL_WORD,
    "Artifactory Credentials": re.compile(r"AKC|AP"),
    "Mailchimp Access Key": re.compile(r"-us\d"),
    "Secret In Prose": _CREDENTIAL_WORD,
    "Secret Default": _CREDENTIAL_WORD,
    "Email Address": re.compile(r"[\w.%+-]@[A-Za-z0-9]"),
    "GitLab Token": re.compile(r"gl[a-z]{2,6}-|GR1348941"),
}


@lru_cache(maxsize=1)
def plugins():
    """(text-level plugins, line-level plugins), from detect-secrets' own registry."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import get_settings

    settings = get_settings()
    settings.configure_plugins(
        [{"name": cls.__name__} for cls in get_mapping_from_secret_type_to_class().values()]
    ).disable_plugins(*_OFF)
    settings.disable_filters(
        "detect_secrets.filters.common.is_invalid_file",
        "detect_secrets.filters.allowlist.is_line_allowlisted",
        "detect_secrets.filters.heuristic.is_lock_file",
        "detect_secrets.filters.heuristic.is_swagger_file",
        "detect_secrets.filters.heuristic.is_non_text_file",
    )
    from detect_secrets.settings import get_plugins

    plugins = [*get_plugins(), *(cls() for cls in _EXTRA)]
    text_level = [p for p in plugins if isinstance(p, RegexBasedDetector)]
    return text_level, [p for p in plugins if not isinstance(p, RegexBasedDetector)]
