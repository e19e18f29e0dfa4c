"""Scoring from stored predictions.

The engine predicts every distinct image once. Scorers then see a stand-in
estimator whose ``X`` is an array of image ids and whose prediction methods
gather the stored outputs. Because sklearn's scorers only talk to an estimator
through its prediction methods (and ``classes_``), every scorer, string,
callable or multi-metric, computes exactly the numbers it would compute on the
real estimator and the real images.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    is_classifier,
    is_regressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import scorer_parts, scorer_response_method

__all__ = [
    "PREDICTION_METHODS",
    "check_prediction_output",
    "checked_score",
    "make_replay",
    "needed_methods",
    "weighted_score",
]

PREDICTION_METHODS = ("predict", "predict_proba", "decision_function", "predict_log_proba")


def _offers(method: str):
    return lambda self: method in self.available_methods


class _Replay(BaseEstimator):
    def __init__(self, available_methods: tuple[str, ...] = (), name: str = "estimator"):
        self.available_methods = available_methods
        self.name = name

    def _gather(self, method: str, ids: Any) -> Any:
        try:
            stored = self.responses_[method]
        except KeyError:
            raise RuntimeError(
                f"The scorer asked for {self.name}.{method}, which was not "
                "computed during prediction. Pass scoring= as a scorer whose "
                "response method can be known in advance."
            ) from None
        ids = np.asarray(ids)
        if isinstance(stored, list):
            return [output[ids] for output in stored]
        return stored[ids]

    def with_responses(self, responses: Mapping[str, Any]) -> _Replay:
        """A copy of this stand-in that answers from ``responses`` instead.

        Parameters
        ----------
        responses : mapping
            Method name -> the stored outputs of every image, indexed by id.

        Returns
        -------
        replay : estimator
        """
        replay = copy.copy(self)
        replay.responses_ = responses
        return replay

    @available_if(_offers("predict"))
    def predict(self, X: Any) -> Any:
        return self._gather("predict", X)

    @available_if(_offers("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        return self._gather("predict_proba", X)

    @available_if(_offers("decision_function"))
    def decision_function(self, X: Any) -> Any:
        return self._gather("decision_function", X)

    @available_if(_offers("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        return self._gather("predict_log_proba", X)


class _ReplayClassifier(ClassifierMixin, _Replay):
    pass


class _ReplayRegressor(RegressorMixin, _Replay):
    pass


def _has_tags(estimator: Any) -> bool:
    # sklearn's is_classifier raises on objects that do not implement its tags.
    return hasattr(estimator, "__sklearn_tags__")


def looks_like_classifier(estimator: Any) -> bool:
    """sklearn classifiers, and duck-typed ones: ``classes_`` plus scores."""
    if _has_tags(estimator) and is_classifier(estimator):
        return True
    return hasattr(estimator, "classes_") and (
        hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")
    )


def check_fitted_estimator(estimator: Any) -> tuple[str, ...]:
    """Check that ``estimator`` can predict, and return its prediction methods."""
    if isinstance(estimator, type):
        raise TypeError(
            f"depict_importance needs a fitted estimator instance, got the class "
            f"{estimator.__name__}. Create and fit an instance first."
        )
    available = tuple(m for m in PREDICTION_METHODS if hasattr(estimator, m))
    if not available:
        raise TypeError(
            f"The estimator {type(estimator).__name__} has none of the prediction "
            f"methods {list(PREDICTION_METHODS)}; depict_importance needs a fitted "
            "model that predicts from images."
        )
    if hasattr(estimator, "fit") and hasattr(estimator, "get_params"):
        try:
            check_is_fitted(estimator)
        except NotFittedError as exc:
            raise NotFittedError(
                f"This {type(estimator).__name__} instance is not fitted yet. "
                "depict_importance explains a fitted model: call 'fit' with "
                "appropriate arguments before using it."
            ) from exc
    if looks_like_classifier(estimator):
        try:
            estimator.classes_  # noqa: B018 - an adapter says why it has none
        except AttributeError as exc:
            raise AttributeError(
                f"The classifier {type(estimator).__name__} has no 'classes_'; scorers "
                f"need it to know which column of predict_proba is which class. {exc}"
            ) from None
    return available


def make_replay(
    estimator: Any, available: tuple[str, ...], responses: Mapping[str, Any] | None = None
) -> _Replay:
    """A stand-in for ``estimator`` that answers from stored predictions.

    Parameters
    ----------
    estimator : object
        The fitted model (its ``classes_`` and kind matter).
    available : tuple of str
        Its prediction methods.
    responses : mapping, default=None
        Method name -> the stored outputs of every image, indexed by id.
        Each stage that scores builds its own stand-in from the run's
        predictions; none is shared and refilled.

    Returns
    -------
    replay : estimator
    """
    name = type(estimator).__name__
    if looks_like_classifier(estimator):
        replay: _Replay = _ReplayClassifier(available, name)
        replay.classes_ = np.asarray(estimator.classes_)
    else:
        replay = _ReplayRegressor(available, name)
    replay.responses_ = {} if responses is None else responses
    return replay


def check_default_score(estimator: Any) -> None:
    """Make sure ``scoring=None`` can be answered from stored predictions.

    scoring=None means the estimator's ``score`` method. The stand-in can
    reproduce sklearn's default classifier and regressor scores (accuracy and
    R²) exactly; a custom ``score`` would need the images themselves.
    """
    final = estimator
    while isinstance(final, Pipeline):
        final = final[-1]
    score = getattr(type(final), "score", None)
    # scikit-learn's own classifiers and regressors that override score (such
    # as DummyClassifier) only adapt its arguments; search objects, which
    # score with their own scorer, are the exception.
    sklearn_default = (
        score is not None
        and score.__module__.startswith("sklearn.")
        and _has_tags(final)
        and (is_classifier(final) or is_regressor(final))
        and not hasattr(final, "scorer_")
    )
    if sklearn_default or score is None or score in (ClassifierMixin.score, RegressorMixin.score):
        if score is None and not looks_like_classifier(final):
            raise TypeError(
                f"If no scoring is specified, the estimator passed should have a "
                f"'score' method. The estimator {estimator!r} does not."
            )
        return
    raise TypeError(
        f"scoring=None would call {type(final).__name__}.score, a custom method "
        "that cannot be evaluated from cached predictions. Pass scoring= "
        "explicitly, for example scoring='accuracy' or 'roc_auc'."
    )


def needed_methods(scorer: Any, available: tuple[str, ...], default: bool) -> set[str]:
    """The prediction methods a scorer will call.

    Parameters
    ----------
    scorer : callable
        From ``sklearn.metrics.check_scoring``.
    available : tuple of str
        The estimator's prediction methods.
    default : bool
        True for ``scoring=None`` (the passthrough to ``score``).

    Returns
    -------
    methods : set of str
    """
    if default:
        return {"predict"}
    scorers = scorer_parts(scorer)
    if scorers is not None:
        methods: set[str] = set()
        for sub in scorers.values():
            methods |= needed_methods(sub, available, False)
        return methods
    response = scorer_response_method(scorer)
    if response is None:
        # A user-written callable may call any prediction method.
        return {m for m in ("predict", "predict_proba", "decision_function") if m in available}
    preference = [response] if isinstance(response, str) else list(response)
    for method in preference:
        if method in available:
            return {method}
    raise AttributeError(
        f"The scorer {scorer!r} needs one of {preference}, but the estimator only "
        f"offers {list(available)}."
    )


def check_prediction_output(
    output: Any, method: str, n_images: int, estimator: Any, n_classes: int | None = None
) -> Any:
    """Validate what a prediction method returned for a chunk of images.

    A multi-output model returns a list with one array per output; each is
    checked against that output's classes.
    """
    name = f"{type(estimator).__name__}.{method}"
    classes = getattr(estimator, "classes_", None)
    if isinstance(output, list) and method != "predict":
        per_output = classes if isinstance(classes, list) else [None] * len(output)
        return [
            check_prediction_output(o, method, n_images, estimator, n_classes=_count(c))
            for o, c in zip(output, per_output)
        ]
    if n_classes is None and classes is not None and not isinstance(classes, list):
        n_classes = len(classes)
    output = np.asarray(output)
    if output.ndim == 0 or output.shape[0] != n_images:
        raise ValueError(
            f"{name} returned an array of shape {output.shape} for {n_images} "
            f"images; it must return one row per image."
        )
    if method in ("predict_proba", "predict_log_proba") and n_classes is not None:
        if output.ndim != 2 or output.shape[1] != n_classes:
            raise ValueError(
                f"{name} returned shape {output.shape}; expected (n_images, "
                f"n_classes) = ({n_images}, {n_classes}) to match classes_."
            )
    if output.dtype.kind == "f":
        # log-probabilities may legitimately be -inf; NaN is never legitimate.
        bad = np.isnan(output) if method == "predict_log_proba" else ~np.isfinite(output)
        if bad.any():
            raise ValueError(f"{name} returned NaN or infinite values.")
    return output


def _count(classes: Any) -> int | None:
    return None if classes is None else len(classes)


def weighted_score(scorer: Any, replay: Any, ids: np.ndarray, y: Any, weights: Any) -> Any:
    """Score the stored predictions of images ``ids`` against ``y``.

    Mirrors sklearn: ``sample_weight`` is only passed when given.
    """
    if weights is not None:
        return scorer(replay, ids, y, sample_weight=weights)
    return scorer(replay, ids, y)


def checked_score(
    scorer: Any, replay: _Replay, ids: Any, y: Any, sample_weight: Any, *, what: str
) -> tuple[Any, list[warnings.WarningMessage]]:
    """Score stored predictions; say what was being scored if the metric fails.

    Parameters
    ----------
    scorer : callable
        From ``sklearn.metrics.check_scoring``.
    replay : estimator
        From :func:`make_replay`, with ``responses_`` set.
    ids : array-like of int
        The stored predictions to score.
    y : ndarray
        The targets of those rows.
    sample_weight : ndarray or None
        Passed on only when given, as sklearn does.
    what : str
        Describes the scoring, for error messages.

    Returns
    -------
    score : float or dict
    caught : list of warnings.WarningMessage
        The warnings the scorer issued, for the caller to re-issue (or not).

    Raises
    ------
    ValueError
        If the metric raises a ValueError, or returns NaN.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            score = weighted_score(scorer, replay, ids, y, sample_weight)
        except ValueError as exc:
            # The metric's own message is right but comes from deep inside
            # sklearn; say what was being scored.
            raise ValueError(f"{what} failed: {exc}") from exc
    values = score.values() if isinstance(score, dict) else [score]
    if any(np.isnan(v) for v in values if isinstance(v, (float, np.floating))):
        reasons = " ".join(str(w.message) for w in caught)
        raise ValueError(
            f"{what} gave NaN, so no importance can be measured. {reasons}".rstrip()
        )
    return score, list(caught)
