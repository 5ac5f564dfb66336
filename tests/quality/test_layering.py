"""Code quality: imports flow one way through the layers, no import cycles, no model-name dispatch.

Layers, bottom to top (a module imports its own layer or lower ones):

1. ``errors``, ``utils``, ``data``
2. ``text``, ``graph``, the export file format (``export.contract/build/foldin/ann``)
3. ``models``, ``eval``, ``export.quality`` (evaluation of an export)
4. ``train``
5. export queries and serving (``export.query/serve/launch/metrics/pipeline``)
6. ``bench``
7. the ``commands`` modules, ``demo``, ``cli`` and the ``__main__`` entry points

For the layers every ``import`` statement counts, also those inside functions
(lazy imports still tie the modules together), except those under ``if
TYPE_CHECKING``; cycles are checked among the imports that run at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "gnnrec"

TOP = {"cli", "demo", "__main__"}
LAYERS = [
    ("errors", 1), ("utils", 1), ("data", 1),
    ("text", 2), ("graph", 2), ("export.contract", 2), ("export.build", 2), ("export.foldin", 2),
    ("export.ann", 2),
    ("models", 3), ("eval", 3), ("export.quality", 3),
    ("train", 4),
    ("export", 5),
    ("bench", 6),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(mod: str) -> int:
    """Layer of ``gnnrec.<...>`` (module docstring)."""
    rel = mod.split(".", 1)[1] if "." in mod else ""
    last = rel.rsplit(".", 1)[-1]
    if rel in TOP or last in ("commands", "synth_commands", "__main__"):
        return 7
    if rel == "":
        return 1                                   # gnnrec/__init__.py (the version)
    best = max((p for p, _ in LAYERS if rel == p or rel.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def lazy_exports(files: dict[str, Path]) -> dict[str, str]:
    """``package.name`` -> defining module, from the ``lazy(__name__, {...})`` table of each
    package ``__init__`` (gnnrec.utils.lazy): an import of the name is an edge to that module."""
    out = {}
    for mod, path in files.items():
        if path.name != "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy":
                table = node.args[1]
                for k, v in zip(table.keys, table.values):
                    out[f"{mod}.{k.value}"] = v.value
    return out


def imports(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the gnnrec modules it imports (every import statement, resolved to modules;
    ``top_level_only``: those that run when the module is imported, not inside functions)."""
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    lazy = lazy_exports(files)
    out: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(n) for b in ast.walk(tree) if isinstance(b, ast.If)
                       and ast.unparse(b.test).endswith("TYPE_CHECKING") for n in ast.walk(b)}
        if top_level_only:
            typing_only |= {id(n) for f in ast.walk(tree)
                            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in typing_only:            # annotations only: no runtime edge
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                n = lazy.get(n, n)
                if n.startswith("gnnrec"):
                    while n not in files and "." in n:
                        n = n.rsplit(".", 1)[0]
                    if n in files and n != mod:
                        deps.add(n)
        out[mod] = deps
    return out


def test_imports_flow_down_the_layers():
    bad = sorted(f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
                 for a, deps in imports().items() for b in deps
                 if layer(b) > layer(a) and b != "gnnrec")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """No cycle among the imports that run at import time (a function's own lazy import, such as
    ``Dataset.to_hetero_data`` reaching ``gnnrec.data.pyg``, is layered but may point back)."""
    graph = imports(top_level_only=True)
    # a package __init__ re-exporting its submodules is not a cycle of its own
    edges = {a: {b for b in deps if not a.startswith(b + ".")} for a, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles[:10])


@pytest.mark.parametrize("folder", ["train", "bench", "graph", "eval", "export"])
def test_no_dispatch_on_model_names(folder):
    """Outside gnnrec.models nobody compares ``<x>.name`` with a string or reads private attributes
    of a model: capabilities are class attributes of the model contract."""
    hits = []
    for path in (PKG / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                named = any(isinstance(s, ast.Attribute) and s.attr == "name"
                            and "model" in ast.unparse(s.value).lower() for s in sides)
                literal = any(isinstance(s, (ast.Constant, ast.Tuple, ast.List, ast.Set)) for s in sides)
                if named and literal:
                    hits.append(f"{path.relative_to(PKG)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "model" and node.attr.startswith("_"):
                hits.append(f"{path.relative_to(PKG)}:{node.lineno} model.{node.attr}")
    assert not hits, hits


def test_no_library_module_imports_the_cli():
    users = sorted(a for a, deps in imports().items() if "gnnrec.cli" in deps and layer(a) < 7)
    assert not users, users
