"""Dagster wiring only: thin asset functions that call core/ and resources/."""
