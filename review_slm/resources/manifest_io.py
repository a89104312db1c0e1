"""The one IO manager: every asset's typed manifest as JSON on the artifact store.

An asset returns a small pydantic model (what it made: URIs of its big artifacts, counts, thresholds,
decisions); this writes it to `iterations/<key>/<asset>/manifest.json` (`artifact_layout.py`) in the
store of the profile, a local folder or S3, atomically (both stores write a file whole or not at all).
A downstream asset or a check that names the asset as a typed argument gets it back validated as the
type it declares, so a manifest's fields are spelled once, in its model. JSON, not pickle: a person can
read it, and a renamed class does not make old iterations unreadable.
"""

from __future__ import annotations

from typing import TypeVar

import dagster as dg
from pydantic import BaseModel

from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import ArtifactStore

M = TypeVar("M", bound=BaseModel)


def write_manifest(artifacts: ArtifactStore, key: str, asset: str, manifest: BaseModel) -> str:
    """Store `asset`'s manifest of iteration `key` (what the IO manager does with an asset's return value)."""
    return artifacts.write_text(iteration(artifacts, key).manifest(asset), manifest.model_dump_json(indent=2))


def read_manifest(artifacts: ArtifactStore, key: str, asset: str, model: type[M]) -> M:
    """`asset`'s manifest of iteration `key`, validated as `model`."""
    return model.model_validate_json(artifacts.read_text(iteration(artifacts, key).manifest(asset)))


class ManifestIOManager(dg.ConfigurableIOManager):
    artifacts: ArtifactStore

    def handle_output(self, context: dg.OutputContext, obj: BaseModel) -> None:
        if not isinstance(obj, BaseModel):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}: assets return a pydantic manifest"
            )
        write_manifest(self.artifacts, _partition(context), context.asset_key.path[-1], obj)

    def load_input(self, context: dg.InputContext) -> BaseModel:
        key, asset = _partition(context), context.asset_key.path[-1]
        if not self.artifacts.exists(iteration(self.artifacts, key).manifest(asset)):
            raise dg.Failure(f"{asset} has no manifest for {key}: materialize it for this iteration first")
        return read_manifest(self.artifacts, key, asset, _manifest_type(context))


def _partition(context: dg.OutputContext | dg.InputContext) -> str:
    if not context.has_asset_partitions:
        raise dg.Failure(
            description=f"{context.asset_key.to_user_string()}: this run has no partition, and manifests are stored "
            "per iteration: pick an iteration partition",
            allow_retries=False,
        )
    return context.asset_partition_key


def _manifest_type(context: dg.InputContext) -> type[BaseModel]:
    """The manifest class the consumer declares: its argument's annotation."""
    typ = context.dagster_type.typing_type
    if isinstance(typ, type) and issubclass(typ, BaseModel):
        return typ
    raise TypeError(
        f"input {context.name!r} ({context.asset_key.to_user_string()}): annotate it with the asset's manifest class"
    )
