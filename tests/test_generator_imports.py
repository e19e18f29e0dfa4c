"""The generators and text_to_image packages import each other one way only.

text_to_image builds on generators (training returns a DiffusersGenerator);
generators never imports text_to_image, so no import cycle joins them. Two
deliberate by-name lookups cross the other way at run time, never through an
import statement: the pipeline classes this package saves (looked up when a
saved folder names one) and ``make_tiny_pipeline``, kept importable from
``generators.diffusers``. Neither may load the training code.
"""

import ast
import subprocess
import sys
import textwrap
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


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The package module that importing ``name`` runs last, or None if outside."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """Package modules named by any import statement of ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name) if name.startswith(NAME) else None
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _in(package: str, module: str) -> bool:
    return module == f"{NAME}.{package}" or module.startswith(f"{NAME}.{package}.")


def test_the_graph_sees_the_known_edges():
    # The checks below mean something only if the parser finds imports.
    assert f"{NAME}.generators.diffusers" in GRAPH[f"{NAME}.text_to_image.models"]
    assert f"{NAME}.generators._fingerprint" in GRAPH[f"{NAME}.generators.diffusers"]
    assert f"{NAME}.text_to_image.tokenizer" in GRAPH[f"{NAME}.testing"]


def test_generators_never_reach_text_to_image():
    for module in (m for m in MODULES if _in("generators", m)):
        crossing = sorted(m for m in _reachable(module) if _in("text_to_image", m))
        assert not crossing, f"{module} imports {crossing}"


def test_no_import_cycle_through_generators_or_text_to_image():
    for module in (m for m in MODULES if _in("generators", m) or _in("text_to_image", m)):
        assert module not in _reachable(module), f"{module} imports itself through a cycle"


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_generator_stays_light():
    out = _run(
        """
        import sys
        import sklearn_depict.generators.diffusers
        heavy = [m for m in ("torch", "diffusers", "sklearn_depict.text_to_image",
                             "sklearn_depict.testing") if m in sys.modules]
        print(heavy)
        """
    )
    assert out == "[]"


def test_loading_a_saved_pixel_pipeline_skips_the_training_code():
    pytest.importorskip("diffusers")
    pytest.importorskip("torch")
    out = _run(
        """
        import sys
        from sklearn_depict.shapes_diffusion import load_shapes_diffusion
        pipe = load_shapes_diffusion()._pipeline()
        print(type(pipe).__module__, "sklearn_depict.text_to_image.training" in sys.modules)
        """
    )
    assert out == "sklearn_depict.text_to_image.pipeline False"
