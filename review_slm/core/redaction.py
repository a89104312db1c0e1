# pyright: reportIncompatibleMethodOverride=false, reportAssignmentType=false
# (the detectors set `secret_type` / `denylist` as class attributes, detect-secrets' own plugins' idiom,
# where its base class declares abstract properties)
"""Find and redact secrets and personal data in mined text before it can reach a training set.

The detector is Yelp's detect-secrets (all its plugins: AWS, GitHub, GitLab, Slack, Stripe, OpenAI,
npm, JWT, private keys, basic-auth URLs, keyword assignments, base64/hex entropy...) with its
secret-based false-positive filters. Its filename- and line-based allowlists are switched off:
a row's path is attacker-controlled text (`yarn.lock` would silence every finding) and so is a
`pragma: allowlist secret` comment.

A few kinds detect-secrets has no plugin for are added as plugins of the same shape, with the
patterns of gitleaks' rules where gitleaks has one (Hugging Face, Google API keys, GitHub
fine-grained tokens), plus what no maintained rule set covers: e-mail addresses (PII), bearer
headers, a secret named in prose ("with secret k8Zq2LmN9vXw") and a whole PEM block (detect-secrets
flags only its header line). The blocking check re-scans with another detector (secret_rules.py).

A secret is a value, not a name: what follows `password`, `secret`, `api_key`... in code is mostly an identifier,
a call, an annotation or a doc example, so a keyword's value (and a URL's userinfo, a secret's default) counts only
when it looks like a credential (secret_values.py). Hex-entropy strings (SHAs, hashes) and IPv4 addresses (not
credentials; indistinguishable from dotted versions) are not reported; README, *Secrets*, says why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath

from detect_secrets.plugins.base import RegexBasedDetector

from review_slm.core.secret_values import is_credential

# detect-secrets' logger factory calls logging.captureWarnings(True) when its modules load, which sends
# every later warning of the process to a logger that drops it (the tests' warning filters included).
logging.captureWarnings(False)

# Not secrets in code: a hex string is a commit SHA, a content hash or a migration id (a hex credential is told
# by its name, which the keyword plugin reads); an IPv4 address is no credential, and the plugin cannot tell
# one from a dotted version or section number (`3.1.1.6`, RFC 7692 section 7.2.3.1).
_OFF = ("HexHighEntropyString", "IPPublicDetector")
# Detectors whose value is whatever follows a name (URL userinfo, a default beside a secret's name): the value
# must look like a credential (`secret_values.is_credential`), the name alone says nothing.
_VALUE_JUDGED = {"Basic Auth Credentials", "Secret Default"}
_AWS_EXAMPLE = re.compile(r"EXAMPLE(?:KEY)?$")  # AWS's documented example keys (gitleaks allowlists them too)
# A token shape filled with one repeated character (`SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`, fewer than 5 distinct
# characters in the whole match) is a documentation example value, as gitleaks' global allowlist (`^x+$`...) says.
_MARKER = re.compile(r"<REDACTED(?::[\w-]+)?>")
_DELIMS = set(" \t\r\n\"'`,;=:@()[]{}<>|\\/")  # a token ends at these: a found value grows to its whole token


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


# A key's body follows its header, with only line breaks (real or `\n`), diff markers or quotes between: a run of
# base64, or the armor headers of an encrypted or PGP key. A header followed by code is a mention, not a key.
_KEY_BODY = re.compile(r"""(?:\s|\\n|[+"'`,])*(?:[A-Za-z0-9+/=]{16,}|Proc-Type:|Version:|Comment:)""")
_PEM_BLOCK = re.compile(
    rf"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----(?={_KEY_BODY.pattern})"
    r"[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)"
)
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
_PRETEST = {
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
_CONFIG_LINE = re.compile(
    r"(?:^|[\s+-])[\w.-]+\s*[:=]\s*[^\s(\"'{$,;]+(?=\s|$)"
)  # a bare `KEY=value` / `key: value`, even in prose
# `secretName: my-tls-secret`: a Kubernetes object name (lowercase words and dashes) is a reference, not a secret.
_K8S_NAME = re.compile(r"[a-z]+(?:-[a-z]+)+")
# `'secret_ref': 'V1SecretReference'`: a Kubernetes API type name (V1, V1beta1 + capitalised words) likewise.
_K8S_TYPE = re.compile(r"V\d+(?:(?:alpha|beta)\d+)?(?:[A-Z][a-z]+){2,}")
_NAME_PART = re.compile(r"[a-z0-9]*|[A-Z0-9]*|[A-Z][a-z0-9]*")  # one word of a snake_case or CONSTANT_CASE name
_QUOTE = re.compile(r"[\"'`]")  # the entropy plugins only read quoted strings


@dataclass(frozen=True)
class Hit:
    kind: str
    start: int
    end: int


@lru_cache(maxsize=1)
def _plugins():
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


@lru_cache(maxsize=1)
def _keyword_hint() -> re.Pattern[str]:
    from detect_secrets.plugins.keyword import DENYLIST

    return re.compile("|".join(DENYLIST), re.IGNORECASE)


_NOT_RE2 = re.compile(r"\(\?<?[=!]|\{\d+,\d{4,}\}")


@lru_cache(maxsize=1)
def _screen():
    """(plugins behind the screen, plugins that always run, the screen): one RE2 union of every text-level
    pattern RE2 can compile. RE2 matches a union in one linear pass, so text with no candidate at all (most
    hunks) skips ~30 separate regex scans. Speed only: a pattern RE2 cannot compile (lookarounds) keeps its plugin
    out of the screen, and the screen only decides whether the exact plugins run."""
    import re2

    text_level, _ = _plugins()
    screened, unscreened, parts = [], [], []
    for plugin in text_level:
        flagged = [f"(?i:{r.pattern})" if r.flags & re.IGNORECASE else f"(?:{r.pattern})" for r in plugin.denylist]
        if any(_NOT_RE2.search(part) for part in flagged):  # lookarounds, huge repetitions: not RE2 syntax
            unscreened.append(plugin)
            continue
        screened.append(plugin)
        parts += flagged
    return screened, unscreened, re2.compile("|".join(parts))


def _kind(plugin) -> str:
    return re.sub(r"[^a-z0-9]+", "_", plugin.secret_type.lower()).strip("_")


def _grow(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and text[start - 1] not in _DELIMS:
        if text[start - 1] in "+-" and (start == 1 or text[start - 2] == "\n"):  # never eat a diff line's +/- marker
            break
        start -= 1
    while end < len(text) and text[end] not in _DELIMS:
        end += 1
    return start, end


def _regex_hits(text: str, plugin) -> list[Hit]:
    hits = []
    for regex in plugin.denylist:
        for m in regex.finditer(text):
            if (
                _AWS_EXAMPLE.search(m.group(0))
                or len(set(m.group(0))) < 5
                or (plugin.secret_type in _VALUE_JUDGED and not is_credential(m.group(m.lastindex or 0), quoted=True))
            ):
                continue
            if plugin.secret_type == "Private Key" and not _KEY_BODY.match(text, m.end()):
                continue  # a PEM header named in code (`startswith("-----BEGIN RSA PRIVATE KEY")`) holds no key
            # A capture group long enough to be the secret itself (AWS secret key after its name); a short one
            # (GitHub's 'ghp' prefix group) is not, then the whole match is.
            groups = [i for i in range(1, (m.lastindex or 0) + 1) if m.group(i) and len(m.group(i)) >= 8]
            start, end = m.span(groups[-1]) if groups else m.span()
            hits.append(Hit(_kind(plugin), *_grow(text, start, end)))
    return hits


def _line_hits(text: str, filename: str, plugins) -> list[Hit]:
    from detect_secrets.core.scan import _is_filtered_out  # detect-secrets' own heuristic filters, in its order

    from review_slm.core.secret_screen import entropy_screen, plain_ascii

    hits, offset = [], 0
    keyword_hint = _keyword_hint()
    # On plain ASCII, the entropy plugins' quoted runs (see secret_screen.py) rather than any quote.
    quote_hint = entropy_screen() if plain_ascii(text) else _QUOTE
    if not (quote_hint.search(text) or keyword_hint.search(text)):  # nothing any line-level plugin reads
        return hits
    for full in text.splitlines(keepends=True):
        line = full.rstrip("\r\n")  # the filters (indirect references...) expect a bare line
        start, offset = offset, offset + len(full)
        # Each plugin only where it could find something (a cheap pre-test, not a second opinion); lines that only
        # take a value from elsewhere (`x = get_secret()`, `secrets := c.userSecrets()`) are skipped like
        # detect-secrets does.
        quoted, keyword = quote_hint.search(line) is not None, keyword_hint.search(line) is not None
        if not (quoted or keyword):
            continue
        wanted = [p for p in plugins if (keyword if p.secret_type == "Secret Keyword" else quoted)]
        line_filtered = None  # detect-secrets' line filters are slow: asked only once a plugin found something
        # The keyword plugin reads `KEY=value` / `key: value` only in config files: a line with a bare
        # assignment (env file, YAML, a snippet quoted in prose) is also read as config.
        # Go's `name := value` likewise, whatever the path says.
        names = [
            filename,
            *(["config.yaml"] if _CONFIG_LINE.search(line) else []),
            *(["main.go"] if ":=" in line else []),
        ]
        names = list(dict.fromkeys(names))
        for plugin in wanted:
            for name in names if plugin.secret_type == "Secret Keyword" else names[:1]:
                for found in plugin.analyze_line(filename=name, line=line, line_number=0):
                    value = _secret_of(plugin, found.secret_value or "", line)
                    if not value or _MARKER.fullmatch(value) or _K8S_NAME.fullmatch(value):
                        continue
                    if line_filtered is None:
                        line_filtered = _is_filtered_out(
                            required_filter_parameters=["line"], filename=filename, line=line
                        )
                    if line_filtered or _is_filtered_out(
                        required_filter_parameters=["secret"], filename=name, secret=value, plugin=plugin, line=line
                    ):
                        continue
                    at = line.find(value)
                    while at >= 0:
                        hits.append(Hit(_kind(plugin), *_grow(text, start + at, start + at + len(value))))
                        at = line.find(value, at + len(value))
    return hits


def _secret_of(plugin, value: str, line: str) -> str | None:
    """The part of a line-level finding to redact, None when it is no credential. A keyword's value must look like
    one (a name is not a secret); unquoted, it is its first token (`DB_PASSWORD=Sup3r9xYz. Rotate it.` keeps the
    prose). An entropy plugin's base64 run has `=` only as padding (`type=triton_BLOCK-M=128_...` is config)."""
    if plugin.secret_type == "Secret Keyword":
        at = line.find(value)
        quoted = at > 0 and line[at - 1] in "\"'`"
        if not quoted:
            value = value.split()[0].rstrip(".,;:)]}") if value.split() else ""
        return value if is_credential(value, quoted) and not _K8S_TYPE.fullmatch(value) else None
    if plugin.secret_type == "Base64 High Entropy String" and not _encoded(value):
        return None
    return value


def _encoded(value: str) -> bool:
    """Whether a high-entropy run can be base64 at all: `=` only as padding (`type=triton_BLOCK-M=128` is config),
    not in sorted order (an alphabet), one alphabet (standard `+/` or URL-safe `-_`, not both:
    `naver-hyperclovax/HyperCLOVAX-SEED-Think-32B` is a model id), and not a name of words in one case each
    (`crypto_aead_chacha20poly1305_MESSAGEBYTES_MAX`)."""
    if "=" in value.rstrip("=") or (set(value) & set("+/") and set(value) & set("-_")):
        return False
    if list(value) == sorted(value):  # an alphabet (`123456789ABC...xyz` of base58), never a random string
        return False
    parts = re.split(r"[-_]", value)
    return len(parts) < 2 or not all(_NAME_PART.fullmatch(p) for p in parts)


def scan(text: str, path: str = "") -> list[Hit]:
    """Every secret / PII span in `text`; `path` tells the keyword plugin which file syntax to expect."""
    if not text:
        return []
    text_level, line_level = _plugins()
    hits = [Hit("private_key", *m.span()) for m in _PEM_BLOCK.finditer(text)]
    screened, unscreened, screen = _screen()
    from review_slm.core.secret_screen import plain_ascii, pretest_of

    plain = plain_ascii(text)
    for plugin in (screened if screen.search(text) else []) + unscreened:
        pretest = pretest_of(plugin) if plain else _PRETEST.get(plugin.secret_type)
        if pretest is None or pretest.search(text):
            hits += _regex_hits(text, plugin)
    hits += _line_hits(text, PurePosixPath(path).name or "text", line_level)
    return [h for h in hits if not _MARKER.fullmatch(text[h.start : h.end])]


def find_secrets(text: str, path: str = "") -> list[str]:
    return sorted({h.kind for h in scan(text, path)})


def redact(text: str, path: str = "") -> tuple[str, list[str]]:
    """Replace every secret with a typed marker; returns the new text and the kinds found (sorted)."""
    hits = scan(text, path)
    if not hits:
        return text, []
    # Merge overlapping spans (several plugins often find one token), keeping the first kind found.
    spans: list[list] = []
    for h in sorted(hits, key=lambda h: (h.start, -h.end)):
        if spans and h.start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], h.end)
        else:
            spans.append([h.start, h.end, h.kind])
    out, pos = [], 0
    for start, end, kind in spans:
        out += [text[pos:start], f"<REDACTED:{kind}>"]
        pos = end
    out.append(text[pos:])
    return "".join(out), sorted({h.kind for h in hits})


def marker_share(text: str) -> float:
    """Share of the non-space characters of `text` that are redaction markers: when most of a change is a
    secret, what is left teaches nothing (works on text redacted earlier, at ingest, too)."""
    total = len(re.sub(r"\s+", "", text))
    return sum(len(m) for m in _MARKER.findall(text)) / total if total else 0.0


def redacted_share(original: str, redacted: str) -> float:
    """Share of the original's non-space characters that redaction replaced. When most of it is gone, what is
    left teaches nothing, and a review of it would be about a secret nobody can see."""
    before = len(re.sub(r"\s+", "", original))
    after = len(re.sub(r"\s+", "", _MARKER.sub("", redacted)))
    return (before - after) / before if before else 0.0
