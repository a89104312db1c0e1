"""The training recipe a deployment uses, as a resource so it is chosen once (REVIEW_SLM_RECIPE)."""

from __future__ import annotations

import dagster as dg

from review_slm.core.recipe import Recipe, load_recipe


class TrainingRecipe(dg.ConfigurableResource):
    name: str = "tiny"
    cache_dir: str

    def load(self) -> Recipe:
        return load_recipe(self.name)
