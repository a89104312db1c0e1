"""Run the training entrypoint somewhere and get its metadata back over Dagster Pipes."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod

import dagster as dg

ENTRYPOINT = ["-m", "review_slm.training.entrypoint"]


class TrainingLauncher(dg.ConfigurableResource, ABC):
    @abstractmethod
    def launch(self, context: dg.AssetExecutionContext, spec: dict, env: dict[str, str]) -> dict:
        """Run one job spec (`task` = sft | dpo | generate) to completion; returns its reported metadata."""


class LocalProcessLauncher(TrainingLauncher):
    """A subprocess on this machine running the same command a PyTorchJob pod runs."""

    python: str = sys.executable

    def launch(self, context: dg.AssetExecutionContext, spec: dict, env: dict[str, str]) -> dict:
        context.log.info(f"launching `{spec['task']}` in a local process: {self.python} {' '.join(ENTRYPOINT)}")
        invocation = dg.PipesSubprocessClient().run(
            context=context, command=[self.python, *ENTRYPOINT], extras=spec, env=env
        )
        result = invocation.get_materialize_result()
        return {key: value.value for key, value in (result.metadata or {}).items()}
