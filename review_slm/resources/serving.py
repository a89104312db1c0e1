"""Where a promoted model is served: a local folder here; KServe + vLLM in the k8s profile."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from review_slm.resources.artifacts import LocalArtifactStore


class ServingTarget(dg.ConfigurableResource, ABC):
    @abstractmethod
    def deploy(self, model_dir: Path, iteration: str, version: str) -> dict:
        """Serve the model; returns a description of the endpoint (kind, location)."""


class LocalServing(ServingTarget):
    """`<root>/champion` holds the served model; `review-slm review` reads it."""

    root: str

    def deploy(self, model_dir: Path, iteration: str, version: str) -> dict:
        store = LocalArtifactStore(root=self.root)
        target = store.put_dir(model_dir, store.uri("champion"))
        manifest = {
            "iteration": iteration,
            "model_version": version,
            "deployed_at": datetime.now(timezone.utc).isoformat(),
            "path": target,
        }
        Path(target, "SERVED.json").write_text(json.dumps(manifest, indent=2))
        return {"kind": "local-folder", "location": target, **manifest}
