"""What deployment made: the registered champion and where it is served."""

from __future__ import annotations

from pydantic import BaseModel

from review_slm.resources.serving import ServedEndpoint


class ReleaseManifest(BaseModel):
    """`deployed_endpoint`: the candidate registered as the champion (MLflow) and served."""

    registered_model: str
    model_version: str
    model_uri: str
    mlflow_model_uri: str  # models:/<model id>: what MLflow loads
    endpoint: ServedEndpoint
