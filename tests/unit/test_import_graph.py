"""The package's import graph has no cycle, counting every import: module level, inside functions
(lazy imports hide a cycle at run time, not in the design) and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "realunify_arena"


def import_graph(root: Path, package: str = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports (``from pkg import name`` counts as pkg.name when that is a
    module, else pkg). A submodule's implicit import of its parent package is not an edge."""
    modules = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for module, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names if a.name.split(".")[0] == package}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, one level up per extra dot
                    anchor = module if path.name == "__init__.py" else module.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}".rstrip(".")
                if base.split(".")[0] == package:
                    targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else known(base)
                                for a in node.names}
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 40 and "realunify_arena.cards" in graph  # the walk found the package
    assert cycles(graph) == []


def test_cards_never_import_an_adapter():
    graph = import_graph(ROOT)
    assert not {m for m in reachable(graph, "realunify_arena.cards") if m.startswith("realunify_arena.adapters")}
    assert graph["realunify_arena.families"] == set()  # the leaf both sides share


def _write(root: Path, name: str, text: str) -> None:
    path = root / "realunify_arena" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_check_finds_a_cycle_hidden_in_a_function_or_a_relative_import(tmp_path):
    _write(tmp_path, "__init__.py", "")
    _write(tmp_path, "cards.py", "from realunify_arena.adapters import FAMILIES\n")
    _write(tmp_path, "adapters/__init__.py", "FAMILIES = {}\n")
    _write(tmp_path, "adapters/tiny.py", "def load():\n    from ..cards import ModelCard\n")
    _write(tmp_path, "adapters/base.py", "from . import tiny\n")
    assert cycles(import_graph(tmp_path)) == []  # tiny -> cards -> adapters, but nothing leads back
    _write(tmp_path, "adapters/__init__.py", "def build():\n    from realunify_arena.adapters import base\n")
    _write(tmp_path, "cards.py", "from realunify_arena.adapters.base import X\n")
    assert cycles(import_graph(tmp_path)) == [["realunify_arena.adapters.base", "realunify_arena.adapters.tiny",
                                               "realunify_arena.cards"]]
