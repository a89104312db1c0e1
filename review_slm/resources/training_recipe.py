"""The training recipe a deployment uses, as a resource so it is chosen once (REVIEW_SLM_RECIPE)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.core.recipe import Recipe, load_recipe


class TrainingRecipe(dg.ConfigurableResource):
    name: str = "tiny"
    cache_dir: str
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES),
        description="the languages trained on, reviewed and evaluated (REVIEW_SLM_LANGUAGES)",
    )

    def load(self) -> Recipe:
        return load_recipe(self.name)
