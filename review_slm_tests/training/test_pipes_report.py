"""The trainer's report crosses Pipes and the launcher reads it back under the keys both take from
`training/pipes_report.py`: a real Pipes session around a process that reports as the entrypoint does."""

import os
import subprocess
import sys

import dagster as dg

from review_slm.resources.launcher import TrainerReport, reported_failure
from review_slm.training.pipes_report import FailureKey, FailureKind

# What `entrypoint.main` sends from rank 0: a classified failure (guards) and the summary's metadata.
TRAINER = """
from review_slm.training import distributed
from review_slm.training.entrypoint import _pipes_metadata
from review_slm.training.guards import out_of_memory_failure
from review_slm.training.pipes_report import ReportKey

with distributed.open_pipes() as pipes:
    pipes.report_custom_message(out_of_memory_failure(RuntimeError("CUDA out of memory"), 8, 2, "sft").report())
    summary = {ReportKey.LOSS_HISTORY: [{"step": 1, "loss": 2.5}], ReportKey.RESUMED_FROM_STEP: 4, "steps": 6}
    pipes.report_asset_materialization(metadata=_pipes_metadata(summary))
"""


def test_the_launcher_reads_the_keys_the_trainer_writes():
    @dg.asset
    def sft_adapter(context: dg.AssetExecutionContext):
        with dg.open_pipes_session(
            context=context,
            extras={},
            context_injector=dg.PipesTempFileContextInjector(),
            message_reader=dg.PipesTempFileMessageReader(),
        ) as session:
            env = {**os.environ, **session.get_bootstrap_env_vars()}
            subprocess.run([sys.executable, "-c", TRAINER], env=env, check=True, timeout=120)
        failure, report = reported_failure(session), TrainerReport.from_session(session)
        assert failure is not None and failure.kind == FailureKind.OOM and "sft ran out of memory" in str(failure)
        assert failure.details["per_device_batch_size"] == 8 and set(FailureKey) <= set(failure.details)
        assert report.loss_history == [{"step": 1, "loss": 2.5}] and report.resumed_from_step == 4
        assert report.metadata == {"steps": 6}  # the keys the launcher takes out are gone from the rest
        yield from session.get_results()

    assert dg.materialize([sft_adapter]).success
