"""`new_reviews_sensor`: start the next iteration when enough new review comments have arrived."""

import json
from datetime import UTC, datetime

import dagster as dg

from review_slm import settings
from review_slm.core.iterations import next_iteration_key
from review_slm.ingest.review_corpus import ReviewCorpus
from review_slm.partitions import iteration_partitions
from review_slm.resources.artifacts import ArtifactStore
from review_slm.resources.feedback_source import FeedbackSource
from review_slm.resources.review_source import ReviewSource

ITERATION_JOB = "iteration_job"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


DEFAULT_MIN_NEW_COMMENTS = 20
PARTITION_TAG = "dagster/partition"


def iteration_keys(instance: dg.DagsterInstance) -> list[str]:
    name = iteration_partitions.name
    assert name is not None  # a named DynamicPartitionsDefinition
    return list(instance.get_dynamic_partitions(name))


def iteration_run_in_flight(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    """A queued or running run of an iteration, however it was launched: this sensor's `iteration_job`,
    or an asset run (`__ASSET_JOB`) from the UI, `dagster asset materialize`, `dg launch` or `make run`,
    which carries the iteration key as its partition tag."""
    keys = set(iteration_keys(instance))
    for run in instance.get_runs(dg.RunsFilter(statuses=_IN_FLIGHT), limit=200):
        if run.job_name == ITERATION_JOB or run.tags.get(PARTITION_TAG) in keys:
            return run
    return None


@dg.sensor(
    # The whole graph, as the UI's "Materialize all", `dagster asset materialize --select '*'` and `dg launch`
    # run it: every path starts an iteration the same way (one asset run of the partition, checks included).
    target=dg.AssetSelection.all(),
    # Running from the start: new reviews are what starts the next iteration (the point of the loop).
    # Stop it in the UI (Automation) to browse without training.
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=600,
    description="Counts review comments updated after the mined corpus' cursor (per repository), stopping as soon as "
    "REVIEW_SLM_MIN_NEW_COMMENTS (default 20) are found; then adds the next `iteration` key and runs the whole graph "
    "for it. New feedback on the reviewer's own comments (a reaction, a reply, a resolved thread) counts too. "
    "At most one iteration in flight; the run key is the iteration key, so no tick or restart repeats it.",
)
def new_reviews_sensor(
    context: dg.SensorEvaluationContext, review_source: ReviewSource, artifacts: ArtifactStore, feedback: FeedbackSource
) -> dg.SensorResult | dg.SkipReason:
    min_new = settings.min_new_comments(DEFAULT_MIN_NEW_COMMENTS)
    in_flight = iteration_run_in_flight(context.instance)
    if in_flight is not None:
        return dg.SkipReason(
            f"iteration run {in_flight.run_id} ({in_flight.job_name}, partition "
            f"{in_flight.tags.get(PARTITION_TAG, '?')}) is still in flight"
        )
    # The sensor's own cursor remembers what it already asked an iteration to mine, so comments that
    # a failed iteration did not mine do not start iteration after iteration; the next one picks them up.
    state = json.loads(context.cursor) if context.cursor else {}
    requested: dict[str, str] = state.get("requested", {})
    # Feedback changes no comment's `updated_at` (a reaction, a resolved thread), so it is compared by
    # signature with what the last requested iteration saw; a reply is also a new comment below.
    signals = {
        f"{repo}:{item.comment_id}": item.signature() for repo in feedback.repos for item in feedback.items(repo)
    }
    seen: dict[str, str] = state.get("feedback", {})
    new_feedback = sum(1 for k, sig in signals.items() if seen.get(k, "0/0/0/0/0") != sig)
    corpus = ReviewCorpus(artifacts, review_source.source_name)
    count = new_feedback
    for repo in review_source.repos if count < min_new else []:
        mark = max(corpus.cursor(repo), requested.get(repo, ""))
        found, _newest = review_source.count_new(repo, mark, stop_at=min_new - count)
        count += found
        if count >= min_new:
            break
    if count < min_new:
        return dg.SkipReason(
            f"{count} new review comments and feedback since the last iteration (need {min_new}; "
            f"{new_feedback} feedback)"
        )
    # The iteration will mine everything updated until it runs, so "now" is what it covers.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    key = next_iteration_key(iteration_keys(context.instance))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=key,
                partition_key=key,
                tags={"review_slm/new_comments": f"{count}+", "review_slm/new_feedback": str(new_feedback)},
            )
        ],
        dynamic_partitions_requests=[iteration_partitions.build_add_request([key])],
        cursor=json.dumps(
            {
                "requested": {**requested, **dict.fromkeys(review_source.repos, now)},
                "last_key": key,
                "feedback": signals,
            },
            sort_keys=True,
        ),
    )
