"""The one typed job spec: what an asset hands the training entrypoint.

The same model travels as Dagster Pipes extras to a local subprocess, to `torchrun`, or into a
Kubeflow pod, and is validated again on arrival, so a missing or misspelt field fails before any
model loads. Fields that name data the trainer reads or writes are marked (`InputFile`, `InputDir`,
`OutputFile`, `OutputDir`): `training/io.py` stages exactly those (`s3://` inputs downloaded on every
rank, outputs published by rank 0 after success) by reading the marks, not a hand-kept list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from review_slm.core.recipe import Recipe


@dataclass(frozen=True)
class Staged:
    """How `io.py` stages a field: an input file or folder to fetch, or an output to publish."""

    direction: Literal["input", "output"]
    kind: Literal["file", "dir"]


InputFile = Annotated[str, Staged("input", "file")]
InputDir = Annotated[str, Staged("input", "dir")]
OutputFile = Annotated[str, Staged("output", "file")]
OutputDir = Annotated[str, Staged("output", "dir")]

Task = Literal["sft", "dpo", "orpo", "grpo", "generate"]


class TrainerOutputs:
    """What the entrypoint writes under `output_dir`; the asset promotes these folders by name."""

    SFT_ADAPTER = "adapter"  # sft: the policy (a LoRA adapter, or full weights with `finetuning: full`)
    MERGED_MODEL = "merged"  # dpo / orpo: the policy merged into full weights, the candidate model
    ADAPTER_MARKER = "adapter_config.json"  # PEFT's file: a policy folder holding it is a LoRA adapter

    @staticmethod
    def policy(method: str) -> str:
        """dpo / orpo: the preference-tuned policy before merging (a LoRA adapter, or full weights)."""
        return f"{method}_policy"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateRequest(_Spec):
    """One model answering a prompts file (Parquet, `core/tables.PROMPTS`) into an answers file (`ANSWERS`)."""

    name: str
    model: str = Field(description="a model reference: hub id, local folder, s3:// URI or the built-in tiny model")
    prompts_file: InputFile
    output_file: OutputFile
    adapter: InputDir | None = Field(default=None, description="a LoRA adapter on top of `model`")


class JobSpec(_Spec):
    task: Task
    recipe: Recipe = Field(description="the recipe of this attempt (its micro-batch may be smaller after an OOM retry)")
    cache_dir: str = Field(description="where models and s3:// inputs are cached on the trainer's machine")
    parent_model: str | None = Field(
        default=None, description="the model this iteration starts from (a model reference)"
    )
    output_dir: OutputDir | None = None
    checkpoint_uri: str | None = Field(
        default=None, description="where checkpoints are promoted (local folder or s3://)"
    )
    train_file: InputFile | None = Field(
        default=None, description="gold rows: SFT's examples, GRPO's prompts (and the gold its rewards score against)"
    )
    val_file: InputFile | None = None
    adapter_dir: InputDir | None = Field(default=None, description="the SFT policy a preference method starts from")
    pairs_file: InputFile | None = None
    generate: list[GenerateRequest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_of_the_task(self) -> JobSpec:
        needed = {
            "sft": ("parent_model", "output_dir", "train_file"),
            "dpo": ("parent_model", "output_dir", "adapter_dir", "pairs_file"),
            "orpo": ("parent_model", "output_dir", "adapter_dir", "pairs_file"),
            "grpo": ("parent_model", "output_dir", "adapter_dir", "train_file"),
            "generate": ("generate",),
        }[self.task]
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"a `{self.task}` job needs {', '.join(missing)}")
        return self

    def needed(self, name: Literal["parent_model", "output_dir", "train_file", "adapter_dir", "pairs_file"]) -> str:
        """A field this task needs, which `_fields_of_the_task` checked is set: typed as set."""
        value = getattr(self, name)
        if not value:
            raise ValueError(f"a `{self.task}` job needs {name}")
        return value

    def extras(self) -> dict:
        """What travels as Pipes extras (JSON)."""
        return self.model_dump(mode="json", exclude_none=True)


def _mark(annotation) -> Staged | None:
    """The `Staged` mark of an annotation, looking inside `X | None` (pydantic keeps it there)."""
    if get_origin(annotation) is Annotated:
        return next((m for m in get_args(annotation)[1:] if isinstance(m, Staged)), None)
    return next((m for m in map(_mark, get_args(annotation)) if m is not None), None)


def staged_fields(model: type[BaseModel]) -> dict[str, Staged]:
    """The fields of `model` that name staged data, with how to stage them."""
    out = {}
    for name, info in model.model_fields.items():
        mark = next((m for m in info.metadata if isinstance(m, Staged)), None) or _mark(info.annotation)
        if mark is not None:
            out[name] = mark
    return out
