"""Exact, vectorised versions of scikit-learn's named scorers.

Every (concept, repeat) score of a run is a gather of stored predictions.
Calling a sklearn scorer once per repeat spends most of its time validating
its input again; at the paper's 500 repeats that was 90% of a run. The scorers
here take the stored predictions of the distinct images and the (repeats,
rows) array of image ids that each repeat shows, and return the score of
every repeat with a few array operations; the labels and weights are
prepared once. Rank metrics (ROC AUC, average precision) rank the distinct
values once and then only count, per repeat, the weight of each class at each
rank.

They compute the numbers of ``sklearn.metrics.get_scorer(name)``: the same
response column, sign, tie handling (ROC AUC credits a tie between a positive
and a negative with one half, as the trapezoid under sklearn's ROC curve
does), clipping (log loss clips to the machine epsilon of the prediction
dtype) and averaging. Where sklearn has a special case (a single class in
y_true, no positive label for average precision, a predicted label unknown to
y_true for balanced accuracy, a zero denominator for F1, probabilities that do
not sum to one), the repeats concerned are handed back to sklearn's own
scorer, so its warnings, NaNs and errors are reproduced as they are.

Only scorers named by a string (and ``scoring=None``, the estimator's default
accuracy or R²) are recognised. A scorer object, even one returned by
``get_scorer``, keeps the exact per-repeat path: its parameters are private
and may change between scikit-learn versions.

Each scorer also gives the first-order contribution of every row to every
repeat's score (its derivative with respect to the row's weight), from which
:mod:`sklearn_depict.stats.bootstrap` computes bootstrap intervals without
rescoring.

This module holds the registry of named scorers and the routing; the
metrics themselves are in :mod:`sklearn_depict.stats._fast_metrics` (means and
counts) and :mod:`sklearn_depict.stats._fast_ranking` (ROC AUC, average precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring, get_scorer
from sklearn.utils.multiclass import type_of_target

from ._fast_metrics import (
    _CLASSIFICATION_TYPES,
    _F1,
    _R2,
    Gathered,
    _Accuracy,
    _BalancedAccuracy,
    _LogLoss,
    _MeanAbsoluteError,
    _MeanSquaredError,
    _Metric,
    _Prepared,
)
from ._fast_ranking import _AveragePrecision, _index, _MulticlassRocAuc, _RocAuc
from .replay import needed_methods

__all__ = [
    "FAST_SCORERS",
    "ROUNDING_TOLERANCE",
    "FastScorer",
    "ScoringRoute",
    "check_fast_target",
    "fast_scorers",
    "make_fast_scorer",
    "snap_rounding",
    "split_route",
]

# How to score targets that a named scorer refuses.
_HINTS = {
    ("roc_auc", "multiclass"): "use scoring='roc_auc_ovr' or 'roc_auc_ovo' for multi-class "
    "targets",
    ("f1", "multiclass"): "use scoring='f1_macro', 'f1_micro' or 'f1_weighted' for "
    "multi-class targets",
}


# ------------------------------------------------------------------ the registry


_BINARY_AUC = _RocAuc()
FAST_SCORERS: dict[str, _Metric] = {
    "accuracy": _Accuracy(),
    "balanced_accuracy": _BalancedAccuracy(),
    "f1": _F1(),
    "roc_auc": _BINARY_AUC,
    "roc_auc_ovr": _MulticlassRocAuc("ovr", "macro"),
    "roc_auc_ovo": _MulticlassRocAuc("ovo", "macro"),
    "roc_auc_ovr_weighted": _MulticlassRocAuc("ovr", "weighted"),
    "roc_auc_ovo_weighted": _MulticlassRocAuc("ovo", "weighted"),
    "average_precision": _AveragePrecision(),
    "neg_log_loss": _LogLoss(),
    "r2": _R2(),
    "neg_mean_squared_error": _MeanSquaredError(),
    "neg_mean_absolute_error": _MeanAbsoluteError(),
}
"""The named scorers with a vectorised implementation."""

_MULTICLASS_AUC = {"roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted", "roc_auc_ovo_weighted"}
# Repeats scored together, so that no intermediate table grows past ~4M values.
_CHUNK_VALUES = 4_000_000


# ----------------------------------------------------------------------- the scorer


class FastScorer:
    """Score all repeats of a concept at once, exactly as sklearn's named scorer.

    Built by :func:`make_fast_scorer`; not meant to be created directly.

    Attributes
    ----------
    name : str
        The scorer's name, as in :func:`sklearn.metrics.get_scorer`.
    method : str
        The prediction method whose stored outputs it reads.
    """

    def __init__(self, name: str, metric: _Metric, method: str, scorer: Any, replay: Any,
                 prep: _Prepared):
        self.name = name
        self.method = method
        self._metric = metric
        self._scorer = scorer
        self._replay = replay
        self._prep = prep
        # Regression metrics: sklearn casts targets and predictions to float64
        # before any arithmetic (when it sums in float64 at all): so do these.
        self._arithmetic = prep
        if metric.numeric_target:
            self._arithmetic = _Prepared(np.asarray(prep.y, dtype=np.float64),
                                         prep.sample_weight, prep.classes)

    def __repr__(self) -> str:
        return f"FastScorer({self.name!r}, method={self.method!r})"

    def _gathered(self, stored: np.ndarray, ids: Any) -> Gathered | None:
        stored = np.asarray(stored)
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] != len(self._prep.y):
            raise ValueError(
                f"Expected ids of shape (n_repeats, {len(self._prep.y)}), got {ids.shape}."
            )
        if self._metric.numeric_target:
            if not _float64_sums(stored, self._prep.y, self._prep.sample_weight):
                return None
            stored = stored.astype(np.float64, copy=False)
        values = self._metric.response(stored, self._arithmetic)
        return None if values is None else Gathered(values, ids)

    def _chunks(self, ids: np.ndarray, values: np.ndarray) -> list[slice]:
        # Per repeat, tables hold a value per row and (rank metrics) per distinct image.
        per_repeat = ids.shape[1] + min(len(values), ids.size)
        step = max(1, _CHUNK_VALUES // per_repeat)
        return [slice(s, s + step) for s in range(0, len(ids), step)]

    def score(self, stored: np.ndarray, ids: Any, *, derivative: bool = False) -> Any:
        """The scorer's value for every repeat.

        Parameters
        ----------
        stored : ndarray of shape (n_images,) or (n_images, n_classes)
            What ``method`` returned for each distinct image.
        ids : ndarray of int, shape (n_repeats, n_rows)
            The image each row shows in each repeat.
        derivative : bool, default=False
            Also return d score / d weight of each row, averaged over the
            repeats (None where the exact path applies). Exact for mean-type
            metrics (accuracy, the regression errors, log loss), first order
            for ratio and ranking metrics. The row bootstrap uses it.

        Returns
        -------
        scores : ndarray of shape (n_repeats,)
            With the scorer's sign (negative for losses such as ``neg_log_loss``).
        derivative : ndarray of shape (n_rows,) or None
            Only with ``derivative=True``; with the scorer's sign.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.dummy import DummyClassifier
        >>> from sklearn_depict.stats.replay import make_replay
        >>> from sklearn_depict.stats.fast_scoring import make_fast_scorer
        >>> model = DummyClassifier().fit([[0], [1]], [0, 1])
        >>> scorer = make_fast_scorer("roc_auc", replay=make_replay(model, ("predict_proba",)),
        ...                           y=[0, 0, 1, 1])
        >>> proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
        >>> scorer.score(proba, [[0, 1, 2, 3], [3, 1, 2, 0], [2, 2, 1, 1]])
        array([1.  , 0.25, 0.  ])
        """
        ids = np.asarray(ids)
        gathered = self._gathered(stored, ids)
        if gathered is None:
            scores = np.array([self._sklearn(stored, row) for row in ids])
            return (scores, None) if derivative else scores
        parts = []
        total = np.zeros(ids.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            for chunk in self._chunks(ids, gathered.values):
                part = Gathered(gathered.values, ids[chunk])
                if derivative:
                    values, degenerate, d = self._metric.values_and_derivative(
                        part, self._arithmetic)
                    total += np.asarray(d, dtype=float) * len(part.ids)
                else:
                    values, degenerate = self._metric.values(part, self._arithmetic)
                scores = self._metric.sign * values
                for r in np.flatnonzero(degenerate):
                    scores[r] = self._sklearn(stored, part.ids[r])
                parts.append(scores)
        scores = np.concatenate(parts)
        if derivative:
            return scores, self._metric.sign * total / len(ids)
        return scores

    def _sklearn(self, stored: np.ndarray, ids: np.ndarray) -> float:
        replay = self._replay.with_responses({self.method: stored})
        if self._prep.sample_weight is None:
            return self._scorer(replay, ids, self._prep.y)
        return self._scorer(replay, ids, self._prep.y, sample_weight=self._prep.sample_weight)


def _float64_sums(*arrays: Any) -> bool:
    """Whether sklearn computes a regression metric of these arrays in float64.

    scikit-learn casts the targets, predictions and weights of a regression
    metric to their widest floating dtype (float64 when none is floating).
    float32 predictions with integer or float32 targets and weights are then
    summed in float32 (scikit-learn 1.6 and 1.7 summed some of them in
    float64). A float32 sum depends on the order of its terms in the 7th
    digit, so no vectorised sum equals it to 1e-12: such repeats go to
    scikit-learn's own scorer. Where the widest dtype is float64, every
    supported release casts to float64 first, as the vectorised path does.
    """
    floating = [np.asarray(a).dtype for a in arrays
                if a is not None and np.asarray(a).dtype.kind == "f"]
    if any(np.asarray(a).dtype.kind not in "biuf" for a in arrays if a is not None):
        return False
    return not floating or np.result_type(*floating) == np.float64


def check_fast_target(name: str, y: Any, *, what: str = "y") -> str | None:
    """Raise early where sklearn's scorer ``name`` cannot score targets like ``y``.

    Returns the target type when the vectorised path applies, None when the
    target needs sklearn's own (exact) path.

    Examples
    --------
    >>> from sklearn_depict.stats.fast_scoring import check_fast_target
    >>> check_fast_target("roc_auc", [0, 1, 1, 0])
    'binary'
    >>> check_fast_target("roc_auc", [0, 1, 2])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: scoring='roc_auc' cannot score a multiclass y: ...
    """
    metric = FAST_SCORERS[name]
    y = np.asarray(y)
    target_type = type_of_target(y, input_name=what)
    supported = _CLASSIFICATION_TYPES if name in _MULTICLASS_AUC else metric.target_types
    if target_type in supported:
        if metric.numeric_target and y.dtype.kind not in "biuf":
            raise ValueError(
                f"scoring={name!r} is a regression metric and needs numeric "
                f"targets; {what} has dtype {y.dtype}. Encode the targets as numbers "
                "or pick a classification metric."
            )
        return target_type
    hint = _HINTS.get((name, target_type))
    fails = hint is not None or target_type == "unknown" or (
        target_type == "continuous" and not metric.numeric_target
    )
    if not fails:
        return None  # sklearn scores (or reports on) these targets itself
    raise ValueError(
        f"scoring={name!r} cannot score a {target_type} {what}: it expects a "
        f"{' or '.join(supported)} target; "
        f"{hint or 'pass targets of that type, or choose another scoring'}."
    )


def make_fast_scorer(name: str, *, replay: Any, y: Any, sample_weight: Any = None
                     ) -> FastScorer | None:
    """A :class:`FastScorer` for sklearn's scorer ``name``, or None.

    None means the exact path applies: the name has no vectorised version, or
    the targets or the model are of a kind it does not cover (multi-label,
    multi-output, a single class in ``y``...). Targets that the named scorer
    cannot score at all raise a ValueError here, before anything is generated.

    Parameters
    ----------
    name : str
        A scorer name from :func:`sklearn.metrics.get_scorer_names`.
    replay : estimator
        The stand-in estimator of :mod:`sklearn_depict.stats.replay` (its
        ``classes_`` and available prediction methods matter).
    y : array-like of shape (n_rows,)
        The targets of the scored rows.
    sample_weight : array-like of shape (n_rows,), default=None

    Returns
    -------
    scorer : FastScorer or None
    """
    if name not in FAST_SCORERS:
        return None
    metric = FAST_SCORERS[name]
    y = np.asarray(y)
    if y.ndim != 1 or check_fast_target(name, y) is None:
        return None
    classes = getattr(replay, "classes_", None)
    n_classes = None if classes is None else len(classes)
    if name in _MULTICLASS_AUC:
        if n_classes == 2:
            metric = _BINARY_AUC
        elif sample_weight is not None and "ovo" in name:
            raise ValueError(
                f"scoring={name!r} does not support sample_weight (sklearn's one-vs-one "
                "ROC AUC is unweighted); use 'roc_auc_ovr' or drop sample_weight."
            )
    if name in ("roc_auc", "average_precision", "f1") and n_classes not in (None, 2):
        return None
    if isinstance(metric, _AveragePrecision) and n_classes == 2 and _index(classes, 1) is None:
        raise ValueError(
            f"scoring={name!r} scores the positive label 1, which is not among the "
            f"model's classes {list(classes)}; use make_scorer(average_precision_score, "
            "pos_label=..., response_method='predict_proba')."
        )
    prep = _Prepared(y, sample_weight, classes)
    if name == "f1" and len(prep.labels) == 2 and 1 not in prep.labels.tolist():
        raise ValueError(
            f"scoring='f1' scores the positive label 1, but y holds "
            f"{prep.labels.tolist()}; use make_scorer(f1_score, pos_label=...)."
        )
    if (isinstance(metric, (_LogLoss, _MulticlassRocAuc)) and n_classes is not None
            and n_classes != len(prep.labels)):
        raise ValueError(
            f"scoring={name!r} needs every one of the model's {n_classes} classes in y, "
            f"but the scored rows hold {len(prep.labels)} ({prep.labels.tolist()}). "
            "Score more rows (max_samples), or pass a scorer told the labels, such as "
            "make_scorer(log_loss, labels=..., response_method='predict_proba', "
            "greater_is_better=False)."
        )
    if not metric.supports(prep, n_classes):
        return None
    scorer = get_scorer(name)
    try:
        (method,) = needed_methods(scorer, tuple(replay.available_methods), default=False)
    except AttributeError:
        return None
    return FastScorer(name, metric, method, scorer, replay, prep)


ROUNDING_TOLERANCE = 1e-12
"""Score differences within ``ROUNDING_TOLERANCE * max(1, |score|)`` are ties."""


def snap_rounding(differences: Any, score: Any) -> np.ndarray:
    """``differences`` with the ones within floating-point rounding set to 0.

    Two scores of the same predictions computed in a different order can
    differ in their last bits (1e-16 for an AUROC). Such a difference is no
    evidence of reliance; counted as a drop it would give a p-value of 0.001.
    A difference within ``ROUNDING_TOLERANCE * max(1, |score|)`` is a tie. The
    tolerance sits far below any difference a metric can show on real data
    (an AUROC moves by at least ``1 / (n_positive * n_negative)``), and below
    the 1e-12 to which the results equal scikit-learn's.

    Parameters
    ----------
    differences : array-like
        Importances (score drops) or bootstrap replicates of them.
    score : float or array-like
        The score they are differences of (the baseline), broadcast against
        ``differences``.

    Returns
    -------
    snapped : ndarray of float

    Examples
    --------
    >>> from sklearn_depict.stats.fast_scoring import snap_rounding
    >>> snap_rounding([1.1e-16, -2.2e-16, 0.004], 0.83)
    array([0.   , 0.   , 0.004])
    """
    snapped = np.array(differences, dtype=float)
    with np.errstate(invalid="ignore"):
        tolerance = ROUNDING_TOLERANCE * np.maximum(1.0, np.abs(np.asarray(score, float)))
        snapped[np.abs(snapped) <= tolerance] = 0.0
    return snapped


@dataclass(frozen=True)
class ScoringRoute:
    """How one metric of a run is scored.

    Attributes
    ----------
    exact : callable
        sklearn's scorer for this metric alone (the exact per-repeat path).
    scorer : FastScorer or None
        The vectorised scorer for the scored rows, when there is one.
    full : FastScorer or None
        The same for all rows (the baseline), used by the bootstrap.
    metric : str or None
        sklearn's name of the metric (``"accuracy"`` or ``"r2"`` for the
        default score), for its chance level; None for a scorer object or
        callable.
    """

    exact: Any
    scorer: FastScorer | None = None
    full: FastScorer | None = None
    metric: str | None = None


def fast_scorers(scoring: Any, replay: Any, y: np.ndarray, sample_weight: np.ndarray | None,
                 rows: np.ndarray) -> dict[Any, ScoringRoute]:
    """Route each metric of ``scoring`` to its vectorised scorer or the exact path.

    Names are recognised as strings only; ``scoring=None`` is the default
    accuracy (classifiers) or R² (regressors). Raises a ValueError, before
    anything is generated, when a named scorer cannot score these targets.

    Parameters
    ----------
    scoring : str, callable, list, tuple, dict or None
        As passed to :func:`depict_importance`.
    replay : estimator
        The stand-in estimator.
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    rows : ndarray of shape (n_scored,)
        The rows scored after permutation.

    Returns
    -------
    routes : dict
        From metric name (None for a single metric) to :class:`ScoringRoute`.
    """
    if scoring is None or isinstance(scoring, str) or callable(scoring):
        entries = {None: scoring}
    elif isinstance(scoring, dict):
        entries = dict(scoring)
    else:
        entries = {name: name for name in scoring}
    routes = {}
    for key, value in entries.items():
        exact = check_scoring(replay, scoring=value)
        name = value
        if value is None:
            name = "accuracy" if is_classifier(replay) else "r2"
        metric = name if isinstance(name, str) else None
        route = ScoringRoute(exact, metric=metric)
        if isinstance(name, str) and name in FAST_SCORERS:
            w_scored = None if sample_weight is None else sample_weight[rows]
            try:
                full = make_fast_scorer(name, replay=replay, y=y, sample_weight=sample_weight)
                scored = make_fast_scorer(name, replay=replay, y=y[rows],
                                          sample_weight=w_scored)
                route = ScoringRoute(exact, scorer=scored, full=full, metric=metric)
            except ValueError:
                if value is not None:
                    raise
                # the default score goes its own way (route stays exact)
        routes[key] = route
    return routes


class _Item:
    """One metric of a scorer that returns a dict of them."""

    def __init__(self, scorer: Any, name: str):
        self.scorer = scorer
        self.name = name

    def __call__(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> Any:
        return self.scorer(estimator, X, y, **kwargs)[self.name]

    def __repr__(self) -> str:
        return f"{self.scorer!r}[{self.name!r}]"


def split_route(route: ScoringRoute, names: list[str]) -> dict[str, ScoringRoute]:
    """One exact route per metric of a callable that returns a dict of them."""
    return {name: ScoringRoute(_Item(route.exact, name)) for name in names}
