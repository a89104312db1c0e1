"""The package's layers (docs/architecture.md): imports only point down, and no import closes a cycle.

Imports inside functions count too: a deferred import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "review_slm"

# Bottom to top. A module may import its own layer's modules and any layer below it.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("reviewer",),
    ("training",),
    ("resources",),
    ("partitions",),
    ("ingest",),
    ("gold",),
    ("train",),
    ("evaluate",),
    ("deploy",),
    ("settings",),
    ("definitions", "sensors", "cli", "serve", "run_coordinator"),
]
# `data` holds bundled files and the script that regenerates the clean supplement rows: not a layer.
OUTSIDE_LAYERS = {"data"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every review_slm module `name` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("review_slm"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("review_slm"):
                continue
            for alias in node.names:  # `from review_slm.core import tables` imports the module core.tables
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return {m for m in found if m != name}


def _layer(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else ""
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    return None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_belongs_to_a_layer(graph):
    unplaced = sorted(
        m for m in graph if m != "review_slm" and _layer(m) is None and m.split(".")[1] not in OUTSIDE_LAYERS
    )
    assert not unplaced, f"add these to LAYERS (and docs/architecture.md): {unplaced}"


def test_imports_only_point_down(graph):
    upward = [
        f"{module} -> {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if (mine := _layer(module)) is not None and (theirs := _layer(target)) is not None and theirs > mine
    ]
    assert not upward, "imports pointing up a layer:\n" + "\n".join(upward)


def test_no_import_cycle(graph):
    # Tarjan's strongly connected components over the module graph: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_a_deferred_upward_import(tmp_path):
    # The rule must hold for imports inside functions, the way cycles used to hide.
    module = tmp_path / "review_slm" / "core" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from review_slm.settings import languages\n")
    assert _imports("review_slm.core.x", module, {}) == {"review_slm.settings"}
    assert _layer("review_slm.settings") > _layer("review_slm.core.x")
