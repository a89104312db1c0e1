"""review-slm: distil a small code-review model, one Dagster partition per iteration."""
