"""MkDocs hook: the reference sections of the docs, generated from the code at build time.

A page asks for a section with a marker on a line of its own, `<!-- generated: NAME [ARG] -->`:
- `graph`: the asset graph as a Mermaid flowchart, from the definitions' lineage;
- `environment`: the variables `review_slm.settings` registers, then every other one the package's source reads;
- `run-config`: the fields of every asset's run configuration (the package's `dagster.Config` classes);
- `recipe`: every field of a training recipe (`review_slm.core.recipe.Recipe`, section by section);
- `recipes`: the shipped recipes side by side, and each one's YAML;
- `bench NAME`: the tables of `bench/results/NAME.json`, written by `bench/NAME.py --json` (bench/results.py).
An unknown marker or a missing results file fails the build. Types, defaults and descriptions come from the pydantic
models (a field without `description=` takes its attribute docstring or its comment), so the reference cannot drift
from the code; review_slm_tests/test_docs.py checks that it lists every field.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import re
import textwrap
import tokenize
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "review_slm"
RESULTS = ROOT / "bench" / "results"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+)(?: ([\w.-]+))? -->$", re.MULTILINE)
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


# --- the hook ----------------------------------------------------------------------------------------------------


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: section(m.group(1), m.group(2)), markdown)


def section(name: str, arg: str | None) -> str:
    if name == "bench" and arg:
        return bench_tables(arg)
    builders = {
        "graph": asset_graph,
        "environment": environment_reference,
        "run-config": run_config_reference,
        "recipe": recipe_reference,
        "recipes": recipes_overview,
    }
    if name not in builders or arg:
        raise ValueError(
            f"unknown generated section {name!r} {arg or ''}: expected bench NAME or one of {list(builders)}"
        )
    return builders[name]()


# --- tables ------------------------------------------------------------------------------------------------------


def cell(value: object) -> str:
    """One table cell: one line, a pipe escaped outside code spans (Python-Markdown leaves those inside alone)."""
    parts = " ".join(("" if value is None else str(value)).split()).split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def table(columns: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: str) -> str:
    return f"`{text}`" if text else ""


# --- models: types, defaults, descriptions -----------------------------------------------------------------------


def type_name(annotation: object) -> str:
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = repr(annotation).replace("typing.", "")
    text = re.sub(r"<class '([\w.]+)'>", lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return re.sub(r"\b(?:[a-z_]\w*\.)+([A-Z]\w*)", r"\1", text)  # review_slm.core.recipe.LoraSpec -> LoraSpec


def constraint(metadata: list) -> str:
    symbols = {"Gt": ">", "Ge": "≥", "Lt": "<", "Le": "≤"}
    parts = []
    for item in metadata:
        kind = type(item).__name__
        if kind in symbols:
            parts.append(f"{symbols[kind]} {getattr(item, kind.lower())}")
    return ", ".join(parts)


def default_of(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    return code(json.dumps(value.model_dump(mode="json") if isinstance(value, BaseModel) else value))


def source_notes(cls: type) -> dict[str, str]:
    """Each field's attribute docstring, else its trailing comment, else the comment lines right above it."""
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass.__module__.startswith("pydantic"):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments = {
            tok.start[0]: tok.string.lstrip("# ").strip() for tok in _tokens(source) if tok.type == tokenize.COMMENT
        }
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for i, node in enumerate(body):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            after = body[i + 1] if i + 1 < len(body) else None
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                notes[node.target.id] = inspect.cleandoc(after.value.value)
            elif node.lineno in comments and not lines[node.lineno - 1].lstrip().startswith("#"):
                notes[node.target.id] = comments[node.lineno]
            else:
                above, line = [], node.lineno - 1
                while line in comments and lines[line - 1].lstrip().startswith("#"):
                    above.insert(0, comments[line])
                    line -= 1
                if above:
                    notes[node.target.id] = " ".join(above)
    return notes


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def model_rows(model: type[BaseModel], prefix: str = "") -> list[list[object]]:
    """One row per field, a nested model's fields under its dotted name (`sft.max_steps`)."""
    notes = source_notes(model)
    rows: list[list[object]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = _nested_model(annotation)
        if nested is not None and annotation is nested:
            rows += model_rows(nested, f"{prefix}{name}.")
            continue
        description = field.description or notes.get(name, "")
        if nested is not None:  # optional section: its fields follow
            description = f"{description} (a section: its fields follow)".strip()
        rows.append(
            [
                code(prefix + name),
                code(type_name(annotation)),
                default_of(field),
                constraint(field.metadata),
                description,
            ]
        )
        if nested is not None:
            rows += model_rows(nested, f"{prefix}{name}.")
    return rows


def _nested_model(annotation: object) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


FIELD_COLUMNS = ["field", "type", "default", "allowed", "description"]


def recipe_reference() -> str:
    from review_slm.core.recipe import Recipe

    return table(FIELD_COLUMNS, model_rows(Recipe))


def config_classes() -> list[type]:
    """The package's Dagster run-config classes (not its resources or IO manager), found by subclass so a module
    move hides none."""
    import dagster as dg

    import review_slm.definitions  # noqa: F401  (imports every asset module)

    found, todo = [], list(dg.Config.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        resource = issubclass(cls, (dg.ConfigurableResource, dg.ConfigurableIOManagerFactory))  # the IO manager too
        if cls.__module__.startswith("review_slm.") and not resource:
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


def run_config_reference() -> str:
    parts = []
    for cls in config_classes():
        doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ and cls.__doc__ != _base_doc(cls) else ""
        parts.append(f"### `{cls.__name__}`\n\n{code(cls.__module__)}{': ' + doc if doc else ''}\n\n")
        parts.append(table(FIELD_COLUMNS, model_rows(cls)) + "\n")
    return "".join(parts)


def _base_doc(cls: type) -> str | None:
    return next((base.__doc__ for base in cls.__mro__[1:] if base.__doc__), None)


# --- the asset graph ----------------------------------------------------------------------------------------------


def asset_edges() -> list[tuple[str, str]]:
    """(upstream, downstream) for every asset dependency of the definitions."""
    from review_slm.definitions import defs

    graph = defs.resolve_asset_graph()
    edges = []
    for key in graph.get_all_asset_keys():
        edges += [(parent.to_user_string(), key.to_user_string()) for parent in graph.get(key).parent_keys]
    return sorted(edges)


def asset_graph() -> str:
    lines = ["```mermaid", "flowchart LR"]
    for parent, child in asset_edges():
        gate = parent == "eval_report" and child == "deployed_endpoint"
        lines.append(
            f'    {parent} -- "gate: no_regression_vs_champion" --> {child}' if gate else f"    {parent} --> {child}"
        )
    lines.append('    gold_set -.- gold_checks[["blocking checks on the gold set"]]')
    return "\n".join([*lines, "```"]) + "\n"


# --- environment variables: found in the source ------------------------------------------------------------------


def environment_variables() -> dict[str, dict]:
    """Every environment variable the package reads: `os.environ.get("X", d)`, `os.environ["X"]`, `os.getenv`, and
    the settings helpers that take the variable's name (`_choice("X", d, allowed)`, `teacher_urls("X")`)."""
    found: dict[str, dict] = {}
    helpers = _settings_helpers()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "data" in path.relative_to(PACKAGE).parts:
            continue
        source = path.read_text()
        tree = ast.parse(source)
        module = str(path.relative_to(ROOT))
        constants = {
            n.targets[0].id: n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Constant)
        }
        for function, node in _calls_and_subscripts(tree):
            read = _read(node, helpers, function, constants)
            if read is None:
                continue
            name, default, allowed = read
            entry = found.setdefault(name, {"defaults": [], "allowed": "", "modules": [], "notes": []})
            if default not in entry["defaults"]:
                entry["defaults"].append(default)
            entry["allowed"] = entry["allowed"] or allowed
            if module not in entry["modules"]:
                entry["modules"].append(module)
            note = _note(function, name, module)
            if note and note not in entry["notes"]:
                entry["notes"].append(note)
    return dict(sorted(found.items()))


def _settings_helpers() -> dict[str, ast.FunctionDef]:
    """review_slm/settings.py's functions whose first parameter is the variable's name."""
    tree = ast.parse((PACKAGE / "settings.py").read_text())
    return {
        f.name: f
        for f in tree.body
        if isinstance(f, ast.FunctionDef) and f.args.args and f.args.args[0].arg == "variable"
    }


def _calls_and_subscripts(tree: ast.AST):
    def walk(node: ast.AST, function: ast.FunctionDef | None):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call | ast.Subscript):
                yield inner, child
            yield from walk(child, inner)

    yield from walk(tree, None)


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _literal(node: ast.AST | None, function: ast.FunctionDef | None) -> str | None:
    """A string constant, or a parameter of the enclosing function whose default is one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and function is not None:
        args = function.args.args
        defaults = dict(zip([a.arg for a in args[len(args) - len(function.args.defaults) :]], function.args.defaults))
        if isinstance(defaults.get(node.id), ast.Constant):
            return defaults[node.id].value
    return None


def _read(node: ast.AST, helpers: dict[str, ast.FunctionDef], function, constants: dict) -> tuple[str, str, str] | None:
    if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
        name = _literal(node.slice, function)
        return (name, "required", "") if name and ENV_NAME.match(name) else None
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    callee = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    reads_environ = isinstance(func, ast.Attribute) and (
        (func.attr == "get" and _is_environ(func.value)) or (func.attr == "getenv" and ast.unparse(func.value) == "os")
    )
    if not reads_environ and callee not in helpers:
        return None
    name = _literal(node.args[0], function)
    if not name or not ENV_NAME.match(name):
        return None
    default_node = node.args[1] if len(node.args) > 1 else None
    if default_node is None and callee in helpers and helpers[callee].args.defaults[-1:]:
        default_node = helpers[callee].args.defaults[-1] if len(helpers[callee].args.args) > 1 else None
    default = "unset" if default_node is None else _shown(default_node, function, constants)
    allowed = ast.unparse(node.args[2]) if callee == "_choice" and len(node.args) > 2 else ""
    return name, default, allowed


def _shown(node: ast.AST, function, constants: dict) -> str:
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "str" and len(node.args) == 1:
        node = node.args[0]  # str(default): the parameter's default, shown as text
    value = _literal(node, function)
    if value is None and isinstance(node, ast.Name) and function is not None:
        args = function.args.args
        defaults = dict(zip([a.arg for a in args[len(args) - len(function.args.defaults) :]], function.args.defaults))
        value = ast.unparse(defaults[node.id]) if node.id in defaults else None
    if value is None and isinstance(node, ast.Name) and node.id in constants:
        value = str(constants[node.id])
    if value is not None:
        return code(value) if value else "empty"
    return code(ast.unparse(node))


def _note(function, name: str, module: str) -> str:
    """The reading function's docstring, when it is about this variable (or is a settings function)."""
    doc = ast.get_docstring(function) if function is not None else None
    if doc and (name in doc or module.endswith("settings.py")):
        first = doc.split("\n\n", 1)[0]
        return " ".join(first.split())
    return ""


