"""Everything sklearn-depict takes from scikit-learn's private API, in one place.

scikit-learn keeps its parameter validation and the internals of its scorers
private, so they may move or change between releases. The rest of the
package imports them from here only: when a release changes them, this
module (and its tests, ``tests/test_sklearn_compat.py``) is the one place to
adapt, with a version check and a fallback rather than an import error deep
inside the engine.

What is covered:

- parameter validation (``validate_params`` and its constraints), private in
  ``sklearn.utils._param_validation``. Without it, functions are not
  validated up front, and scikit-learn's own checks further down still raise.
- the parts of a scorer that tell which prediction method it will call:
  :func:`scorer_parts` (the metrics of a multi-metric scorer) and
  :func:`scorer_response_method`.
- numerical details the vectorised scorers reproduce exactly, where they
  differ between releases: :func:`log_loss_dtype`.

The random draws of ``permutation_importance``, which
:func:`sklearn_depict._engine.plan.permutation_indices` replicates, are public
behaviour rather than API; ``tests/test_sklearn_compat.py`` compares the two on
the installed version so that a change fails loudly.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn

__all__ = [
    "SKLEARN_VERSION",
    "EstimatorParameterError",
    "HasMethods",
    "Integral",
    "Interval",
    "InvalidParameterError",
    "RealNotInt",
    "StrOptions",
    "log_loss_dtype",
    "release",
    "scorer_parts",
    "scorer_response_method",
    "validate_estimator_params",
    "validate_params",
]

#: The oldest scikit-learn the package supports (pyproject's ``scikit-learn>=``).
MIN_SKLEARN = (1, 6)


def release(version: str) -> tuple[int, int]:
    """The (major, minor) release of a version string such as ``"1.6.1"`` or ``"3.10rc1"``.

    Examples
    --------
    >>> from sklearn_depict._sklearn_compat import release
    >>> release("1.6.1"), release("3.10.0rc1"), release("2.dev0")
    ((1, 6), (3, 10), (2, 0))
    """
    parts = []
    for piece in (version.split(".") + ["0", "0"])[:2]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits or 0))
    return parts[0], parts[1]


SKLEARN_VERSION = release(sklearn.__version__)
"""The installed scikit-learn's (major, minor) release."""

Integral = numbers.Integral

try:  # private since scikit-learn 1.2; present in every supported release
    from sklearn.utils._param_validation import (
        HasMethods,
        Interval,
        InvalidParameterError,
        RealNotInt,
        StrOptions,
        validate_parameter_constraints,
        validate_params,
    )
