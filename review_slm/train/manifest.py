"""What the training assets hand each other, evaluation and deployment: models by URI and where they came from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ParentModel(BaseModel):
    """`parent_model`: the model this iteration starts from (the N-1 champion, or the recipe's base)."""

    model_uri: str
    parent_iteration: str | None  # None: the first iteration, from the recipe's base model
    registry_version: str | None
    kind: Literal["recipe base", "promoted model"]
    recipe: str


class SftPolicy(BaseModel):
    """`sft_adapter`: the supervised policy, a LoRA adapter on the parent model or full weights (`finetuning: full`)."""

    policy_uri: str
    parent_model_uri: str
    mlflow_run_id: str


class PreferencePairs(BaseModel):
    """`preference_pairs`: chosen/rejected pairs (Parquet) for DPO / ORPO; empty under GRPO, which needs none."""

    pairs_uri: str
    pairs: int
    prompts: int
    sft_answers_uri: str | None  # the SFT model's answers the pairs were judged from (none under GRPO)


class CandidateModel(BaseModel):
    """`dpo_model`: the candidate of this iteration, merged into full weights, and what serving needs beside it."""

    model_uri: str
    adapter_uri: str | None  # the preference-tuned LoRA adapter (none: full fine-tuning, or no pairs)
    parent_model_uri: str  # the model the adapter applies to (KServe loads it into a server running that model)
    method: str
    mlflow_run_id: str
