"""The shipped training recipes (YAML); their typed model and loader is `review_slm/core/recipe.py`."""
