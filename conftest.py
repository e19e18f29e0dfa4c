"""Collection rules for the doctests of the package (pytest --doctest-modules)."""

import importlib.util

import pytest

collect_ignore = []
if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None:
    # These modules subclass diffusers' classes at import time; without the
    # `diffusion` extra they cannot be imported, so their doctests cannot run.
    collect_ignore += [
        "sklearn_depict/text_to_image",
        "sklearn_depict/generators/diffusers.py",
        "sklearn_depict/testing.py",
    ]

# Doctests that run an optional dependency, by the dotted name of what they
# document (a prefix covers a whole module). A core install (no extras) skips
# them with the reason instead of failing; the examples stay in the docs.
_DOCTESTS_NEED = {
    "sklearn_depict.shapes_diffusion.load_shapes_diffusion": ("torch", "diffusers"),
    "sklearn_depict.digits_diffusion.load_digits_diffusion": ("torch", "diffusers"),
    "sklearn_depict.models.torch_adapters.": ("torch",),
    "sklearn_depict.datasets.shapes_judge.": ("torch",),
    "sklearn_depict._torch_utils.one_thread": ("torch",),
    "sklearn_depict._torch_utils.resolve_device": ("torch",),
    "sklearn_depict.case_studies.digits_shortcuts.train_digits_cnn": ("torch",),
}


def _missing(name):
    for documented, modules in _DOCTESTS_NEED.items():
        if name == documented or (documented.endswith(".") and name.startswith(documented)):
            return [m for m in modules if importlib.util.find_spec(m) is None]
    return []


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(item, "dtest", None) is None:  # not a doctest
            continue
        missing = _missing(item.name)
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"the example needs {' and '.join(missing)}, not installed"
            ))
