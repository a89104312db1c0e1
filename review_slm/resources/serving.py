"""Where a promoted model is served: a local folder here; KServe + vLLM in the k8s profile (`kserve.py`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import BaseModel

from review_slm.resources.artifacts import ArtifactStore, LocalArtifactStore


@dataclass(frozen=True)
class Release:
    """What `deployed_endpoint` hands to a serving target: the merged model by URI and where it came from."""

    model_uri: str
    iteration: str
    version: str
    base_model_uri: str | None = None  # the parent this iteration trained from
    adapter_uri: str | None = None  # the preference-tuned adapter on top of that parent


class ServedEndpoint(BaseModel):
    """What a serving target reports after a rollout: where the release is served and how it got there."""

    kind: Literal["local-folder", "kserve"]
    location: str  # the served folder, or the InferenceService's URL
    iteration: str
    model_version: str
    openai_base_url: str = ""
    rollout: str = ""  # kserve: created, rolling update, canary N% -> promoted, lora adapter loaded
    inference_service: str = ""  # kserve: <namespace>/<name>
    served_model: str = ""  # the model name to ask the OpenAI-compatible API for
    serve_command: str = ""  # local: how to start the server that serves the folder
    smoke_review: str = ""  # local: one review through the running endpoint, or why there was none
    deployed_at: str = ""
    ready_since: str = ""
    storage_uri: str | None = None  # kserve: what the predictor serves


class ServingTarget(dg.ConfigurableResource, ABC):
    @abstractmethod
    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> ServedEndpoint:
        """Serve the release; returns where and how it is served."""


class LocalServing(ServingTarget):
    """`<root>/champion` holds the served model; `review-slm review` reads it, and `make serve` serves it
    over the OpenAI-compatible API at `endpoint_url` (when it runs, a smoke review goes through it)."""

    root: str
    endpoint_url: str = "http://127.0.0.1:8000"

    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> ServedEndpoint:
        store = LocalArtifactStore(root=self.root)
        target = store.put_dir(artifacts.local_path(release.model_uri), store.uri("champion"))
        manifest = {
            "iteration": release.iteration,
            "model_version": release.version,
            "deployed_at": datetime.now(UTC).isoformat(),
            "path": target,
        }
        Path(target, "SERVED.json").write_text(json.dumps(manifest, indent=2))
        log.info(f"served from {target}")
        from review_slm.resources.local_endpoint import smoke_review

        smoke = smoke_review(self.endpoint_url)
        log.info(f"local endpoint {self.endpoint_url}: {smoke.verdict}")
        return ServedEndpoint(
            kind="local-folder",
            location=target,
            iteration=release.iteration,
            model_version=release.version,
            deployed_at=manifest["deployed_at"],
            openai_base_url=self.endpoint_url,
            serve_command="make serve",
            smoke_review=smoke.verdict,
            served_model=smoke.served_model or "",
        )
