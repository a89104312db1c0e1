"""Every third-party package the code imports is declared in pyproject.toml, in the extra that installs the
code importing it: the reviewer's modules need only the base dependencies, the product (review_slm/,
deploy/) only the base and its extras, the tests and benches may add `dev`. An import that works only
because another package happens to pull the distribution in fails here."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from review_slm_tests.light import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*groups: list[str]) -> set[str]:
    return {normalized(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for group in groups for r in group}


def imported_modules(path: Path, module_level_only: bool = False) -> set[str]:
    """Top-level names of the absolute imports in one file (all of them, or only those run on import)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


# reads every installed distribution's file list: once per session, not once per file
owning_distributions = functools.cache(importlib.metadata.packages_distributions)


def third_party(path: Path, names: set[str]) -> set[frozenset[str]]:
    """The distributions behind the names, each a set of those that provide it."""
    owners = owning_distributions()
    found = set()
    for name in names:
        top = name.split(".")[0]
        local = (ROOT / top).is_dir() or (path.parent / f"{top}.py").exists()  # the project, bench, a sibling
        if top in sys.stdlib_module_names or top == "__future__" or local:
            continue
        assert top in owners, f"{path.relative_to(ROOT)} imports {top}, which no installed distribution provides"
        found.add(frozenset(normalized(d) for d in owners[top]))
    return found


def undeclared(folders: list[str], allowed: set[str]) -> dict[str, set[str]]:
    missing: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for distributions in third_party(path, imported_modules(path)):
                if not distributions & allowed:  # mlflow is provided by mlflow and mlflow-skinny: either one
                    missing.setdefault(str(path.relative_to(ROOT)), set()).update(distributions)
    return missing


def test_the_product_imports_only_what_the_base_and_its_extras_declare():
    product = declared(PROJECT["dependencies"], *(EXTRAS[e] for e in ("model", "platform", "serve")))
    assert undeclared(["review_slm", "deploy"], product) == {}


def test_tests_and_benches_import_only_declared_packages():
    assert undeclared(["review_slm_tests", "bench"], declared(PROJECT["dependencies"], *EXTRAS.values())) == {}


CLI = ROOT / "review_slm" / "cli.py"
# what the CLI imports for `iteration next` (the platform's; test_light_install checks its message) and for
# in-process review with a model folder (the `model` extra's)
PLATFORM_COMMANDS = {"review_slm.partitions", "review_slm.core.iterations"}
MODEL_COMMANDS = {
    "review_slm.training.models",
    "review_slm.training.methods.generate",
    "review_slm.reviewer.fetch_model",
}


def loaded_modules(starts: set[str]) -> set[Path]:
    """The project's modules that importing `starts` runs: their module-level imports of review_slm, followed."""
    seen: set[Path] = set()
    todo = sorted(starts)
    while todo:
        parts = todo.pop().split(".")
        for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
            if candidate.exists() and candidate not in seen:
                seen.add(candidate)
                # a package's __init__ runs before any of its modules
                todo += [".".join(parts[:i]) for i in range(2, len(parts))]
                todo += [n for n in imported_modules(candidate, module_level_only=True) if n.startswith("review_slm")]
    return seen


def imports_beyond(modules: set[Path], allowed: set[str]) -> dict[str, set[frozenset[str]]]:
    beyond: dict[str, set[frozenset[str]]] = {}
    for path in modules:
        for distributions in third_party(path, imported_modules(path, module_level_only=True)):
            if not distributions & allowed:
                beyond.setdefault(str(path.relative_to(ROOT)), set()).add(distributions)
    return beyond


def test_the_reviewer_through_an_endpoint_loads_only_the_base_dependencies():
    imported = {n for n in imported_modules(CLI) if n.startswith("review_slm.")}
    assert (
        PLATFORM_COMMANDS | MODEL_COMMANDS - {"review_slm.reviewer.fetch_model"} <= imported
    )  # the lists are not stale
    commands = imported - PLATFORM_COMMANDS - MODEL_COMMANDS
    modules = loaded_modules(commands | {"review_slm.cli"})
    assert {CLI, ROOT / "review_slm" / "reviewer" / "endpoint_client.py"} <= modules
    assert imports_beyond(modules, declared(PROJECT["dependencies"])) == {}


def test_in_process_review_loads_only_the_model_extra():
    modules = loaded_modules(MODEL_COMMANDS)
    assert {
        ROOT / "review_slm" / "training" / "methods" / "generate.py",
        ROOT / "review_slm" / "reviewer" / "fetch_model.py",
    } <= modules
    assert imports_beyond(modules, declared(PROJECT["dependencies"], EXTRAS["model"])) == {}
