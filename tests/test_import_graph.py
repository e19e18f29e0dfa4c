"""The package's modules import each other one way: no cycles, engine below the API."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import sklearn_depict

PACKAGE = Path(sklearn_depict.__file__).parent
NAME = "sklearn_depict"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _imports(module: str, path: Path) -> set[str]:
    """Every package module that ``module`` imports, at any depth of its code.

    Imports inside functions count (a lazy import is still a dependency);
    imports under ``if TYPE_CHECKING:`` do not, as they never run.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            # A name that is a submodule is a dependency on it; any other name
            # is one on the package's __init__.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        # A module's own ancestors are imported before it anyway: not an edge.
        ancestors = {module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)}
        found.update(t for t in targets if t in MODULES and t != module and t not in ancestors)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle, as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for dependency in sorted(GRAPH[module]):
            if state.get(dependency) == 1:
                return stack[stack.index(dependency):] + [dependency]
            if dependency not in state:
                cycle = visit(dependency)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_known_edges():
    # Guards the parser itself: a graph with no edges has no cycles either.
    assert f"{NAME}.importance" in GRAPH[NAME]
    assert f"{NAME}._engine.run" in GRAPH[f"{NAME}.importance"]
    assert f"{NAME}._engine.generate" in GRAPH[f"{NAME}._engine.execute"]


def test_no_import_cycle():
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_engine_and_checks_never_import_the_public_functions():
    api = {f"{NAME}.importance", f"{NAME}.cross_validation", f"{NAME}.cli", f"{NAME}.demo",
           f"{NAME}.report", f"{NAME}.displays"}
    for module, dependencies in GRAPH.items():
        if module.startswith(f"{NAME}._engine"):
            assert not dependencies & (api | {f"{NAME}.diagnostics"}), module
    assert f"{NAME}.importance" not in GRAPH[f"{NAME}.diagnostics"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(module):
    optional = ("torch", "diffusers", "transformers", "peft", "safetensors", "matplotlib")
    try:
        importlib.import_module(module)
    except ImportError as exc:  # a heavy optional dependency that is not installed
        if not any(name in str(exc) for name in optional):
            raise
        pytest.skip(str(exc))
