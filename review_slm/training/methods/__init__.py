"""Training methods, one module each, registered by name; the entrypoint dispatches on `task`.

Adding a method is one module with `run(spec, pipes, mlflow_client, run_id) -> metadata` and one
line here. A method's module is imported when its task runs: generation then loads torch and
transformers only, not TRL, PEFT and the Trainer (~3 s of CPU per trainer process).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def _on_first_call(module: str) -> Callable:
    """`review_slm.training.methods.<module>.run`, imported when called."""

    def run(*args, **kwargs):
        return importlib.import_module(f"{__name__}.{module}").run(*args, **kwargs)

    return run


TASKS: dict[str, Callable] = {
    "sft": _on_first_call("sft"),
    "dpo": _on_first_call("dpo"),
    "orpo": _on_first_call("orpo"),
    "grpo": _on_first_call("grpo"),
    "generate": _on_first_call("generate"),
}

# Tasks that log no metrics: they get no MLflow client (its store opens a database: ~1-2 s per process).
WITHOUT_METRICS = frozenset({"generate"})
