"""Clients of external services shared by several resources and the CLI (Kubernetes, OpenAI-compatible endpoints)."""