def environment_reference() -> str:
    """The variables `review_slm.settings` registers (name, default, meaning), then every other one the source reads
    (the reviewer's flags, keys read at request time, what torchrun and the trainer's launcher set)."""
    from review_slm import settings

    scanned = environment_variables()
    registered = [
        [code(v.name), code(v.default) if v.default else "unset", v.profile, v.meaning] for v in settings.VARIABLES
    ]
    parts = [table(["variable", "default", "profile", "what it sets"], registered), "\n"]
    names = {v.name for v in settings.VARIABLES}
    others = []
    for name, entry in scanned.items():
        if name in names:
            continue
        where = ", ".join(code(m.removeprefix("review_slm/")) for m in entry["modules"])
        others.append([code(name), " / ".join(entry["defaults"]), where, " ".join(entry["notes"])])
    parts.append("Also read, outside the settings (found in the source):\n\n")
    parts.append(table(["variable", "default", "read in", "note"], others))
    return "".join(parts)


# --- recipes -------------------------------------------------------------------------------------------------------

OVERVIEW = [
    "version",
    "description",
    "base_model",
    "method",
    "finetuning",
    "quantization.load_in_4bit",
    "lora.r",
    "hunk_comments",
    "clean_share",
    "max_example_tokens",
    "sft.max_steps",
    "sft.learning_rate",
    "sft.per_device_batch_size",
    "sft.max_length",
    "dpo.max_steps",
    "dpo.beta",
    "hardware.accelerator",
    "hardware.gpus_per_node",
    "hardware.nodes",
    "hardware.gpu_type",
    "hardware.sharding",
]


