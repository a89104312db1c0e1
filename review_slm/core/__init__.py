"""Pure logic: no Dagster, no torch, no network. Everything here is unit-testable in milliseconds."""
