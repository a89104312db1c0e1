"""Launch `iteration_job` for one iteration key on the deployed Dagster, and wait for the run.

Runs inside the code-location pod (`kubectl exec -i ... -- python - KEY < launch_iteration.py`),
where `dagster-graphql` is installed and the webserver is reachable by its Service name. The run is
a normal run of the deployment: a K8sRunLauncher pod, visible and cancellable in the UI, and it keeps
going if the caller disconnects (the caller only waits for it).
"""

from __future__ import annotations

import argparse
import sys
import time

from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

FINISHED = {DagsterRunStatus.SUCCESS: 0, DagsterRunStatus.FAILURE: 1, DagsterRunStatus.CANCELED: 1}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("key", help="the iteration partition key, e.g. iter-0003")
    parser.add_argument("--host", default="dagster-dagster-webserver")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--location", default="review-slm", help="code location (Helm user deployment name)")
    parser.add_argument("--job", default="iteration_job")
    parser.add_argument("--poll-seconds", type=int, default=60)
    parser.add_argument("--no-wait", action="store_true", help="print the run id and return")
    args = parser.parse_args()

    client = DagsterGraphQLClient(args.host, port_number=args.port)
    run_id = client.submit_job_execution(
        args.job,
        repository_location_name=args.location,
        tags={"dagster/partition": args.key, "review-slm/launched-by": "ci"},
    )
    print(f"launched {args.job} for {args.key}: run {run_id} (UI: /runs/{run_id})", flush=True)
    if args.no_wait:
        return 0
    last = None
    while True:
        status = client.get_run_status(run_id)
        if status != last:
            print(f"run {run_id}: {status.value}", flush=True)
            last = status
        if status in FINISHED:
            return FINISHED[status]
        time.sleep(args.poll_seconds)


if __name__ == "__main__":
    sys.exit(main())
