"""Where a promoted model is served: a local folder here; KServe + vLLM in the k8s profile (`kserve.py`)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
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
    """`<root>/champion` holds the served model; `review-slm review` reads it."""

    root: str

    def deploy(self, release: Release, artifacts: ArtifactStore, log) -> dict:
        store = LocalArtifactStore(root=self.root)
        target = store.put_dir(artifacts.local_path(release.model_uri), store.uri("champion"))
        manifest = {
            "iteration": release.iteration,
            "model_version": release.version,
            "deployed_at": datetime.now(timezone.utc).isoformat(),
            "path": target,
        }
        Path(target, "SERVED.json").write_text(json.dumps(manifest, indent=2))
        log.info(f"served from {target}")
        return {"kind": "local-folder", "location": target, **manifest}
