"""No import cycles inside our packages but the few allowed below, each with its reason.

The graph is read from the source with `ast` (nothing is imported). Every import statement
counts wherever it stands, at the top of a module or inside a function: an import moved into a
function still ties the two modules together, it only moves the failure from import time to
call time. Imports under `if TYPE_CHECKING:` do not count (they never run). Importing `pkg.mod`
also runs `pkg/__init__.py`; that is not counted either (a package always runs before its
modules), but `from pkg import name` of a name its `__init__` defines is.
"""
from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The packages checked, as one graph (a cycle may run across them); add a package here.
PACKAGES = ("models", "dreamer", "bot")

# Each allowed cycle, as the set of modules it runs through, and why it stays.
ALLOWED: dict[frozenset[str], str] = {
    frozenset({"models.registry", "models.efficientnet_lite", "models.googlenet", "models.tiny"}):
        "the registry imports the built-in nets late so that each registers itself (@register)",
}


def module_files(packages: Iterable[str], root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under each package's folder."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too, but none under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_package: bool) -> list[str]:
    """The dotted names one statement of module `name` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[:len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names]


def import_graph(packages: Iterable[str], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports (others, such as torch, left out)."""
    files = module_files(packages, root)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        graph[name] = set()
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _imported(node, name, path.name == "__init__.py"):
                # `from pkg import sub` imports the module pkg.sub, `from pkg import name` pkg.
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected parts of the graph: each set of modules that import one another
    (a module on a cycle reaches itself; its part is what it reaches that reaches it back)."""
    reach = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
        reach[start] = seen
    parts = {frozenset(m for m in reach[start] if start in reach[m])
             for start in graph if start in reach[start]}
    return sorted(parts, key=sorted)


def _describe(part: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(part) for b in sorted(graph[a] & part)]
    return "{" + ", ".join(sorted(part)) + "}: " + "; ".join(edges)


def test_no_import_cycles_but_the_allowed_ones():
    graph = import_graph(PACKAGES)
    found = cycles(graph)
    unexpected = [_describe(part, graph) for part in found if part not in ALLOWED]
    assert not unexpected, ("import cycles (move what both sides need into a module that "
                            "imports neither):\n" + "\n".join(unexpected))
    gone = [", ".join(sorted(part)) for part in ALLOWED if part not in found]
    assert not gone, "allowed cycles that are no longer there; take them off ALLOWED: " + "; ".join(gone)


# -- the graph itself, on small made-up packages ----------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_graph_counts_imports_in_functions_and_relative_ones_but_not_type_checking(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "from pkg.c import VALUE\n",
        "pkg/a.py": "import os\nfrom pkg import b\n",  # the module pkg.b, not pkg
        "pkg/b.py": "def late():\n    from . import c\n",
        "pkg/c.py": """\
            import typing
            if typing.TYPE_CHECKING:
                from pkg.a import Thing
            else:
                from torch import nn
            VALUE = 1
            """,
        "pkg/sub/__init__.py": "from ..a import thing\n",
        "pkg/sub/d.py": "from pkg import VALUE\nfrom .. import sub\n",
    })
    assert import_graph(["pkg"], root) == {
        "pkg": {"pkg.c"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set(),
        "pkg.sub": {"pkg.a"}, "pkg.sub.d": {"pkg", "pkg.sub"},
    }


def test_cycles_are_found_within_and_across_packages(tmp_path):
    root = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "def late():\n    import pkg.a\n",  # hidden in a function: still a cycle
        "pkg/c.py": "import pkg.a\nfrom lib import x\n",
        "lib/__init__.py": "",
        "lib/x.py": "from pkg import c\n",
        "lib/y.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lib.z\n",
        "lib/z.py": "import lib.y\n",
    })
    assert cycles(import_graph(["pkg", "lib"], root)) == [
        frozenset({"lib.x", "pkg.c"}), frozenset({"pkg.a", "pkg.b"})]
    assert cycles(import_graph(["pkg"], root)) == [frozenset({"pkg.a", "pkg.b"})]
