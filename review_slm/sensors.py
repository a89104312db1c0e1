"""`new_reviews_sensor`: start the next iteration when enough new review comments have arrived."""


import json
import os

import dagster as dg

from review_slm.assets.partitions import iteration_partitions
from review_slm.core.iterations import next_iteration_key
from review_slm.resources.review_source import ReviewSource

ITERATION_JOB = "iteration_job"
_IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


DEFAULT_MIN_NEW_COMMENTS = 20


@dg.sensor(
    job_name=ITERATION_JOB,
    minimum_interval_seconds=600,
    description="Counts review comments updated since the last iteration's cursor (per repository); when at least "
    "REVIEW_SLM_MIN_NEW_COMMENTS (default 20) are new, adds the next `iteration` key and runs the whole graph for it.",
)
def new_reviews_sensor(context: dg.SensorEvaluationContext, review_source: ReviewSource) -> dg.SensorResult | dg.SkipReason:
    min_new = int(os.environ.get("REVIEW_SLM_MIN_NEW_COMMENTS", DEFAULT_MIN_NEW_COMMENTS))
    in_flight = context.instance.get_runs(dg.RunsFilter(job_name=ITERATION_JOB, statuses=_IN_FLIGHT), limit=1)
    if in_flight:
        return dg.SkipReason(f"iteration run {in_flight[0].run_id} is still in flight")
    cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    count, newest = review_source.new_since(cursor)
    if count < min_new:
        return dg.SkipReason(f"{count} new review comments since the last iteration (need {min_new})")
    key = next_iteration_key(list(context.instance.get_dynamic_partitions(iteration_partitions.name)))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=key, partition_key=key, tags={"review_slm/new_comments": str(count)})],
        dynamic_partitions_requests=[iteration_partitions.build_add_request([key])],
        cursor=json.dumps({**cursor, **newest}, sort_keys=True),
    )
