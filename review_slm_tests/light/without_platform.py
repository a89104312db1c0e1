"""Run a module or script as if only the light install were there: the platform's packages cannot be imported.

    python review_slm_tests/light/without_platform.py -m review_slm.cli review FILE --endpoint URL
    python review_slm_tests/light/without_platform.py deploy/github-actions/review_pull_request.py

A `sys.meta_path` finder in front of every other one answers an import of a blocked package (or any of its
submodules) with the same ModuleNotFoundError an environment without it gives, so code that needs the
platform fails exactly as it would in `.venv-reviewer/`.
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys

# Import names of what the `platform` extra (pyproject.toml) adds over the reviewer's own dependencies.
BLOCKED = frozenset(
    {
        "torch",
        "transformers",
        "tokenizers",
        "trl",
        "peft",
        "bitsandbytes",
        "accelerate",
        "datasets",
        "pyarrow",
        "boto3",
        "botocore",
        "mlflow",
        "dagster",
        "dagster_pipes",
        "dagster_k8s",
        "dagster_aws",
        "kubernetes",
        "ollama",
        "matplotlib",
        "detect_secrets",
        "re2",
        "numpy",
    }
)


class PlatformBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: not in the light install)", name=name)
        return None


def main() -> None:
    sys.meta_path.insert(0, PlatformBlocker())
    if sys.argv[1] == "-m":
        module, sys.argv = sys.argv[2], [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
