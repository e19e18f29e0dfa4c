"""Collection rules for the doctests of the package (pytest --doctest-modules)."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("diffusers") is None or importlib.util.find_spec("torch") is None:
    # These modules subclass diffusers' classes at import time; without the
    # `diffusion` extra they cannot be imported, so their doctests cannot run.
    collect_ignore += [
        "sklearn_depict/text_to_image",
        "sklearn_depict/generators/diffusers.py",
        "sklearn_depict/testing.py",
    ]
