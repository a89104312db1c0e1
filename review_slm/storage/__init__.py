"""Where artifacts live: the typed artifact layout, and the stores built on it (review corpus, teacher cache).

Not Dagster resources: helpers that assets and sensors use with the `artifacts` resource.
"""
