"""The one IO manager: every asset's typed manifest as JSON on the artifact store.

An asset returns a small pydantic model (what it made: URIs of its big artifacts, counts, thresholds,
decisions); this writes it to `iterations/<key>/<asset>/manifest.json` (`artifact_layout.py`) in the
store of the profile, a local folder or S3, atomically (both stores write a file whole or not at all).
A downstream asset or a check that names the asset as a typed argument gets it back validated as the
type it declares, so a manifest's fields are spelled once, in its model. JSON, not pickle: a person can
read it, and a renamed class does not make old iterations unreadable.
"""

from __future__ import annotations

import dagster as dg
from pydantic import BaseModel

from review_slm.resources.artifact_layout import iteration
from review_slm.resources.artifacts import ArtifactStore


class ManifestIOManager(dg.ConfigurableIOManager):
    artifacts: ArtifactStore

    def manifest_uri(self, context: dg.OutputContext | dg.InputContext) -> str:
        if not context.has_asset_partitions:
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: manifests are stored per iteration; pick a partition "
                "(an iteration key) to run this"
            )
        return iteration(self.artifacts, context.asset_partition_key).manifest(context.asset_key.path[-1])

    def handle_output(self, context: dg.OutputContext, obj: BaseModel) -> None:
        if not isinstance(obj, BaseModel):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}: assets return a pydantic manifest"
            )
        self.artifacts.write_text(self.manifest_uri(context), obj.model_dump_json(indent=2))

    def load_input(self, context: dg.InputContext) -> BaseModel:
        model = _manifest_type(context)
        uri = self.manifest_uri(context)
        if not self.artifacts.exists(uri):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has no manifest for {context.asset_partition_key} ({uri}): "
                "materialize it for this iteration first"
            )
        return model.model_validate_json(self.artifacts.read_text(uri))


def _manifest_type(context: dg.InputContext) -> type[BaseModel]:
    """The manifest class the consumer declares (its argument's annotation), else the one the producer returns."""
    candidates = [context.dagster_type.typing_type]
    if context.upstream_output is not None:
        candidates.append(context.upstream_output.dagster_type.typing_type)
    for typ in candidates:
        if isinstance(typ, type) and issubclass(typ, BaseModel):
            return typ
    raise TypeError(
        f"input {context.name!r} ({context.asset_key.to_user_string()}): annotate it with the asset's manifest class"
    )