except ImportError:  # pragma: no cover - exercised by a test that hides the module
    # Inert stand-ins: the decorated functions run unvalidated, and the
    # checks of the engine and of scikit-learn itself raise instead.

    class InvalidParameterError(ValueError, TypeError):  # type: ignore[no-redef]
        """Raised by scikit-learn's parameter validation (never by the stand-ins)."""

    class RealNotInt(numbers.Real):  # type: ignore[no-redef]
        """A real number that is not an integer (a constraint type)."""

    RealNotInt.register(float)

    class _Constraint:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.args = args
            self.kwargs = kwargs

    class HasMethods(_Constraint):  # type: ignore[no-redef]
        """Stand-in for scikit-learn's constraint: an object with these methods."""

    class Interval(_Constraint):  # type: ignore[no-redef]
        """Stand-in for scikit-learn's constraint: a number in an interval."""

    class StrOptions(_Constraint):  # type: ignore[no-redef]
        """Stand-in for scikit-learn's constraint: one of some strings."""

    def validate_params(  # type: ignore[no-redef]
        parameter_constraints: dict[str, Any], *, prefer_skip_nested_validation: bool
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Stand-in for scikit-learn's decorator: leaves the function as it is."""
        return lambda function: function

    def validate_parameter_constraints(  # type: ignore[no-redef]
        constraints: dict[str, Any], params: dict[str, Any], caller_name: str
    ) -> None:
        """Stand-in for scikit-learn's check: accepts everything."""


def validate_estimator_params(estimator: Any) -> None:
    """Check an estimator's parameters against its ``_parameter_constraints``.

    What scikit-learn's estimators do at the start of ``fit``, for an object
    that is used without being fitted (a :class:`~sklearn_depict.CaptionToImage`
    passed as ``generator=``), so that a bad value fails before any image.

    Examples
    --------
    >>> from sklearn_depict import CaptionToImage, ShapesGenerator
    >>> from sklearn_depict._sklearn_compat import validate_estimator_params
    >>> try:
    ...     validate_estimator_params(CaptionToImage(ShapesGenerator(), batch_size=0))
    ... except ValueError as exc:
    ...     print(str(exc)[:52])
    The 'batch_size' parameter of CaptionToImage must be
    """
    try:
        validate_parameter_constraints(
            estimator._parameter_constraints,
            estimator.get_params(deep=False),
            caller_name=type(estimator).__name__,
        )
    except InvalidParameterError as exc:
        # Not an InvalidParameterError: inside a function decorated with
        # validate_params, scikit-learn would rename the message's owner to
        # that function. Both a ValueError and a TypeError, as sklearn's is.
        raise EstimatorParameterError(str(exc)) from None


class EstimatorParameterError(ValueError, TypeError):
    """A parameter of an estimator used without ``fit`` has a value it does not take."""


def scorer_parts(scorer: Any) -> dict[str, Any] | None:
    """The named scorers inside a multi-metric scorer, or None for a single one.

    ``check_scoring(estimator, scoring=["accuracy", "roc_auc"])`` returns one
    callable that scores several metrics; the engine needs each part to know
    which prediction methods it calls.

    Parameters
    ----------
    scorer : callable
        From :func:`sklearn.metrics.check_scoring` or a user.

    Returns
    -------
    parts : dict or None
        From metric name to scorer.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn.metrics import check_scoring
    >>> from sklearn_depict._sklearn_compat import scorer_parts
    >>> model = DummyClassifier().fit([[0], [1]], [0, 1])
    >>> sorted(scorer_parts(check_scoring(model, scoring=["accuracy", "roc_auc"])))
    ['accuracy', 'roc_auc']
    >>> scorer_parts(check_scoring(model, scoring="accuracy")) is None
    True
    """
    # scikit-learn's _MultimetricScorer keeps its scorers in ``_scorers``.
    parts = getattr(scorer, "_scorers", None)
    return dict(parts) if isinstance(parts, dict) else None


def scorer_response_method(scorer: Any) -> str | tuple[str, ...] | None:
    """The prediction method (or methods, in order of preference) a scorer calls.

    Parameters
    ----------
    scorer : callable
        A single-metric scorer.

    Returns
    -------
    method : str, tuple of str or None
        None when unknown: a plain callable may call any prediction method.

    Examples
    --------
    >>> from sklearn.metrics import get_scorer
    >>> from sklearn_depict._sklearn_compat import scorer_response_method
    >>> scorer_response_method(get_scorer("accuracy"))
    'predict'
    >>> scorer_response_method(get_scorer("roc_auc"))
    ('decision_function', 'predict_proba')
    >>> scorer_response_method(lambda estimator, X, y: 0.0) is None
    True
    """
    # Since scikit-learn 1.4 every scorer made by make_scorer is a _Scorer that
    # keeps the method (or the preference list) in ``_response_method``.
    method = getattr(scorer, "_response_method", None)
    if method is None or isinstance(method, str):
        return method
    return tuple(method)


@functools.cache
def log_loss_dtype(dtype: Any) -> np.dtype:
    """The precision in which scikit-learn's ``log_loss`` takes the log of ``dtype`` probabilities.

    In scikit-learn 1.6 and 1.7 the one-hot labels stay integers, which
    promotes the log of float32 probabilities to float64; 1.9 casts the labels
    to the probabilities' dtype and takes the log in float32. The two differ in the
    7th digit, so the vectorised scorer asks the installed release once, by
    scoring three rows, rather than trusting a version number.

    Parameters
    ----------
    dtype : numpy dtype
        A floating dtype of predicted probabilities.

    Returns
    -------
    dtype : numpy dtype
        ``dtype`` itself or float64.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict._sklearn_compat import log_loss_dtype
    >>> log_loss_dtype(np.float64)
    dtype('float64')
    >>> log_loss_dtype(np.float32) in (np.float32, np.float64)
    True
    """
    from sklearn.metrics import log_loss

    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return dtype
    # Probabilities whose log differs between the candidate precisions.
    proba = np.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]], dtype=dtype)
    y = np.array([1, 1, 0])
    theirs = log_loss(y, proba)
    eps = np.finfo(dtype).eps
    clipped = np.clip(proba, eps, 1 - eps)
    for candidate in (dtype, np.dtype(np.float64)):
        ours = np.average(-np.log(clipped.astype(candidate))[np.arange(len(y)), y])
        if float(ours) == theirs:
            return candidate
    return dtype  # neither matches exactly: keep the input's precision
