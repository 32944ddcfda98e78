"""bot/ imports in one direction: no module imports, directly or through others, one that
imports it. A cycle works only while the import order happens to suit it, and a lazy import
inside a function only hides one: imports in functions count here too. Imports under
`if TYPE_CHECKING:` never run and do not count.

Importing `a.b.c` also runs the `__init__` of each package above it that the importer is not
inside (`a.b`, when it re-exports from its modules), so that counts as importing those too.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _modules(root: Path, package: str) -> dict[str, Path]:
    out = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _targets(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of `modules` that importing `name` runs imports of."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(_without_type_checking(ast.parse(path.read_text(encoding="utf-8")))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") if node.level \
                else node.module or ""
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
    out = set()
    for target in found:
        parts = target.split(".")
        for n in range(1, len(parts) + 1):  # the packages above it run first
            mod = ".".join(parts[:n])
            if mod in modules and not (name + ".").startswith(mod + "."):
                out.add(mod)
    out.discard(name)
    return out


def _without_type_checking(tree: ast.Module) -> ast.Module:
    class Drop(ast.NodeTransformer):
        def visit_If(self, node: ast.If):
            if _type_checking(node):
                return node.orelse or None
            return self.generic_visit(node)

    return Drop().visit(tree)


def import_graph(root: Path, package: str = "bot") -> dict[str, set[str]]:
    modules = _modules(root, package)
    return {name: _targets(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_bot_has_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []


def test_the_check_sees_cycles_through_functions_and_packages(tmp_path):
    pkg = tmp_path / "bot"
    (pkg / "room").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from bot import b\n",  # a lazy import still counts
        "b.py": "from . import a\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.c import X\n",
        "c.py": "from bot.typed import Y\nfrom bot.room.inner import Z\n",
        "room/__init__.py": "from bot.room.inner import Z\n",
        "room/inner.py": "from bot.room import other\n",  # a sibling: its package is already running
        "room/other.py": "",
        "d.py": "from bot.room.other import W\n",
        "e.py": "from bot.d import V\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    assert cycles(import_graph(tmp_path)) == [["bot.a", "bot.b"]]
    # a module the package's __init__ imports, importing back into the package from outside it
    (pkg / "room" / "other.py").write_text("from bot.e import U\n")
    assert sorted(cycles(import_graph(tmp_path))) == [["bot.a", "bot.b"], ["bot.d", "bot.e", "bot.room", "bot.room.inner",
                                                                   "bot.room.other"]]
