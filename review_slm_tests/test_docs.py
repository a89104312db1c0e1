"""The docs: a README a newcomer can start from, and a reference generated from the code that lists every field."""

import importlib.util
import inspect
import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from review_slm import settings
from review_slm.core.recipe import Recipe

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def generated():
    spec = importlib.util.spec_from_file_location("docs_generated", ROOT / "docs" / "hooks" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dotted_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        nested = [a for a in (field.annotation, *getattr(field.annotation, "__args__", ())) if isinstance(a, type)]
        section = next((a for a in nested if issubclass(a, BaseModel)), None)
        if section is not field.annotation:
            names.append(prefix + name)
        if section is not None:
            names += dotted_fields(section, f"{prefix}{name}.")
    return names


def listed(reference: str) -> set[str]:
    """The names in the first column of the reference's tables."""
    return set(re.findall(r"^\| `([^`]+)` \|", reference, re.MULTILINE))


def test_the_recipe_reference_lists_every_field_with_its_type_and_default(generated):
    reference = generated.recipe_reference()
    fields = dotted_fields(Recipe)
    assert {"sft.max_steps", "dpo.rpo_alpha", "grpo.reward_weights", "hardware.sharding", "clean_share"} <= set(fields)
    assert set(fields) == listed(reference)
    row = next(line for line in reference.splitlines() if line.startswith("| `dpo.beta` |"))
    assert "`float`" in row and "`0.1`" in row and "> 0" in row and "DPO beta" in row


def test_the_run_config_reference_lists_every_field_of_every_asset_config(generated):
    import dagster as dg

    reference = generated.run_config_reference()
    classes = generated.config_classes()
    assert {"GoldSetConfig", "EvalReportConfig"} <= {c.__name__ for c in classes}
    assert not any(issubclass(c, dg.ConfigurableResource) for c in classes)
    for cls in classes:
        assert f"### `{cls.__name__}`" in reference
        assert set(cls.model_fields) <= listed(reference)
    # a field described by a comment in the class body gets that comment
    row = next(line for line in reference.splitlines() if line.startswith("| `refreeze_reason` |"))
    assert "replace the frozen test split" in row


class RecordingEnviron(dict):
    """os.environ that remembers every name asked for."""

    def __init__(self, real):
        super().__init__(real)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)


# What the edges pass to the accessors that take the caller's default.
ACCESSOR_DEFAULTS = {"hf_dataset": "bundled", "min_new_comments": 20}


def test_the_environment_reference_lists_every_variable_the_package_reads(generated, monkeypatch):
    # An empty environment: every accessor takes its default (none raises), so each one is called and recorded.
    environ = RecordingEnviron({})
    monkeypatch.setattr(os, "environ", environ)
    for name, function in vars(settings).items():
        if callable(function) and not name.startswith("_") and getattr(function, "__module__", "") == settings.__name__:
            required = [p for p in inspect.signature(function).parameters.values() if p.default is p.empty]
            if not required:  # the accessors that need the caller's default (hf_dataset, min_new_comments) get it
                function()
            elif name in ACCESSOR_DEFAULTS:
                function(ACCESSOR_DEFAULTS[name])
    monkeypatch.undo()
    reference = listed(generated.environment_reference())
    assert {"REVIEW_SLM_PROFILE", "REVIEW_SLM_RECIPE", "REVIEW_SLM_TEACHER_URL", "MLFLOW_TRACKING_URI"} <= environ.asked
    assert environ.asked <= reference
    assert {v.name for v in settings.VARIABLES} <= reference
    # read outside settings.py (the CLI's flags, keys read at request time), and through a helper given the name
    assert set(generated.environment_variables()) <= reference
    assert {"REVIEW_SLM_TIMEOUT", "OPENAI_API_KEY", "REVIEW_SLM_TEACHER_CONCURRENCY_PER_URL"} <= reference


def test_every_benchmark_table_of_the_docs_has_its_results_file(generated):
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    benches = re.findall(r"<!-- generated: bench ([\w.-]+) -->", page)
    assert "iteration_time" in benches
    for name in benches:
        text = generated.bench_tables(name)  # raises when bench/results/<name>.json is missing
        assert text.startswith("Measured ") and "| " in text
        assert (ROOT / "bench" / f"{name.removesuffix('_teacher')}.py").exists()


def test_the_readme_starts_with_the_two_quickstart_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    commands = [line.split("#")[0].strip() for line in lines[:40] if line.startswith("make ")]
    assert commands[:2] == ["make run", "make test"]
    head = "\n".join(lines[:40])
    assert "3.11" in head and "3.12" in head and "min" in head and "RUN_SUCCESS" in head


def test_the_links_between_readme_and_docs_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_graph_has_the_edges_of_the_definitions(generated):
    text = (ROOT / "README.md").read_text()
    chart = text[text.index("```mermaid") : text.index("```", text.index("```mermaid") + 3)]
    drawn = re.findall(r"^\s*(\w+) (?:-- \"[^\"]*\" )?--> (\w+)\s*$", chart, re.MULTILINE)
    assert sorted(drawn) == generated.asset_edges()
