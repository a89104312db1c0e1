"""What the ingest assets hand the gold set: where the records and the rows set aside are, and how many."""

from __future__ import annotations

from pydantic import BaseModel

from review_slm.resources.artifact_layout import RecordSource


class RecordsManifest(BaseModel):
    """`mined_reviews` or `hf_supplement`: normalized review records and the rejected rows (Parquet, by URI)."""

    source: RecordSource
    records_uri: str
    rejected_uri: str
    records: int
    rejected: int
