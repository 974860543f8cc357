"""The package's shape, held by reading its source (AST; nothing is imported).

Data flows one way: data in -> engine -> view -> one package per business question ->
presentation -> reporting -> CLI.  This test holds:

* every module belongs to one layer, and imports only from the layers below it (the analyses
  may use each other, the reporting layer knows nothing about the analyses it publishes, only
  how data is opened: loaded, or out of core on an engine);
* no import cycles between modules, imports inside functions included;
* no private name (leading underscore) imported from another module;
* imports of crm_models inside functions only in the CLI (which loads a verb's modules on
  use); third-party libraries may be loaded on first use (optional extras and heavy ones).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "crm_models"

LAYERS = {  # layer -> module prefixes
    "plumbing": (
        "crm_models.units",
        "crm_models.progress",
        "crm_models.paths",
        "crm_models.environment",
        "crm_models.sampling",
        "crm_models.table_files",
    ),
    "data": ("crm_models.data",),
    "engine": ("crm_models.engine",),
    "view": ("crm_models.features",),
    "analyses": (
        "crm_models.revenue",
        "crm_models.value",
        "crm_models.segments",
        "crm_models.targeting",
        "crm_models.baskets",
        "crm_models.forecast",
    ),
    "presentation": ("crm_models.plotting", "crm_models.charts"),
    "reporting": ("crm_models.reporting",),
    "interface": ("crm_models.cli", "crm_models.__main__"),
    "root": ("crm_models",),
}
ALLOWED = {  # layer -> the layers it may import from (besides itself and the root's version)
    "plumbing": {"root"},
    "data": {"plumbing", "root"},
    "engine": {"plumbing", "data", "root"},
    "view": {"plumbing", "data", "engine", "root"},
    "analyses": {"plumbing", "data", "engine", "view", "root"},
    "presentation": {"plumbing", "data", "root"},
    # the build opens large data on the engine and checks it there, as the verbs do
    "reporting": {"plumbing", "data", "engine", "presentation", "root"},
    "interface": set(LAYERS),
    "root": set(),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> str:
    best = max(
        (
            (layer, prefix)
            for layer, prefixes in LAYERS.items()
            for prefix in prefixes
            if module == prefix or module.startswith(prefix + ".")
        ),
        key=lambda lp: len(lp[1]),
        default=(None, ""),
    )
    return best[0]


def _imports(module: str) -> list[tuple[str, list[str], bool, int]]:
    """``(target module, imported names, inside a function, line)`` of every crm_models
    import of ``module`` (relative imports resolved; a name that is a submodule is one)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "crm_models":
                        found.append((alias.name, [], in_function, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                if base.split(".")[0] != "crm_models":
                    continue
                names = [a.name for a in child.names]
                subs = [n for n in names if f"{base}.{n}" in MODULES]
                for n in subs:
                    found.append((f"{base}.{n}", [], in_function, child.lineno))
                rest = [n for n in names if n not in subs]
                if rest:
                    found.append((base, rest, in_function, child.lineno))
            visit(child, nested)

    visit(tree, False)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert not [m for m in MODULES if _layer(m) is None]


def test_data_flows_one_way():
    wrong = []
    for module, imports in GRAPH.items():
        layer = _layer(module)
        for target, _, _, line in imports:
            other = _layer(target)
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{module}:{line} ({layer}) imports {target} ({other})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    edges = defaultdict(set)
    for module, imports in GRAPH.items():
        for target, _, _, _ in imports:
            if target in MODULES and target != module:
                edges[module].add(target)
    state: dict[str, int] = {}
    cycles = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                walk(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            walk(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_private_names_across_modules():
    private = [
        f"{module}:{line} imports {name} from {target}"
        for module, imports in GRAPH.items()
        for target, names, _, line in imports
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not private, "\n".join(private)


def test_package_imports_inside_functions_only_in_the_cli():
    hidden = [
        f"{module}:{line} imports {target} inside a function"
        for module, imports in GRAPH.items()
        for target, _, inside, line in imports
        if inside and _layer(module) != "interface"
    ]
    assert not hidden, "\n".join(hidden)


def test_no_flat_modules_left_from_before_the_move():
    """The old flat modules (clv.py, basket.py, ...) are gone, not kept as aliases."""
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    assert flat <= {
        "__init__",
        "__main__",
        "cli",
        "environment",
        "features",
        "paths",
        "plotting",
        "progress",
        "revenue",
        "sampling",
        "table_files",
        "units",
    }, sorted(flat)


def test_one_way_in():
    """Every verb opens what the user named through ``engine.open_dataset``, the one place that
    decides between in-memory and engine paths."""
    names = {n for _, imported, _, _ in GRAPH["crm_models.cli"] for n in imported}
    assert "open_dataset" in names
    assert not names & {"load_dataset", "open_source", "open_folder", "as_source"}, names
