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
