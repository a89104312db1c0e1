"""Where a promoted model is served: a local folder here; KServe + vLLM in the k8s profile (`kserve.py`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from review_slm.resources.artifacts import ArtifactStore, LocalArtifactStore


@dataclass(frozen=True)
class Release:
    """What `deployed_endpoint` hands to a serving target: the merged model by URI and where it came from."""

    model_uri: str
    iteration: str
    version: str
    base_model_uri: str | None = None  # the parent this iteration trained from
    adapter_uri: str | None = None  # the preference-tuned adapter on top of that parent


class ServingTarget(dg.ConfigurableResource, ABC):
    @abstractmethod
    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> dict:
        """Serve the release; returns a description of the endpoint (`kind`, `location`, ...)."""


class LocalServing(ServingTarget):
    """`<root>/champion` holds the served model; `review-slm review` reads it, and `make serve` serves it
    over the OpenAI-compatible API at `endpoint_url` (when it runs, a smoke review goes through it)."""

    root: str
    endpoint_url: str = "http://127.0.0.1:8000"

    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> dict:
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
        log.info(f"local endpoint {self.endpoint_url}: {smoke['smoke_review']}")
        return {
            "kind": "local-folder",
            "location": target,
            **manifest,
            "openai_base_url": self.endpoint_url,
            "serve_command": "make serve",
            **smoke,
        }
