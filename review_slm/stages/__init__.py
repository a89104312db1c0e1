"""What the assets do, without Dagster: plain functions over resources and the artifact layout.

Each asset in `assets/` resolves its resources, calls one of these and turns the result into a
`MaterializeResult`; tests call them directly.
"""
