"""Training methods, one module each, registered by name; the entrypoint dispatches on `task`.

Adding a method is one module with `run(spec, pipes, mlflow_client, run_id) -> metadata` and one
line here.
"""

from __future__ import annotations

from collections.abc import Callable

from review_slm.training.methods import dpo, generate, grpo, orpo, sft

TASKS: dict[str, Callable] = {
    "sft": sft.run,
    "dpo": dpo.run,
    "orpo": orpo.run,
    "grpo": grpo.run,
    "generate": generate.run,
}

# Tasks that log no metrics: they get no MLflow client (its store opens a database: ~1-2 s per process).
WITHOUT_METRICS = frozenset({"generate"})
