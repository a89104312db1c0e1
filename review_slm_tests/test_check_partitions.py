"""A check-only run without a partition ("Execute all" on a partitioned asset's Checks tab) fails, each
check saying to pick an iteration. (With a partition the checks run as before: `test_eval_teacher.py` runs
`no_regression_vs_champion` with its partition, `test_pipeline.py` every check.)"""

import re

import dagster as dg

from review_slm import definitions
from review_slm.evaluate.assets import no_regression_vs_champion
from review_slm.gold.checks import GOLD_SET_CHECKS


def checks_only():
    """The project's assets and checks, and a job that selects the checks alone: what "Execute all" launches."""
    resources = definitions.local_resources()
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.all_asset_checks())
    defs = dg.Definitions(
        assets=definitions.ASSETS,
        asset_checks=[*GOLD_SET_CHECKS, no_regression_vs_champion],
        jobs=[job],
        resources=resources,
    )
    return defs.resolve_job_def("checks_only")


def failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {e.step_key: e.event_specific_data.error.message for e in result.all_events if e.is_step_failure}


def test_a_check_only_run_without_a_partition_fails_saying_to_pick_one(home):
    job = checks_only()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
    failed = failures(result)
    assert not result.success and len(failed) == len(GOLD_SET_CHECKS) + 1
    assert "eval_report_no_regression_vs_champion" in failed
    for message in failed.values():
        assert re.search(r"pick an? (iteration )?partition", message), message
