"""No import cycles among the front ends' modules (everything under tui/).

Before, the tour and the command palette imported the app (under TYPE_CHECKING) that imports them: the
tour read the app's panes itself. Now the app hands the tour a TourState and the palette names what it needs
of its host as a Protocol. Every import counts here: at the top, inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def modules(package: str = "tui") -> dict[str, str]:
    """``{dotted module name: file}`` for every module of ``package``."""
    found = {}
    for folder, _dirs, files in os.walk(os.path.join(REPO, package)):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), REPO)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                found[".".join(rel)] = os.path.join(folder, name)
    return found


def imports(module: str, path: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports, wherever in the file the import is."""
    is_package = path.endswith("__init__.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[:len(parts) - node.level + (1 if is_package else 0)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:  # `from . import units` imports the module tui.units
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
    return {name for name in found if name in known and name != module}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_no_import_cycles_among_the_front_ends() -> None:
    known = modules()
    graph = {name: imports(name, path, set(known)) for name, path in known.items()}
    assert cycles(graph) == []


def test_the_check_sees_every_import(tmp_path: Path) -> None:
    """The checker itself: imports under TYPE_CHECKING and inside functions count, relative ones resolve."""
    source = tmp_path / "tour.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .app import App\n"
                      "def f():\n    from .widgets import pane\n    from .. import units\n")
    known = {"tui.app", "tui.widgets", "tui.widgets.pane", "tui.units", "tui.x.tour"}
    assert imports("tui.x.tour", str(source), known) == {"tui.units"}
    assert imports("tui.tour", str(source), known) == {"tui.app", "tui.widgets.pane"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_front_ends_reach_the_engine_only_through_the_client() -> None:
    """The dashboard and the CLI import engine.client and engine.errors, and engine (its version); the CLI's
    `portside daemon` starts the API server, which is no client of anything."""
    allowed = {"engine", "engine.client", "engine.errors"}
    bad = []
    for name, path in modules().items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for target in names:
                if target.split(".")[0] == "engine" and target not in allowed and \
                        (name, target) != ("tui.cli.system", "engine.api.daemon"):
                    bad.append(f"{name} imports {target}")
    assert bad == []
