"""Decide the language of a diff from its path and content, among the languages the deployment reviews.

Which languages are reviewed is configuration (`REVIEW_SLM_LANGUAGES`, default go, python, yaml), read at the
edges (`settings.languages()`) and passed down as `languages`; a hunk of any other language is
`unsupported_language`. The extension is read through Pygments' lexer registry, a maintained mapping of file
names to languages (`.rs`, `.java`, `.ts`/`.tsx`, `.js`/`.jsx`/`.mjs`, `BUILD.bazel`...), so we keep no extension
list of our own. YAML is reviewed only when it is Kubernetes (apiVersion/kind, Helm, manifest folders). Content
markers catch a row whose declared language the content contradicts (a dataset column, a path).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from review_slm.core.schema import Language

ALL_LANGUAGES: tuple[Language, ...] = ("go", "python", "yaml", "rust", "java", "typescript", "javascript")
DEFAULT_LANGUAGES: tuple[Language, ...] = ("go", "python", "yaml")

_K8S_MARKERS = re.compile(r"^[+\- ]?\s*(apiVersion|kind)\s*:", re.MULTILINE)
_HELM_MARKER = re.compile(r"\{\{[-\s]")
_K8S_PATH_HINTS = ("templates/", "manifests/", "charts/", "kustomization", "crds/", "deploy/", "config/")

# How datasets (and Pygments' lexer aliases) spell the languages we know.
_ALIASES: dict[str, Language] = {
    "go": "go",
    "golang": "go",
    "py": "python",
    "python": "python",
    "python3": "python",
    "py3": "python",
    "pyi": "python",
    "yaml": "yaml",
    "yml": "yaml",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
    "typescript": "typescript",
    "ts": "typescript",
    "tsx": "typescript",
    "javascript": "javascript",
    "js": "javascript",
    "jsx": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "ecmascript": "javascript",
}

# A made-up file name for a row that names its language but not its file.
EXTENSIONS = {
    "go": "go",
    "python": "py",
    "yaml": "yaml",
    "rust": "rs",
    "java": "java",
    "typescript": "ts",
    "javascript": "js",
}

DISPLAY_NAMES = {
    "go": "Go",
    "python": "Python",
    "yaml": "Kubernetes YAML",
    "rust": "Rust",
    "java": "Java",
    "typescript": "TypeScript",
    "javascript": "JavaScript",
}


def describe_languages(languages: tuple[str, ...]) -> str:
    """`Go, Python or Kubernetes YAML`: the languages for a message."""
    names = [DISPLAY_NAMES[lang] for lang in languages]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# TypeScript is a superset of JavaScript: either's content is no contradiction of the other.
_FAMILIES = {"typescript": {"typescript", "javascript"}, "javascript": {"typescript", "javascript"}}


def parse_languages(value: str) -> tuple[Language, ...]:
    """`go,python,yaml,rust` (aliases allowed: `ts`, `golang`...) -> canonical names; unknown names fail."""
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in _ALIASES]
    if unknown or not names:
        raise ValueError(f"{unknown or 'no language'}: expected a comma-separated list of {', '.join(ALL_LANGUAGES)}")
    return tuple(dict.fromkeys(_ALIASES[n] for n in names))


def normalize_language(name: str | None, languages: tuple[str, ...]) -> Language | None:
    """A declared language (dataset column) in canonical form, if it is one the deployment reviews."""
    if not name:
        return None
    language = _ALIASES.get(name.strip().lower())
    return language if language in languages else None


def language_by_extension(path: str) -> Language | None:
    """The language Pygments' lexer registry gives the file name, if it is one we know (whether enabled or not)."""
    from pygments.lexers import find_lexer_class_for_filename
    from pygments.util import ClassNotFound

    name = path.rsplit("/", 1)[-1]
    if not name:
        return None
    try:
        lexer = find_lexer_class_for_filename(name)
    except ClassNotFound:  # raised by some Pygments versions instead of returning None
        return None
    if lexer is None:
        return None
    return next((_ALIASES[a] for a in lexer.aliases if a in _ALIASES), None)


def detect_language(path: str, content: str, languages: tuple[str, ...]) -> Language | None:
    """The language of a hunk by its file name, if the deployment reviews it (one of `languages`).

    YAML only when it looks like Kubernetes (apiVersion/kind, Helm, manifest dirs); a Helm template
    (`.tpl`) is YAML too, which Pygments files under Smarty.
    """
    lower = path.lower()
    language: Language | None = "yaml" if lower.endswith(".tpl") else language_by_extension(path)
    if language is None or language not in languages:
        return None
    if language == "yaml":
        k8s = _K8S_MARKERS.search(content) or _HELM_MARKER.search(content) or any(h in lower for h in _K8S_PATH_HINTS)
        return "yaml" if k8s else None
    return language


# Strong, language-specific markers on changed or context lines; used to catch a row whose declared
# language (a dataset column, a synthesized path) disagrees with its content.
def _markers(*alternatives: str) -> re.Pattern:
    """Any of `alternatives` at the start of a diff line (after its +, - or space)."""
    return re.compile(r"^[+\- ]\s*(" + "|".join(alternatives) + ")", re.MULTILINE)


_CONTENT_MARKERS = {
    "go": _markers(r"func\s+(\(\w+\s+\*?\w+\)\s*)?\w+\(", r"package\s+\w+\s*$", r"if err != nil", r"\w+\s*:=\s"),
    "python": _markers(
        r"def\s+\w+\(.*\)\s*(->.*)?:\s*$",
        r"class\s+\w+(\(.*\))?:\s*$",
        r"elif\s",
        r"from\s+[\w.]+\s+import\s",
        r"self\.\w+\s*=",
    ),
    "rust": _markers(
        r"(pub(\(crate\))?\s+)?(async\s+)?fn\s+\w+(<[^>]*>)?\(",
        r"let\s+mut\s",
        r"impl(<[^>]*>)?\s+[\w:]+",
        r"use\s+\w+::",
        r"#\[derive\(",
        r".*\.unwrap\(\)",
        r".*&mut\s+self",
    ),
    "java": _markers(
        r"(public|private|protected)\s+(static\s+)?(final\s+)?[\w<>\[\], ]+\s+\w+\s*\([^)]*\)\s*"
        r"(throws\s+[\w, ]+)?\s*\{",
        r"import\s+java[x]?\.",
        r"@Override\b",
        r"package\s+[\w.]+;",
        r".*System\.out\.",
    ),
    "typescript": _markers(
        r"(export\s+)?(interface|type)\s+\w+(<[^>]*>)?\s*(=|\{)",
        r"(const|let|var)\s+\w+\s*:\s*[\w<>\[\]|]+\s*=",
        r".*\)\s*:\s*(Promise<|void\b|string\b|number\b|boolean\b|any\b)",
    ),
    "javascript": _markers(
        r"(const|let|var)\s+\w+\s*=\s*require\(",
        r"module\.exports\s*=",
        r"import\s+.+\s+from\s+['\"]",
        r"export\s+(default\s+)?(async\s+)?function\b",
        r".*=>\s*\{",
        r".*\bconsole\.log\(",
    ),
}


def contradicting_language(declared: str, content: str, min_markers: int = 2) -> str | None:
    """Another known language the content clearly is, when it shows none of the declared one's markers."""
    friends = _FAMILIES.get(declared, {declared})
    if any(_CONTENT_MARKERS[f].search(content) for f in friends if f in _CONTENT_MARKERS):
        return None
    for language, pattern in _CONTENT_MARKERS.items():
        if language not in friends and len(pattern.findall(content)) >= min_markers:
            return language
    return None
