"""Decide the language of a diff from its path and content; the graph keeps Go, Python and Kubernetes YAML."""

from __future__ import annotations

import re

_K8S_MARKERS = re.compile(r"^[+\- ]?\s*(apiVersion|kind)\s*:", re.MULTILINE)
_HELM_MARKER = re.compile(r"\{\{[-\s]")
_K8S_PATH_HINTS = ("templates/", "manifests/", "charts/", "kustomization", "crds/", "deploy/", "config/")

# Hugging Face datasets spell languages in many ways; these are the ones we accept.
_ALIASES = {
    "go": "go",
    "golang": "go",
    "py": "python",
    "python": "python",
    "python3": "python",
    "yaml": "yaml",
    "yml": "yaml",
}


def normalize_language(name: str | None) -> str | None:
    if not name:
        return None
    return _ALIASES.get(name.strip().lower())


def detect_language(path: str, content: str = "") -> str | None:
    """Go and Python by extension; YAML only when it looks like Kubernetes (apiVersion/kind, Helm, manifest dirs)."""
    lower = path.lower()
    if lower.endswith(".go"):
        return "go"
    if lower.endswith((".py", ".pyi")):
        return "python"
    if lower.endswith((".yaml", ".yml", ".tpl")):
        if _K8S_MARKERS.search(content) or _HELM_MARKER.search(content):
            return "yaml"
        if any(hint in lower for hint in _K8S_PATH_HINTS):
            return "yaml"
    return None


# Strong, language-specific markers on changed or context lines; used to catch a row whose declared
# language (a dataset column, a synthesized path) disagrees with its content.
_CONTENT_MARKERS = {
    "go": re.compile(r"^[+\- ]\s*(func\s+(\(\w+\s+\*?\w+\)\s*)?\w+\(|package\s+\w+\s*$|if err != nil|\w+\s*:=\s)", re.MULTILINE),
    "python": re.compile(r"^[+\- ]\s*(def\s+\w+\(.*\)\s*(->.*)?:\s*$|class\s+\w+(\(.*\))?:\s*$|elif\s|from\s+[\w.]+\s+import\s|self\.\w+\s*=)", re.MULTILINE),
}


def contradicting_language(declared: str, content: str, min_markers: int = 2) -> str | None:
    """Another supported language the content clearly is, when it shows none of the declared one's markers."""
    if declared in _CONTENT_MARKERS and _CONTENT_MARKERS[declared].search(content):
        return None
    for language, pattern in _CONTENT_MARKERS.items():
        if language != declared and len(pattern.findall(content)) >= min_markers:
            return language
    return None
