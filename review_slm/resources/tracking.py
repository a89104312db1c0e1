"""MLflow tracking and model registry, as Dagster resources over `MlflowClient`.

One parent MLflow run per Dagster run (tagged with the run id and iteration), one nested run per
asset that trains or evaluates; the trainer process logs into the nested run it is handed.

A tracking server that cannot be reached is an error (`TrackingUnreachable`, naming the URI), never
"no champion": an HTTP(S) server is probed once per process with a short timeout before MLflow's
client would retry for minutes, and a registry lookup only says "none" when the registry answered
that the model or alias does not exist.

The registry holds MLflow models: a promotion logs the model folder as a `transformers`-flavour
LoggedModel and registers that, so `mlflow.transformers.load_model("models:/<name>@champion")`
returns a text-generation pipeline. The folder's own URI stays on the version as a tag: it is what
the next iteration trains from (a path or `s3://` URI the trainer resolves, not an MLflow URI).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
    return TrackingUnreachable(
        f"MLflow at {uri} cannot be reached ({type(err).__name__}: {str(err)[:300]}); "
        "check MLFLOW_TRACKING_URI and that the server is up"
    )


ITERATION_TAG = "review_slm.iteration"
# On a registered version: the model folder (local path or s3:// URI) the logged MLflow model was made from.
MODEL_URI_TAG = "review_slm.model_uri"
CHAMPION_ALIAS = "champion"
# The pipeline the logged model loads as: a causal LM + tokenizer answering a chat prompt.
MODEL_TASK = "text-generation"


@dataclass(frozen=True)
class Champion:
    version: str
    source: str
    """The model folder the trainer loads (`training/models.resolve_model_ref`), not the registry's
    `models:/` source."""
    iteration: str
    run_id: str
    registry_uri: str = ""
    """What MLflow loads: `models:/<model id>` of the logged model (empty for a version registered
    before models were logged)."""


def _champion(mv) -> Champion:
    # Versions registered before the registry held MLflow models have the folder itself as their source and no tag.
    return Champion(
        version=str(mv.version),
        source=mv.tags.get(MODEL_URI_TAG, mv.source),
        iteration=mv.tags.get(ITERATION_TAG, ""),
        run_id=mv.run_id or "",
        registry_uri=mv.source if MODEL_URI_TAG in mv.tags else "",
    )


def _serving_requirements() -> list[str]:
    """What loading the logged model needs, pinned to what this process runs (MLflow adds itself)."""
    from importlib.metadata import version

    # A local version label (torch's `+cpu`) is not installable from PyPI: pin the public version.
    return [f"{pkg}=={version(pkg).split('+')[0]}" for pkg in ("torch", "transformers", "tokenizers", "safetensors")]


@contextmanager
def _fluent_tracking_uri(uri: str) -> Iterator[None]:
    """`mlflow.<flavour>.log_model` has no tracking-URI argument: it uses the process-wide one. Point that
    at this resource's server for the call and put back what was there, so nothing else in the process moves."""
    import mlflow

    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)  # pyright: ignore[reportArgumentType]  (None unsets it again)


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
        found = client.search_runs(
            [exp_id],
            filter_string=f"tags.`{DAGSTER_RUN_TAG}` = '{dagster_run_id}' and tags.`review_slm.kind` = 'dagster-run'",
        )
        if found:
            return found[0].info.run_id
        run = client.create_run(
            exp_id,
            run_name=f"iteration-{iteration}",
            tags={DAGSTER_RUN_TAG: dagster_run_id, ITERATION_TAG: iteration, "review_slm.kind": "dagster-run"},
        )
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
            tags={
                "mlflow.parentRunId": parent,
                DAGSTER_RUN_TAG: context.run.run_id,
                ITERATION_TAG: iteration,
                "review_slm.asset": asset,
            },
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
        self.client().log_batch(
            run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        )

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

    def artifact_url(self, run_id: str, path: str) -> str:
        """The run page with the artifact at `path` open (an image is previewed)."""
        return f"{self.run_url(run_id)}/artifacts/{path}"

    def trainer_env(self, run_id: str) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_RUN_ID": run_id}

    # --- model registry -------------------------------------------------------------------
    def champion(self) -> Champion | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client().get_model_version_by_alias(self.registered_model_name, CHAMPION_ALIAS)
        except MlflowException as err:
            if err.error_code in _NOT_FOUND:
                return None  # the registry answered: no such model or alias
            raise _unreachable(self.tracking_uri, err) from err
        return _champion(mv)

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
        earlier = [
            v
            for v in versions
            if v.tags.get(ITERATION_TAG)
            and (number := _number_or_none(v.tags[ITERATION_TAG])) is not None
            and number < current
        ]
        if not earlier:
            return None
        return _champion(max(earlier, key=lambda v: int(v.version)))

    def registry_uri(self, alias: str = CHAMPION_ALIAS) -> str:
        """`models:/<name>@<alias>`: what `mlflow.transformers.load_model` takes to load the champion."""
        return f"models:/{self.registered_model_name}@{alias}"

    def promote(self, model_uri: str, iteration: str, run_id: str, model_dir: str | Path) -> Champion:
        """Log the model folder as an MLflow model, register it as a new version and move `champion` to it.

        `model_dir` is a local copy of `model_uri` (a full Hugging Face model folder: weights, config,
        tokenizer); with an S3 artifact store the caller fetches it first. The files are copied into
        the tracking server's artifact store (proxied to S3 on the cluster), so the registry does not
        depend on the pipeline's artifact folder staying where it is.
        """
        import mlflow
        from huggingface_hub import ModelCard
        from mlflow.exceptions import MlflowException
        from transformers import AutoModelForCausalLM, AutoTokenizer

        client = self.client()
        try:
            client.create_registered_model(self.registered_model_name, description="review-slm code reviewer")
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise _unreachable(self.tracking_uri, err) from err
        tags = {ITERATION_TAG: iteration, MODEL_URI_TAG: model_uri}
        # The LoggedModel is created here rather than by log_model so it lands in this resource's
        # experiment (and artifact root) even without a run: log_model would otherwise pick the
        # process's default experiment, whose artifacts go to ./mlruns in the working directory.
        logged = client.create_logged_model(
            self._experiment_id(client), name=f"reviewer-{iteration}", source_run_id=run_id or None, tags=tags
        )
        # A card of our own: without one MLflow asks the Hub for a card named after the local folder,
        # which cannot exist and only logs a warning.
        card = ModelCard(
            f"---\nlibrary_name: transformers\npipeline_tag: {MODEL_TASK}\n---\n"
            f"# review-slm reviewer, {iteration}\n\nPromoted from `{model_uri}`; answers a ChatML review prompt "
            "with one JSON review.\n"
        )
        # Logged as loaded components, not as a folder path: MLflow 3.17's from-a-folder path
        # (`build_flavor_config_from_local_checkpoint`) reads `check_task(...)["impl"].__name__`, which
        # transformers 5 gives as a dotted string, so it fails. Loading costs the model's size in RAM
        # once per promotion; dtype "auto" keeps the saved precision (~3 GB for the 1.5B in bf16).
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
        components = {"model": model, "tokenizer": AutoTokenizer.from_pretrained(model_dir)}
        # Requirements given, not inferred: inferring loads the model again in a subprocess, and MLflow's
        # defaults name torchvision, which a text model does not need and this stack does not install.
        requirements = _serving_requirements()
        with _fluent_tracking_uri(self.tracking_uri):
            # mlflow loads its flavours lazily, so no stub says `transformers` is exported
            info = mlflow.transformers.log_model(  # pyright: ignore[reportPrivateImportUsage]
                components,
                name=logged.name,
                task=MODEL_TASK,
                model_id=logged.model_id,
                run_id=run_id or None,
                model_card=card,
                pip_requirements=requirements,
            )
            # Inside the block too: a database registry looks the `models:/<id>` source up through the
            # process-wide tracking URI, not this client's (MLflow's SqlAlchemyStore resolves it that way).
            mv = client.create_model_version(
                self.registered_model_name,
                source=info.model_uri,
                run_id=run_id or None,
                tags=tags,
                model_id=info.model_id,
            )
        client.set_registered_model_alias(self.registered_model_name, CHAMPION_ALIAS, mv.version)
        return _champion(mv)
