"""The package's one-way layers (docs/DESIGN: "Layout: one-way layers").

Every module of ``pytest_partition`` sits in one layer of :data:`LAYERS`; a
module may import modules of its own layer and of the layers above it, never
one below, not even lazily inside a function (imports under ``if
TYPE_CHECKING:`` are exempt: they never run). The store imports only
``errors`` and ``wire`` of the rest of the package. And no runtime import
closes a cycle. Whoever adds a module adds it to :data:`LAYERS`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "pytest_partition"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Layers, top first: each may import itself and the layers above it.
LAYERS: dict[str, tuple[str, ...]] = {
    "domain": ("errors", "durations", "seeds", "topology", "history", "edn", "faults",
               "schedule", "shrink"),
    "checkers": ("checkers",),
    "harness": ("wire", "environment", "client", "proxy", "network", "zygote", "node", "waiting", "cluster",
                "nemesis"),
    "run": ("run",),
    "report": ("report",),
    "pytest": ("settings", "hookspecs", "markers", "shrinking", "lifecycle", "plugin"),
    "store": ("store",),
}
#: Entry points over the layers: the facade and the command line.
ENTRY_POINTS = {
    "__init__": set(LAYERS) - {"store"},
    "__main__": {"domain", "checkers", "report"},
}
#: What the store may import of the rest of the package.
STORE_MAY_IMPORT = {"errors", "wire"}


def _layer_order() -> list[str]:
    return list(LAYERS)


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside the package (``store.raft`` -> store)."""
    first = module.split(".")[0]
    if first in ENTRY_POINTS:
        return first
    for layer, members in LAYERS.items():
        if first in members:
            return layer
    raise LookupError(first)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)  # the else branch does run
                continue
            stack.append(child)


def module_name(root: Path, path: Path) -> str:
    """``checkers/wgl.py`` -> ``checkers.wgl``; ``report/__init__.py`` -> ``report``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path, package: str = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) for each runtime import of a package module by ``path``.

    Relative imports are resolved; ``from . import wire`` names the module
    ``wire``; ``from .store import ap`` names ``store.ap``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name(root, path)
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []

    def add(line: int, dotted: str) -> None:
        if dotted and (line, dotted) not in found:
            found.append((line, dotted))

    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    add(node.lineno, alias.name[len(package) + 1:] or "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".") if here != "__init__" else []
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and (node.module == package
                                  or node.module.startswith(package + ".")):
                target = node.module[len(package) + 1:]
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                candidate = root.joinpath(*sub.split("."))
                if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
                    add(node.lineno, sub)  # a module imported by name
                else:
                    add(node.lineno, target or "__init__")
    return found


def problems(root: Path, package: str = PACKAGE) -> list[str]:
    """Every import against the layer order, every unknown module, every cycle."""
    order = _layer_order()
    found: list[str] = []
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        here = module_name(root, path)
        where = path.relative_to(root)
        try:
            mine = layer_of(here)
        except LookupError:
            found.append(f"{where}: module {here!r} is in no layer; add it to LAYERS in "
                         "tests/test_layers.py")
            continue
        edges = graph.setdefault(here, set())
        for line, target in imports_of(root, path, package):
            if target == "__init__":
                found.append(f"{where}:{line}: imports the package facade {package}; import "
                             "the module that defines the name instead")
                continue
            try:
                theirs = layer_of(target)
            except LookupError:
                found.append(f"{where}:{line}: imports {target!r}, which is in no layer")
                continue
            if target != here:
                edges.add(target)
            if mine in ENTRY_POINTS:
                if theirs not in ENTRY_POINTS[mine]:
                    found.append(f"{where}:{line}: {here} may not import {target} ({theirs})")
            elif mine == "store" and theirs != "store":
                if target.split(".")[0] not in STORE_MAY_IMPORT:
                    found.append(f"{where}:{line}: the store imports {target}; it may import "
                                 f"only {', '.join(sorted(STORE_MAY_IMPORT))} of the package")
            elif theirs in ENTRY_POINTS or order.index(theirs) > order.index(mine):
                found.append(f"{where}:{line}: {here} ({mine}) imports {target} ({theirs}), "
                             "a layer below it; pass a Protocol or a callback down instead")
    found.extend(_cycles(graph))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """One message per import cycle among modules (by their names, edges resolved to
    modules that exist in the graph: ``store.ap`` and package ``store`` alike)."""
    def node_of(name: str) -> str | None:
        while name:
            if name in graph:
                return name
            name = name.rpartition(".")[0]
        return None

    edges = {m: {t for t in (node_of(x) for x in targets) if t and t != m}
             for m, targets in graph.items()}
    # Importing a submodule first imports its package: an edge from
    # store.raft to store is implicit, and is no cycle by itself.
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(module: str) -> None:
        seen[module] = 1
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if seen.get(target) == 1:
                loop = stack[stack.index(target):] + [target]
                cycles.append("import cycle: " + " -> ".join(loop))
            elif target not in seen:
                visit(target)
        stack.pop()
        seen[module] = 2

    for module in sorted(edges):
        if module not in seen:
            visit(module)
    return cycles


def test_the_package_keeps_its_layers() -> None:
    assert problems(ROOT) == []


def test_every_layer_member_exists() -> None:
    missing = [f"{layer}: {name}" for layer, names in LAYERS.items() for name in names
               if not (ROOT / f"{name}.py").exists() and not (ROOT / name).is_dir()]
    assert missing == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / PACKAGE
    for name, text in {"__init__.py": "", **files}.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def test_a_lazy_import_of_a_lower_layer_is_refused(tmp_path: Path) -> None:
    # The knot issue 14 untied: cluster.py imported the workload lazily in
    # run(), and the workload imported cluster: a real cycle, against the order.
    root = _tree(tmp_path, {
        "cluster.py": "def run():\n    from .run import go\n    return go()\n",
        "run/__init__.py": "from ..cluster import run\n\ndef go():\n    return 1\n",
    })
    found = problems(root)
    assert any("cluster.py:2: cluster (harness) imports run (run), a layer below" in p
               for p in found), found
    assert any(p.startswith("import cycle: ") and "cluster" in p and "run" in p
               for p in found), found


def test_type_checking_imports_are_exempt_and_else_branches_are_not(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "cluster.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from .run import RunResult\nelse:\n    from .plugin import x\n"),
        "run/__init__.py": "RunResult = 1\n",
        "plugin.py": "x = 1\n",
    })
    assert problems(root) == [
        ("cluster.py:5: cluster (harness) imports plugin (pytest), a layer below it; pass a "
        "Protocol or a callback down instead")]


def test_the_store_imports_only_errors_and_wire(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "errors.py": "", "wire.py": "", "history.py": "",
        "store/__init__.py": "",
        "store/raft.py": ("from .. import wire\nfrom ..errors import X\n"
                          "from pytest_partition.history import History\n"),
    })
    assert problems(root) == [
        ("store/raft.py:3: the store imports history; it may import only errors, wire of "
        "the package")]


def test_a_module_in_no_layer_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"gadget.py": ""})
    assert problems(root) == [("gadget.py: module 'gadget' is in no layer; add it to LAYERS "
                              "in tests/test_layers.py")]


def test_a_cycle_inside_one_layer_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"client.py": "from . import network\n",
                            "network.py": "from .client import Client\n"})
    assert problems(root) == ["import cycle: client -> network -> client"]


if __name__ == "__main__":  # pragma: no cover - a quick look from the shell
    for line in problems(ROOT):
        print(line)
    sys.exit(pytest.main([__file__, "-q"]))
