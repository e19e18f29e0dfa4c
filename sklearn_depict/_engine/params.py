"""Parameter constraints shared by the public entry points.

The public functions validate their parameters with these, under their public
names, and pass them on to :func:`~sklearn_depict._engine.run.explain` under
the same names.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from numbers import Real
from typing import Any

from sklearn.metrics import get_scorer_names

from .._sklearn_compat import (
    HasMethods,
    Integral,
    Interval,
    InvalidParameterError,
    RealNotInt,
    StrOptions,
)
from ..stats.intervals import CI_METHODS

__all__ = [
    "ANYTIME_CONSTRAINTS",
    "CHECK_CONSTRAINTS",
    "RUN_CONSTRAINTS",
    "check_scoring_names",
    "unknown_scorers_message",
]

# What every entry point that runs the engine accepts, as validate_params wants it.
RUN_CONSTRAINTS: dict[str, Any] = {
    "estimator": "no_validation",
    "X_captions": ["array-like"],
    "y": ["array-like"],
    "generator": "no_validation",
    # Any str here: check_scoring_names then names the closest scorers, where
    # StrOptions would list all of scikit-learn's ~60 names in arbitrary order.
    "scoring": [
        str,
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
    "conditioning": [StrOptions({"auto"}), dict, None],
    "conditioning_params": [dict, None],
    "verbose": ["verbose"],
    "confidence": [Interval(RealNotInt, 0, 1, closed="neither")],
    "ci_method": [StrOptions(set(CI_METHODS))],
    "n_bootstraps": [Interval(Integral, 1, None, closed="left")],
    "ci_random_state": ["random_state"],
    "pvalue_correction": [StrOptions({"holm"}), None],
}

# The options of an anytime run, which belong to depict_importance.
ANYTIME_CONSTRAINTS: dict[str, Any] = {
    "tol": [Interval(Real, 0, None, closed="neither"), None],
    "block_size": [Interval(Integral, 2, None, closed="left"), None],
    "min_blocks": [Interval(Integral, 1, None, closed="left"), None],
}

# The options of the checks, which belong to depict_diagnostics.
CHECK_CONSTRAINTS: dict[str, Any] = {
    "detector": [HasMethods(["predict_proba"]), None],
    "X_images": ["array-like", None],
    "detector_concepts": [list, tuple, None],
    "tolerances": [dict, None],
}


def _normalised(name: str) -> str:
    # "F1-score", "roc auc" and "r2_score" are how people write "f1", "roc_auc", "r2".
    return name.strip().lower().replace("-", "_").replace(" ", "_").removesuffix("_score")


def _closest(name: str, known: list[str]) -> list[str]:
    """Up to three scorer names close to ``name``, the closest first."""
    by_normalised = {_normalised(k): k for k in known}
    guess = _normalised(name)
    close = [by_normalised[guess]] if guess in by_normalised else []
    close += difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    close += [by_normalised[k] for k in difflib.get_close_matches(guess, list(by_normalised),
                                                                n=3, cutoff=0.6)]
    return list(dict.fromkeys(close))[:3]


def unknown_scorers_message(names: Iterable[str]) -> str | None:
    """Say which of ``names`` are no scorer name, with the closest real ones.

    The one message of the API's ``scoring`` and the command line's
    ``--scoring``: a few close names (:func:`difflib.get_close_matches`), not
    the whole list, and where to find that list.

    Parameters
    ----------
    names : iterable of str
        Scorer names, as given to :func:`sklearn.metrics.get_scorer`.

    Returns
    -------
    message : str or None
        None when every name is one of
        :func:`sklearn.metrics.get_scorer_names`.

    Examples
    --------
    >>> from sklearn_depict._engine.params import unknown_scorers_message
    >>> unknown_scorers_message(["accuracy"]) is None
    True
    >>> message = unknown_scorers_message(["acuracy", "roc_auc"])
    >>> message.split(";")[0]
    "unknown scorer 'acuracy' (did you mean 'accuracy' or 'top_k_accuracy'?)"
    >>> "sklearn.metrics.get_scorer_names()" in message
    True
    """
    known = sorted(get_scorer_names())
    parts = []
    for name in names:
        if name in known:
            continue
        close = _closest(str(name), known)
        hint = ""
        if close:
            quoted = [repr(c) for c in close]
            hint = " (did you mean " + (
                quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
            ) + "?)"
        parts.append(f"{name!r}{hint}")
    if not parts:
        return None
    return (
        f"unknown scorer{'s' if len(parts) > 1 else ''} {', '.join(parts)}; "
        f"sklearn.metrics.get_scorer_names() lists all {len(known)} valid names"
    )


def check_scoring_names(scoring: Any, *, caller: str) -> None:
    """Raise, before any image, when ``scoring`` names a scorer that does not exist.

    Parameters
    ----------
    scoring : object
        The ``scoring`` argument: names in a str, list or tuple are checked;
        callables and dicts are left to :func:`sklearn.metrics.check_scoring`.
    caller : str
        The public function, for the message.

    Raises
    ------
    InvalidParameterError
        A ``ValueError``, naming the closest scorer names.
    """
    if isinstance(scoring, str):
        names = [scoring]
    elif isinstance(scoring, (list, tuple)):
        names = [name for name in scoring if isinstance(name, str)]
    else:
        return
    message = unknown_scorers_message(names)
    if message is not None:
        raise InvalidParameterError(f"The 'scoring' parameter of {caller} got an {message}.")