def shipped_recipes() -> list[str]:
    return sorted(p.stem for p in (PACKAGE / "data" / "recipes").glob("*.yaml"))


def recipes_overview() -> str:
    from review_slm.core.recipe import load_recipe

    names = shipped_recipes()
    loaded = {n: load_recipe(n).model_dump(mode="json") for n in names}

    def at(data: dict, dotted: str) -> object:
        for key in dotted.split("."):
            data = data.get(key) if isinstance(data, dict) else None
        return data

    rows = [[code(key), *(cell(at(loaded[n], key)) for n in names)] for key in OVERVIEW]
    parts = [table(["field", *(code(n) for n in names)], rows), "\n"]
    for name in names:
        text = (PACKAGE / "data" / "recipes" / f"{name}.yaml").read_text()
        parts.append(f"### `{name}`\n\n`review_slm/data/recipes/{name}.yaml`:\n\n```yaml\n{text.rstrip()}\n```\n\n")
    return "".join(parts)


# --- benchmarks ----------------------------------------------------------------------------------------------------


def bench_tables(name: str) -> str:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path.relative_to(ROOT)}: run the bench with --json {path.relative_to(ROOT)}")
    data = json.loads(path.read_text())
    machine = data["machine"]
    load = f", load average {machine['load_average_1m']}" if "load_average_1m" in machine else ""
    parts = [
        f"Measured {data['measured_at']} on {machine['cpus']} CPUs ({machine['system']} {machine['processor']}, "
        f"Python {machine['python']}{load}) by `{data['command']}`.\n\n"
    ]
    for title, rows in data["tables"].items():
        columns = list(dict.fromkeys(k for row in rows for k in row))
        parts.append(f"**{title}**\n\n" + table(columns, [[_figure(r.get(c)) for c in columns] for r in rows]) + "\n")
    if data["summary"]:
        summary = [[code(k), _figure(v)] for k, v in data["summary"].items()]
        parts.append("**summary**\n\n" + table(["figure", "value"], summary))
    return "".join(parts)


def _figure(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dict | list):
        return code(json.dumps(value))
    return "" if value is None else str(value)
