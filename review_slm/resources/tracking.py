"""MLflow tracking and model registry, as Dagster resources over `MlflowClient`.

One parent MLflow run per Dagster run (tagged with the run id and iteration), one nested run per
asset that trains or evaluates; the trainer process logs into the nested run it is handed.

A tracking server that cannot be reached is an error (`TrackingUnreachable`, naming the URI), never
"no champion": an HTTP(S) server is probed once per process with a short timeout before MLflow's
client would retry for minutes, and a registry lookup only says "none" when the registry answered
that the model or alias does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

DAGSTER_RUN_TAG = "dagster.run_id"
_REACHABLE: set[str] = set()  # tracking URIs this process has seen answer
# What the registry answers for "there is no such model / alias": the only errors that mean "none".
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


def _number_or_none(key: str) -> int | None:
    from review_slm.core.iterations import InvalidIterationKey, iteration_number

    try:
        return iteration_number(key)
    except InvalidIterationKey:  # a version registered under a key of another form is not "earlier" than anything
        return None


class TrackingUnreachable(RuntimeError):
    """The MLflow tracking server / registry did not answer: fail, do not guess."""


def _unreachable(uri: str, err: Exception) -> TrackingUnreachable:
    return TrackingUnreachable(f"MLflow at {uri} cannot be reached ({type(err).__name__}: {str(err)[:300]}); "
                               "check MLFLOW_TRACKING_URI and that the server is up")
ITERATION_TAG = "review_slm.iteration"


@dataclass(frozen=True)
class Champion:
    version: str
    source: str
    iteration: str
    run_id: str


class MlflowTracking(dg.ConfigurableResource):
    tracking_uri: str
    artifact_root: str | None = None
    """Where new experiments keep artifacts (MLflow would otherwise use ./mlruns in the working directory)."""
    experiment_name: str = "review-slm"
    ui_url: str = "http://127.0.0.1:5000"
    registered_model_name: str = "review-slm-reviewer"

    probe_timeout_s: float = 10.0

    def client(self):
        from mlflow.tracking import MlflowClient

        self._probe()
        return MlflowClient(tracking_uri=self.tracking_uri)

    def _probe(self) -> None:
        """An HTTP(S) tracking server answers /health quickly or is unreachable (a database URI is local)."""
        uri = self.tracking_uri
        if uri in _REACHABLE or not uri.startswith(("http://", "https://")):
            return
        import httpx

        try:
            httpx.get(f"{uri.rstrip('/')}/health", timeout=self.probe_timeout_s).raise_for_status()
        except httpx.HTTPError as err:
            raise _unreachable(uri, err) from err
        _REACHABLE.add(uri)

    def _experiment_id(self, client) -> str:
        exp = client.get_experiment_by_name(self.experiment_name)
        if exp:
            return exp.experiment_id
        location = f"{self.artifact_root.rstrip('/')}/{self.experiment_name}" if self.artifact_root else None
        return client.create_experiment(self.experiment_name, artifact_location=location)

    def _parent_run(self, client, exp_id: str, dagster_run_id: str, iteration: str) -> str:
        found = client.search_runs([exp_id], filter_string=f"tags.`{DAGSTER_RUN_TAG}` = '{dagster_run_id}' and tags.`review_slm.kind` = 'dagster-run'")
        if found:
            return found[0].info.run_id
        run = client.create_run(exp_id, run_name=f"iteration-{iteration}",
                                tags={DAGSTER_RUN_TAG: dagster_run_id, ITERATION_TAG: iteration, "review_slm.kind": "dagster-run"})
        return run.info.run_id

    def start_asset_run(self, context: dg.AssetExecutionContext, params: dict | None = None) -> str:
        client = self.client()
        exp_id = self._experiment_id(client)
        iteration = context.partition_key
        parent = self._parent_run(client, exp_id, context.run.run_id, iteration)
        asset = context.asset_key.to_user_string()
        run = client.create_run(
            exp_id,
            run_name=f"{asset}-{iteration}",
            tags={"mlflow.parentRunId": parent, DAGSTER_RUN_TAG: context.run.run_id, ITERATION_TAG: iteration, "review_slm.asset": asset},
        )
        if params:
            self.log_params(run.info.run_id, params)
        return run.info.run_id

    def log_params(self, run_id: str, params: dict) -> None:
        from mlflow.entities import Param

        self.client().log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client().log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client().log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client().log_text(run_id, text, artifact_file)

    def end_run(self, run_id: str, failed: bool = False) -> None:
        self.client().set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def run_url(self, run_id: str) -> str:
        client = self.client()
        exp_id = client.get_run(run_id).info.experiment_id
        return f"{self.ui_url}/#/experiments/{exp_id}/runs/{run_id}"

    def trainer_env(self, run_id: str) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_RUN_ID": run_id}

    # --- model registry -------------------------------------------------------------------
    def champion(self) -> Champion | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client().get_model_version_by_alias(self.registered_model_name, "champion")
        except MlflowException as err:
            if err.error_code in _NOT_FOUND:
                return None  # the registry answered: no such model or alias
            raise _unreachable(self.tracking_uri, err) from err
        return Champion(version=str(mv.version), source=mv.source, iteration=mv.tags.get(ITERATION_TAG, ""), run_id=mv.run_id or "")

    def promoted_before(self, iteration: str) -> Champion | None:
        """The last model promoted by an iteration before `iteration`: "iteration N starts from N-1".

        Only promotions are registered, so the newest registered version of an earlier iteration is
        what that iteration deployed; a rerun of iteration N never starts from its own output.
        """
        from mlflow.exceptions import MlflowException

        from review_slm.core.iterations import iteration_number

        current = iteration_number(iteration)  # an invalid key fails here, before the registry is asked
        try:
            versions = self.client().search_model_versions(f"name = '{self.registered_model_name}'")
        except MlflowException as err:  # no model is an empty list; an exception is a registry that did not answer
            raise _unreachable(self.tracking_uri, err) from err
        earlier = [v for v in versions if v.tags.get(ITERATION_TAG) and _number_or_none(v.tags[ITERATION_TAG]) is not None
                   and _number_or_none(v.tags[ITERATION_TAG]) < current]
        if not earlier:
            return None
        mv = max(earlier, key=lambda v: int(v.version))
        return Champion(version=str(mv.version), source=mv.source, iteration=mv.tags[ITERATION_TAG], run_id=mv.run_id or "")

    def promote(self, source: str, iteration: str, run_id: str) -> str:
        """Register `source` as a new version and move the `champion` alias to it."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(self.registered_model_name, description="review-slm code reviewer")
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise _unreachable(self.tracking_uri, err) from err
        mv = client.create_model_version(self.registered_model_name, source=source, run_id=run_id, tags={ITERATION_TAG: iteration})
        client.set_registered_model_alias(self.registered_model_name, "champion", mv.version)
        return str(mv.version)
