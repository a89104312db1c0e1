"""The instance's run coordinator: Dagster's queued one, refusing a run whose iteration key has the wrong form.

Dagster's "Add a partition" box accepts any name, and "iteration N starts from N-1" needs keys of the
form `iter-NNNN`. A run for another key is marked failed when it is submitted, with a message that says
the expected form, so no step starts (instance/dagster.yaml names this class). Runs executed in process
(`dagster asset materialize`, tests) bypass coordinators: there the root assets refuse the key at their
first line instead.
"""

from __future__ import annotations

import dagster as dg

from review_slm.core.iterations import InvalidIterationKey, validate_iteration_key

PARTITION_TAG = "dagster/partition"


class IterationRunCoordinator(dg.QueuedRunCoordinator):
    def submit_run(self, context: dg.SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        key = run.tags.get(PARTITION_TAG)
        if key is not None:
            try:
                validate_iteration_key(key)
            except InvalidIterationKey as err:
                self._instance.report_run_failed(run, message=f"run refused before any step: {err}")
                return self._instance.get_run_by_id(run.run_id) or run
        return super().submit_run(context)
