"""The student's own tokenizer, for the gold set's token budget and the training cost estimate.

Loaded lazily: most rows are shorter in bytes than the budget in tokens and never need it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from review_slm.core.prompts import STUDENT_SYSTEM_PROMPT
from review_slm.core.recipe import Recipe


class StudentTokenizer:
    def __init__(self, recipe: Recipe, cache_dir: str):
        self.recipe = recipe
        self.cache_dir = Path(cache_dir)

    @cached_property
    def tokenizer(self):
        from review_slm.training.models import load_tokenizer, resolve_model_ref

        path, revision = resolve_model_ref(self.recipe.base_model, self.recipe, self.cache_dir)
        return load_tokenizer(path, revision)

    def count_examples(self, pairs: list[tuple[str, str]], batch: int = 256) -> list[int]:
        """Tokens of system + user prompt + assistant answer, rendered with the training chat template."""
        counts: list[int] = []
        for start in range(0, len(pairs), batch):
            texts = [
                self.tokenizer.apply_chat_template(
                    [
                        {"role": "system", "content": STUDENT_SYSTEM_PROMPT},
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": answer},
                    ],
                    tokenize=False,
                )
                for prompt, answer in pairs[start : start + batch]
            ]
            counts += [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return counts
