"""What runs inside a trainer process or pod: torch / transformers / trl / peft + dagster-pipes only."""
