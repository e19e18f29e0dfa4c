"""Parameter constraints shared by the public entry points.

The public functions validate their parameters with these, under their public
names, and pass them on to :func:`~sklearn_depict._engine.run.explain` under
the same names.
"""

from __future__ import annotations

from typing import Any

from sklearn.metrics import get_scorer_names

from .._sklearn_compat import (
    HasMethods,
    Integral,
    Interval,
    RealNotInt,
    StrOptions,
)
from ..intervals import CI_METHODS

__all__ = ["CHECK_CONSTRAINTS", "RUN_CONSTRAINTS"]

# What every entry point that runs the engine accepts, as validate_params wants it.
RUN_CONSTRAINTS: dict[str, Any] = {
    "estimator": "no_validation",
    "X_captions": ["array-like"],
    "y": ["array-like"],
    "generator": "no_validation",
    "scoring": [
        StrOptions(set(get_scorer_names())),
        callable,
        list,
        tuple,
        dict,
        None,
    ],
    "n_repeats": [Interval(Integral, 1, None, closed="left")],
    "n_jobs": [Integral, None],
    "random_state": ["random_state"],
    "sample_weight": ["array-like", None],
    "max_samples": [
        Interval(Integral, 1, None, closed="left"),
        Interval(RealNotInt, 0, 1, closed="right"),
    ],
    "concepts": [list, tuple, dict, None],
    "verbose": ["verbose"],
    "confidence": [Interval(RealNotInt, 0, 1, closed="neither")],
    "ci_method": [StrOptions(set(CI_METHODS))],
    "n_bootstraps": [Interval(Integral, 1, None, closed="left")],
    "ci_random_state": ["random_state"],
    "pvalue_correction": [StrOptions({"holm"}), None],
}

# The options of the checks, which belong to depict_diagnostics.
CHECK_CONSTRAINTS: dict[str, Any] = {
    "detector": [HasMethods(["predict_proba"]), None],
    "X_images": ["array-like", None],
    "detector_concepts": [list, tuple, None],
    "tolerances": [dict, None],
}
