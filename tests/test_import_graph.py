"""The package's modules import each other one way: down the layers, no cycles."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import sklearn_depict

PACKAGE = Path(sklearn_depict.__file__).parent
NAME = "sklearn_depict"
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.rst"

# The layers of docs/architecture.rst, top to bottom: a module imports its own
# layer and those below it. Keys are top-level modules and subpackages.
LAYERS = {
    "Command line": ("cli", "case_studies", "__main__"),
    "Reporting": ("reporting",),
    "Public API": ("__init__", "importance", "diagnostics", "cross_validation",
                   "caption_to_image", "cost"),
    "Training (leaf)": ("text_to_image", "testing"),
    "Models and data": ("models", "datasets", "shapes_diffusion", "digits_diffusion"),
    "Engine (private)": ("_engine",),
    "Statistics": ("stats",),
    "Generators, cache and concept tables": ("generators", "cache", "captioning", "concepts"),
    "Foundation (leaves)": ("_sklearn_compat", "_warnings", "_torch_utils", "progress",
                            "formatting", "exceptions"),
}  # fmt: skip
RANK = {unit: rank for rank, units in enumerate(LAYERS.values()) for unit in units}


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


def _unit(module: str) -> str:
    """The top-level module or subpackage a module belongs to."""
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def upward_imports(graph: dict[str, set[str]] = GRAPH) -> list[str]:
    """Every import of a module from a layer above its own."""
    found = []
    for module, dependencies in sorted(graph.items()):
        for dependency in sorted(dependencies):
            if RANK[_unit(dependency)] < RANK[_unit(module)]:
                found.append(f"{module} ({_layer(module)}) imports {dependency} "
                             f"({_layer(dependency)})")
    return found


def _layer(module: str) -> str:
    return list(LAYERS)[RANK[_unit(module)]]


def test_every_module_has_a_layer():
    unplaced = sorted({_unit(m) for m in MODULES} - set(RANK))
    assert not unplaced, (
        f"{unplaced} belong to no layer: add them to the table of docs/architecture.rst "
        "and to LAYERS here."
    )


def test_no_module_imports_a_layer_above_its_own():
    violations = upward_imports()
    assert not violations, "\n".join(violations)


def test_the_layers_are_those_of_the_architecture_page():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text[text.index(".. list-table::", text.index("Layers\n------")):]
    rows = re.split(r"\n   \* - ", table)[2:]  # the header row first
    documented = {}
    for row in rows:
        name, _, modules = row.partition("\n     - ")
        units = re.findall(r"``([\w.]+?)(?:\.py|/)``", modules.split("\n\n")[0])
        documented[name.strip()] = {u for u in units if u in RANK}
    assert list(documented) == list(LAYERS)
    for layer, units in LAYERS.items():
        assert documented[layer] == set(units), layer


def test_the_engine_and_intervals_stay_below_the_public_layer():
    # The two upward imports the layering once hid: the engine reached the
    # public CaptionToImage through preflight, and intervals and the engine
    # imported each other.
    for module, dependencies in GRAPH.items():
        if module.startswith(f"{NAME}._engine"):
            assert not {d for d in dependencies if _layer(d) == "Public API"}, module
    assert not {d for d in GRAPH[f"{NAME}.stats.intervals"] if d.startswith(f"{NAME}._engine")}
    assert f"{NAME}.caption_to_image" not in GRAPH[f"{NAME}._engine.preflight"]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_module_imports(module):
    optional = ("torch", "diffusers", "transformers", "peft", "safetensors", "matplotlib")
    try:
        importlib.import_module(module)
    except ImportError as exc:  # a heavy optional dependency that is not installed
        if not any(name in str(exc) for name in optional):
            raise
        pytest.skip(str(exc))
