"""Training methods, one module each, registered by name; the entrypoint dispatches on `task`."""

from __future__ import annotations

from collections.abc import Callable

from review_slm.training.methods import dpo, generate, sft

TASKS: dict[str, Callable] = {
    "sft": sft.run,
    "dpo": dpo.run,
    "generate": generate.run,
}
