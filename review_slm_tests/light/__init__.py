"""Run the reviewer as the light install runs it: in `.venv-reviewer/` (`make reviewer`), or in this environment
with the platform's packages blocked (`without_platform.py`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
REVIEWER_VENV = ROOT / ".venv-reviewer"
BLOCKER = Path(__file__).with_name("without_platform.py")


def python_command(mode: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """argv and environment that run `python ARGS` in the light install.

    `blocked`: this interpreter, the project from the checkout, the platform's packages unimportable.
    `venv`: `.venv-reviewer`'s interpreter and the project as `make reviewer` installed it (no PYTHONPATH).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if mode == "blocked":
        return [sys.executable, str(BLOCKER), *args], {**env, "PYTHONPATH": str(ROOT)}
    python = REVIEWER_VENV / "bin" / "python"
    if not (REVIEWER_VENV / ".installed").exists():
        pytest.skip("no .venv-reviewer: `make reviewer` builds it (`make test` does)")
    return [str(python), *args], env
