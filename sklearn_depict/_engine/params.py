"""Parameter constraints shared by the public entry points."""

from __future__ import annotations

from collections.abc import Mapping
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

__all__ = [
    "CHECK_CONSTRAINTS",
    "RUN_CONSTRAINTS",
    "engine_arguments",
    "interval_arguments",
]

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

# The public keywords that the engine's prepare() takes as they are, and those
# of the intervals under the names IntervalSettings gives them.
_RUN_OPTIONS = (
    "generator", "scoring", "n_repeats", "random_state", "sample_weight", "max_samples",
    "concepts",
)  # fmt: skip
_INTERVAL_OPTIONS = {
    "confidence": "confidence", "ci_method": "method", "n_bootstraps": "n_bootstraps",
    "ci_random_state": "random_state", "pvalue_correction": "correction",
}  # fmt: skip


def interval_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """The IntervalSettings of a public function's ``confidence``, ``ci_method``, ...

    Parameters
    ----------
    params : mapping
        The public function's parameters by name.

    Returns
    -------
    intervals : dict
    """
    return {new: params[old] for old, new in _INTERVAL_OPTIONS.items()}


def engine_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`~sklearn_depict._engine.run.explain`.

    Parameters
    ----------
    params : mapping
        A public function's parameters by name (the caption options too,
        where it still takes them).

    Returns
    -------
    arguments : dict
        ``options``, ``intervals``, ``n_jobs`` and ``verbose``.
    """
    options = {name: params[name] for name in _RUN_OPTIONS}
    return dict(options=options, intervals=interval_arguments(params),
                n_jobs=params["n_jobs"], verbose=params["verbose"])
