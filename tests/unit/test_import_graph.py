"""The import graph of engine/ and tui/: no cycles, and the layers import only downwards.

The graph is read from the source with ``ast``: module-level imports and the imports inside functions
(deferred to keep a command's start fast) both count, since either closes a cycle at run time, and so
do the imports under ``if TYPE_CHECKING:`` (a cycle the type checker must untangle is one all the same).
"""

from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("engine", "tui")
#: engine's libraries: they never import the services nor the engine that composes them
LIBRARIES = ("engine.images", "engine.build", "engine.runtime", "engine.network", "engine.registry", "engine.compose")
UPPER = ("engine.services", "engine.engine")
#: what the front ends may import of the engine: the client and the error tree
TUI_ALLOWED = ("engine.client", "engine.errors")
#: what tui/ imports beyond that today (the command line's reorganisation removes these)
TUI_KNOWN = {
    ("tui.cli", "engine"),  # engine.__version__ for --version and `portside version`
    ("tui.cli.system", "engine.api.daemon"),  # `portside daemon` serves the API
}


def module_name(path: str) -> str:
    rel = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def modules() -> dict[str, str]:
    """Every module of the packages, name → path."""
    out = {}
    for pkg in PACKAGES:
        for base, dirs, files in os.walk(os.path.join(REPO, pkg)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(base, f)
                    out[module_name(path)] = path
    return out


def imports_of(name: str, path: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports (anywhere in its code)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    is_pkg = path.endswith("__init__.py")
    here = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in known:  # `from engine.network import x`: the package at least
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:  # `from . import setup` imports the submodule engine.network.setup
                sub = f"{target}.{alias.name}"
                add(sub if sub in known else target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (``a → b → a``), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(g):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_graph_is_read():
    """The reader sees the imports that matter (a relative one, a deferred one, a package's submodule)."""
    g = graph()
    assert "engine.services.images" in g["engine.engine"]
    assert "engine.runtime.cleanup" in g["engine.services.images"]
    assert "engine.network.setup" in g["engine.services.networks"]
    assert "engine.client" in g["tui.cli.dispatch"] or "engine.client" in g["tui.cli"]


def cycle_in(package: str) -> list[str] | None:
    g = graph()
    return find_cycle({m: {t for t in targets if under(t, (package,))} for m, targets in g.items()
                       if under(m, (package,))})


def test_no_import_cycles_in_the_engine():
    cycle = cycle_in("engine")
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_no_import_cycles_in_the_dashboard():
    cycle = cycle_in("tui")
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_libraries_never_import_the_services_or_the_engine():
    bad = sorted(f"{m} imports {t}" for m, targets in graph().items() if under(m, LIBRARIES)
                 for t in targets if under(t, UPPER))
    assert bad == []


def test_the_runtime_does_not_import_networking():
    """The monitor is handed what it needs of networking by the containers service."""
    bad = sorted(f"{m} imports {t}" for m, targets in graph().items() if under(m, ("engine.runtime",))
                 for t in targets if under(t, ("engine.network",)))
    assert bad == []


def test_services_never_import_the_engine():
    bad = sorted(f"{m} imports {t}" for m, targets in graph().items() if under(m, ("engine.services",))
                 for t in targets if under(t, ("engine.engine",)))
    assert bad == []


def test_the_front_ends_import_only_the_client():
    extra = {(m, t) for m, targets in graph().items() if under(m, ("tui",))
             for t in targets if under(t, ("engine",)) and not under(t, TUI_ALLOWED)}
    assert sorted(extra - TUI_KNOWN) == []


@pytest.mark.parametrize("g, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set()}, None),
])
def test_find_cycle_names_the_cycle(g, cycle):
    assert find_cycle(g) == cycle
