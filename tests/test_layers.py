"""Layers point down (bin -> tasks -> train/decode/scoring -> models/graph -> data -> utils).

Read from the source with ``ast`` (nothing is imported): every ``import`` statement counts,
also those inside functions and ``if TYPE_CHECKING:`` blocks.
"""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> the xlsr packages it may not import (the layers above it).
FORBIDDEN = {
    "xlsr.data": ["models", "graph", "train", "decode", "scoring", "tasks", "bin", "testing"],
    "xlsr.utils": ["data", "models", "graph", "train", "decode", "scoring", "tasks", "bin"],
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> Set[str]:
    """Absolute names of the modules (and ``from`` targets) that ``path`` imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> Set[str]:
    """The imports of ``source``, a module of ``package``, as absolute names."""
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..x import y
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # ``from xlsr.data import dataset`` imports the module xlsr.data.dataset
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_of(package: str) -> Dict[str, Path]:
    folder = ROOT.joinpath(*package.split("."))
    return {module_name(p): p for p in sorted(folder.glob("*.py"))}


def test_imports_in_reads_every_form():
    # the helper itself: absolute, from-, relative and nested imports are all seen
    src = "import xlsr.models.x\nfrom . import frames\ndef f():\n    from ..train import t\n"
    found = imports_in(src, "xlsr.data")
    assert {"xlsr.models.x", "xlsr.data.frames", "xlsr.train.t"} <= found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_from_a_layer_above(package):
    # Invariant: nothing in ``package`` imports the packages above it.
    above = [f"xlsr.{name}" for name in FORBIDDEN[package]]
    bad: List[str] = []
    for name, path in modules_of(package).items():
        for target in sorted(imported_modules(path)):
            if any(target == a or target.startswith(a + ".") for a in above):
                bad.append(f"{name} imports {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", ["xlsr.data", "xlsr.utils"])
def test_no_import_cycle_within_the_package(package):
    # Invariant: the modules of ``package`` import each other without a circle.
    modules = modules_of(package)
    graph = {  # module -> the modules of the package it imports (__init__ left out)
        name: sorted(t for t in imported_modules(path) if t in modules and t not in (name, package))
        for name, path in modules.items()
        if name != package
    }
    state: Dict[str, str] = {}  # "open" while on the DFS stack, "done" after

    def visit(node: str, stack: List[str]) -> None:
        state[node] = "open"
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]  # an open node is on the stack
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
