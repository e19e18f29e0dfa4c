"""Exact, vectorised versions of scikit-learn's named scorers.

Every (concept, repeat) score of a run is a gather of stored predictions.
Calling a sklearn scorer once per repeat spends most of its time validating
its input again; at the paper's 500 repeats that is 90% of a run. The scorers
here take the gathered predictions of all repeats at once, a (repeats, rows)
or (repeats, rows, classes) array, and return the score of every repeat with
one array computation; the labels and weights are prepared once.

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
:mod:`sklearn_depict.row_bootstrap` computes bootstrap intervals without
rescoring.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring, get_scorer
from sklearn.utils.multiclass import type_of_target

from ._replay import needed_methods

__all__ = [
    "FAST_SCORERS",
    "FastScorer",
    "ScoringRoute",
    "check_fast_target",
    "fast_scorers",
    "make_fast_scorer",
]

_CLASSIFICATION_TYPES = ("binary", "multiclass")


# ------------------------------------------------------------------ building blocks


def _auc_parts(
    scores: np.ndarray, positive: np.ndarray, weights: np.ndarray, contributions: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Weighted ROC AUC of every row of ``scores`` against one label vector.

    AUC is the weighted probability that a positive outscores a negative, ties
    counting one half; sorting each repeat once and summing the weights of each
    run of tied scores gives it in O(n log n) per repeat for all repeats at once.

    Parameters
    ----------
    scores : ndarray of shape (n_repeats, n_rows)
    positive : ndarray of bool, shape (n_rows,)
    weights : ndarray of shape (n_rows,)
    contributions : bool
        Also return the derivative of each repeat's AUC with respect to each
        row's weight, ``w_i (U_i - AUC) / W_i`` with ``U_i`` the weighted
        fraction of the other class that row ``i`` beats (DeLong's placement
        value) and ``W_i`` the total weight of its own class.

    Returns
    -------
    auc : ndarray of shape (n_repeats,)
    derivative : ndarray of shape (n_repeats, n_rows) or None
    """
    n_repeats, n = scores.shape
    order = np.argsort(scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    w_pos = np.where(positive, weights, 0.0)
    w_neg = np.where(positive, 0.0, weights)
    total_pos, total_neg = w_pos.sum(), w_neg.sum()
    starts = np.ones((n_repeats, n), dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    group = np.cumsum(starts.ravel()) - 1
    n_groups = group[-1] + 1
    pos_in = np.bincount(group, weights=w_pos[order].ravel(), minlength=n_groups)
    neg_in = np.bincount(group, weights=w_neg[order].ravel(), minlength=n_groups)
    first = group.reshape(n_repeats, n)[:, 0]
    row_of_group = np.repeat(np.arange(n_repeats), np.diff(np.append(first, n_groups)))
    # Weight of negatives scored strictly below each group, within its repeat.
    neg_before = np.cumsum(neg_in) - neg_in
    neg_below = neg_before - neg_before[first][row_of_group]
    beaten = neg_below + 0.5 * neg_in
    auc = np.bincount(row_of_group, weights=pos_in * beaten, minlength=n_repeats)
    auc = auc / (total_pos * total_neg)
    if not contributions:
        return auc, None
    pos_before = np.cumsum(pos_in) - pos_in
    pos_below = pos_before - pos_before[first][row_of_group]
    pos_above = total_pos - pos_below - pos_in
    flat_group = group.reshape(n_repeats, n)
    placement = np.where(
        positive[order],
        beaten[flat_group] / total_neg,
        (pos_above + 0.5 * pos_in)[flat_group] / total_pos,
    )
    own_total = np.where(positive[order], total_pos, total_neg)
    derivative_sorted = weights[order] * (placement - auc[:, None]) / own_total
    derivative = np.empty_like(derivative_sorted)
    np.put_along_axis(derivative, order, derivative_sorted, axis=1)
    return auc, derivative


def _ratio_derivative(
    numerator: np.ndarray, denominator: np.ndarray, d_num: np.ndarray, d_den: np.ndarray
) -> np.ndarray:
    """d(A/D)/dw_i = (a_i - (A/D) d_i) / D, for A and D linear in the weights."""
    value = numerator / denominator
    return (d_num - value[:, None] * d_den) / denominator[:, None]


class _Prepared:
    """Labels and weights of the scored rows, prepared once per run."""

    def __init__(self, y: np.ndarray, sample_weight: np.ndarray | None, classes: Any):
        self.y = y
        self.sample_weight = sample_weight
        self.weights = (
            np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        )
        self.classes = None if classes is None else np.asarray(classes)
        self.labels, self.codes = np.unique(y, return_inverse=True)
        self.codes = self.codes.ravel()


# ----------------------------------------------------------------------- the metrics


class _Metric:
    """One of sklearn's named scorers.

    Subclasses implement ``values``: the metric (without the scorer's sign) of
    every repeat, and a mask of repeats that must go to sklearn instead, and
    ``derivative``: d score / d row weight per repeat.
    """

    sign = 1.0
    target_types: tuple[str, ...] = _CLASSIFICATION_TYPES
    numeric_target = False

    def supports(self, prep: _Prepared, n_classes: int | None) -> bool:
        return True

    def response(self, raw: np.ndarray, prep: _Prepared) -> np.ndarray | None:
        return raw if raw.ndim == 2 else None

    def values(self, y_pred: np.ndarray, prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def derivative(self, y_pred: np.ndarray, prep: _Prepared) -> np.ndarray:
        raise NotImplementedError


class _MeanLoss(_Metric):
    """Metrics that average a per-row loss: the weighted mean of ``loss``."""

    def loss(self, y_pred: np.ndarray, prep: _Prepared) -> np.ndarray:
        raise NotImplementedError

    def values(self, y_pred, prep):
        loss = self.loss(y_pred, prep)
        if prep.sample_weight is None:
            value = loss.mean(axis=1)
        else:
            value = np.average(loss, axis=1, weights=prep.sample_weight)
        return np.asarray(value, dtype=float), np.zeros(len(loss), dtype=bool)

    def derivative(self, y_pred, prep):
        loss = self.loss(y_pred, prep).astype(float)
        value = np.average(loss, axis=1, weights=prep.weights)
        return prep.weights * (loss - value[:, None]) / prep.weights.sum()


class _Accuracy(_MeanLoss):
    def loss(self, y_pred, prep):
        return y_pred == prep.y


class _MeanSquaredError(_MeanLoss):
    sign = -1.0
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def loss(self, y_pred, prep):
        return (prep.y - y_pred) ** 2


class _MeanAbsoluteError(_MeanLoss):
    sign = -1.0
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def loss(self, y_pred, prep):
        return np.abs(y_pred - prep.y)


class _LogLoss(_MeanLoss):
    sign = -1.0

    def supports(self, prep, n_classes):
        return n_classes is not None and n_classes == len(prep.labels)

    def response(self, raw, prep):
        if raw.ndim != 3 or raw.dtype.kind != "f":
            return None
        # sklearn's scorer passes the positive column of a binary model and
        # log_loss rebuilds the other one as 1 - p.
        if raw.shape[2] == 2:
            positive = raw[:, :, 1]
            return np.stack([1 - positive, positive], axis=2)
        return raw

    def bad_repeats(self, proba: np.ndarray) -> np.ndarray:
        # Out-of-range values raise and unnormalised rows warn in log_loss.
        eps = np.finfo(proba.dtype).eps
        total = proba.sum(axis=2)
        unnormalised = ~np.isclose(total, 1, rtol=np.sqrt(eps)).all(axis=1)
        out_of_range = (proba.max(axis=(1, 2)) > 1) | (proba.min(axis=(1, 2)) < 0)
        return unnormalised | out_of_range

    def loss(self, y_pred, prep):
        eps = np.finfo(y_pred.dtype).eps
        picked = np.take_along_axis(y_pred, prep.codes[None, :, None], axis=2)[:, :, 0]
        return -np.log(np.clip(picked, eps, 1 - eps))

    def values(self, y_pred, prep):
        value, _ = super().values(y_pred, prep)
        return value, self.bad_repeats(y_pred)


class _R2(_Metric):
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def supports(self, prep, n_classes):
        return len(prep.y) >= 2

    def _sums(self, y_pred, prep):
        w = prep.weights
        residual = prep.y - y_pred
        numerator = np.sum(w * residual**2, axis=1)
        centred = prep.y - np.average(prep.y, weights=prep.sample_weight)
        denominator = np.sum(w * centred**2)
        return residual, centred, numerator, denominator

    def values(self, y_pred, prep):
        _, _, numerator, denominator = self._sums(y_pred, prep)
        value = np.ones(len(y_pred))
        if denominator != 0:
            value = 1 - numerator / denominator
        else:  # sklearn's force_finite: a perfect fit is 1, anything else 0
            value[numerator != 0] = 0.0
        return value, np.zeros(len(y_pred), dtype=bool)

    def derivative(self, y_pred, prep):
        residual, centred, numerator, denominator = self._sums(y_pred, prep)
        if denominator == 0:
            return np.zeros(y_pred.shape)
        w = prep.weights
        return -(w * residual**2) / denominator + (
            numerator[:, None] * w * centred**2 / denominator**2
        )


class _BalancedAccuracy(_Metric):
    def _counts(self, y_pred, prep):
        hits = (y_pred == prep.y) * prep.weights
        n_labels = len(prep.labels)
        per_class = np.zeros((len(y_pred), n_labels))
        for k in range(n_labels):
            per_class[:, k] = hits[:, prep.codes == k].sum(axis=1)
        support = np.bincount(prep.codes, weights=prep.weights, minlength=n_labels)
        return hits, per_class, support

    def values(self, y_pred, prep):
        _, per_class, support = self._counts(y_pred, prep)
        unknown = ~np.isin(y_pred, prep.labels).all(axis=1)
        if (support == 0).any():  # sklearn warns and drops such classes
            unknown[:] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (per_class / support).mean(axis=1)
        return value, unknown

    def derivative(self, y_pred, prep):
        hits, per_class, support = self._counts(y_pred, prep)
        recall = per_class / support
        own = support[prep.codes]
        return (hits - recall[:, prep.codes] * prep.weights) / own / len(prep.labels)


class _F1(_Metric):
    target_types = ("binary",)

    def supports(self, prep, n_classes):
        return len(prep.labels) == 2 and 1 in prep.labels.tolist()

    def _sums(self, y_pred, prep):
        w = prep.weights
        true = (prep.y == 1) * w
        predicted = (y_pred == 1) * w
        tp = np.sum(predicted * (prep.y == 1), axis=1)
        return true, predicted, tp, true.sum() + predicted.sum(axis=1)

    def values(self, y_pred, prep):
        _, _, tp, denominator = self._sums(y_pred, prep)
        outside = ~np.isin(y_pred, prep.labels).all(axis=1)
        degenerate = outside | (denominator == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * tp / denominator, degenerate

    def derivative(self, y_pred, prep):
        true, predicted, tp, denominator = self._sums(y_pred, prep)
        both = 2 * predicted * (prep.y == 1)
        return _ratio_derivative(2 * tp, denominator, both, true + predicted)


class _BinaryRanking(_Metric):
    """Ranking metrics of a binary model: one score column per row."""

    pos_label: Any = None  # None: the larger label of y_true, as label_binarize

    def supports(self, prep, n_classes):
        if n_classes not in (None, 2) or len(prep.labels) != 2:
            return False
        return self.pos_label is None or self.pos_label in prep.labels.tolist()

    def response(self, raw, prep):
        classes = prep.classes
        if raw.ndim == 3 and raw.shape[2] == 2:
            column = 1 if self.pos_label is None else _index(classes, self.pos_label)
            return None if column is None else raw[:, :, column]
        if raw.ndim == 2:
            # decision_function scores classes_[1]; sklearn flips them when the
            # positive label is classes_[0].
            if self.pos_label is not None and _index(classes, self.pos_label) == 0:
                return -raw
            return raw
        return None

    def positive(self, prep):
        label = prep.labels[1] if self.pos_label is None else self.pos_label
        return prep.y == label


class _RocAuc(_BinaryRanking):
    def values(self, y_pred, prep):
        auc, _ = _auc_parts(y_pred, self.positive(prep), prep.weights, False)
        return auc, self._degenerate(prep, len(y_pred))

    def _degenerate(self, prep, n):
        pos = self.positive(prep)
        empty = prep.weights[pos].sum() == 0 or prep.weights[~pos].sum() == 0
        return np.full(n, empty)

    def derivative(self, y_pred, prep):
        return _auc_parts(y_pred, self.positive(prep), prep.weights, True)[1]


class _AveragePrecision(_BinaryRanking):
    pos_label = 1

    def _curve(self, y_pred, prep):
        positive = self.positive(prep)
        w = prep.weights
        order = np.argsort(-y_pred, axis=1, kind="stable")
        ranked = np.take_along_axis(y_pred, order, axis=1)
        n_repeats, n = y_pred.shape
        starts = np.ones((n_repeats, n), dtype=bool)
        starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
        group = (np.cumsum(starts.ravel()) - 1).reshape(n_repeats, n)
        tp_in = np.zeros(group[-1, -1] + 1)
        all_in = np.zeros_like(tp_in)
        np.add.at(tp_in, group.ravel(), (w * positive)[order].ravel())
        np.add.at(all_in, group.ravel(), w[order].ravel())
        first = group[:, 0]
        row = np.repeat(np.arange(n_repeats), np.diff(np.append(first, len(tp_in))))
        tp_cum = np.cumsum(tp_in)
        all_cum = np.cumsum(all_in)
        offset_tp = (tp_cum - tp_in)[first][row]
        offset_all = (all_cum - all_in)[first][row]
        tps, seen = tp_cum - offset_tp, all_cum - offset_all
        precision = np.divide(tps, seen, out=np.zeros_like(tps), where=seen > 0)
        total = (w * positive).sum()
        return order, group, row, tp_in, seen, precision, total, positive

    def values(self, y_pred, prep):
        _, _, row, tp_in, _, precision, total, _ = self._curve(y_pred, prep)
        ap = np.bincount(row, weights=tp_in * precision, minlength=len(y_pred)) / total
        return ap, np.full(len(y_pred), total == 0)

    def derivative(self, y_pred, prep):
        order, group, row, tp_in, seen, precision, total, positive = self._curve(y_pred, prep)
        ap = np.bincount(row, weights=tp_in * precision, minlength=len(y_pred)) / total
        # AP = sum_g dTP_g * TP_g / (T * N_g): each row moves its own group's
        # dTP and every later threshold's cumulative TP_g and N_g.
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(seen > 0, tp_in / (total * seen), 0.0)
            b = a * precision
        suffix_a = _suffix_sums(a, row)
        suffix_b = _suffix_sums(b, row)
        y_sorted = positive[order]
        w_sorted = prep.weights[order]
        own = precision[group] / total
        later = y_sorted * suffix_a[group] - suffix_b[group]
        sorted_derivative = w_sorted * (y_sorted * (own - ap[:, None] / total) + later)
        derivative = np.empty_like(sorted_derivative)
        np.put_along_axis(derivative, order, sorted_derivative, axis=1)
        return derivative


def _suffix_sums(values: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Sum of values[g:] within each group's repeat."""
    total = np.cumsum(values[::-1])[::-1]
    last = np.append(np.flatnonzero(np.diff(row)) + 1, len(row))  # end of each repeat
    after = np.append(total, 0.0)[last]
    return total - after[row]


class _MulticlassRocAuc(_Metric):
    """OvR and OvO ROC AUC of a multi-class model on its probabilities."""

    target_types = ("multiclass",)

    def __init__(self, multi_class: str, average: str):
        self.multi_class = multi_class
        self.average = average

    def supports(self, prep, n_classes):
        return n_classes is not None and n_classes == len(prep.labels) > 2

    def response(self, raw, prep):
        return raw if raw.ndim == 3 and raw.dtype.kind == "f" else None

    def _parts(self, proba, prep, contributions):
        codes, w, n_labels = prep.codes, prep.weights, len(prep.labels)
        n_repeats, n = proba.shape[:2]
        derivative = np.zeros((n_repeats, n)) if contributions else None
        if self.multi_class == "ovr":
            scores = np.empty((n_repeats, n_labels))
            for k in range(n_labels):
                scores[:, k], d = _auc_parts(proba[:, :, k], codes == k, w, contributions)
                if contributions:
                    derivative += d * self._class_weight(prep, k)
            if self.average == "weighted":
                prevalence = np.bincount(codes, weights=w, minlength=n_labels)
                value = scores @ prevalence / prevalence.sum()
                if contributions:
                    derivative = derivative + w * (scores[:, codes] - value[:, None]) / (
                        prevalence.sum()
                    )
            else:
                value = scores.mean(axis=1)
            return value, derivative
        pairs = list(combinations(range(n_labels), 2))
        pair_scores = np.empty((n_repeats, len(pairs)))
        prevalence = np.empty(len(pairs))
        for p, (a, b) in enumerate(pairs):
            mask = (codes == a) | (codes == b)
            prevalence[p] = np.average(mask)
            auc_a, d_a = _auc_parts(proba[:, mask, a], codes[mask] == a, w[mask], contributions)
            auc_b, d_b = _auc_parts(proba[:, mask, b], codes[mask] == b, w[mask], contributions)
            pair_scores[:, p] = (auc_a + auc_b) / 2
            if contributions:
                share = prevalence[p] / prevalence.sum() if self.average == "weighted" else (
                    1 / len(pairs)
                )
                derivative[:, mask] += share * (d_a + d_b) / 2
        if self.average == "weighted":
            value = pair_scores @ prevalence / prevalence.sum()
            if contributions:
                # Each row's weight also moves the prevalence of the pairs it is in.
                member = np.array([(codes == a) | (codes == b) for a, b in pairs]).T
                d_prev = (member - prevalence) / n
                derivative += (pair_scores - value[:, None]) @ d_prev.T / prevalence.sum()
        else:
            value = pair_scores.mean(axis=1)
        return value, derivative

    def _class_weight(self, prep, k):
        if self.average != "weighted":
            return 1 / len(prep.labels)
        prevalence = np.bincount(prep.codes, weights=prep.weights, minlength=len(prep.labels))
        return prevalence[k] / prevalence.sum()

    def values(self, y_pred, prep):
        value, _ = self._parts(y_pred, prep, False)
        unnormalised = ~np.isclose(1, y_pred.sum(axis=2)).all(axis=1)
        return value, unnormalised

    def derivative(self, y_pred, prep):
        return self._parts(y_pred, prep, True)[1]


def _index(classes: Any, label: Any) -> int | None:
    if classes is None:
        return None
    matches = np.flatnonzero(np.asarray(classes) == label)
    return int(matches[0]) if len(matches) else None


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

    def __repr__(self) -> str:
        return f"FastScorer({self.name!r}, method={self.method!r})"

    def _response(self, raw: np.ndarray) -> np.ndarray | None:
        raw = np.asarray(raw)
        if raw.ndim < 2 or raw.shape[1] != len(self._prep.y):
            raise ValueError(
                f"Expected predictions of shape (n_repeats, {len(self._prep.y)}, ...), "
                f"got {raw.shape}."
            )
        if self._metric.numeric_target and raw.dtype.kind not in "biuf":
            return None
        return self._metric.response(raw, self._prep)

    def score(self, raw: np.ndarray) -> np.ndarray:
        """The scorer's value for every repeat.

        Parameters
        ----------
        raw : ndarray of shape (n_repeats, n_rows) or (n_repeats, n_rows, n_classes)
            What ``method`` returned for the images each repeat shows, row by row.

        Returns
        -------
        scores : ndarray of shape (n_repeats,)
            With the scorer's sign (negative for losses such as ``neg_log_loss``).
        """
        y_pred = self._response(raw)
        if y_pred is None:
            return np.array([self._sklearn(raw[r]) for r in range(len(raw))])
        values, degenerate = self._metric.values(y_pred, self._prep)
        scores = self._metric.sign * values
        for r in np.flatnonzero(degenerate):
            scores[r] = self._sklearn(raw[r])
        return scores

    def derivative(self, raw: np.ndarray) -> np.ndarray | None:
        """d score / d weight of each row, for every repeat (None if unavailable).

        Parameters
        ----------
        raw : ndarray of shape (n_repeats, n_rows) or (n_repeats, n_rows, n_classes)

        Returns
        -------
        derivative : ndarray of shape (n_repeats, n_rows) or None
            With the scorer's sign. Exact for mean-type metrics (accuracy, the
            regression errors, log loss), first order for ratio and ranking
            metrics.
        """
        y_pred = self._response(raw)
        if y_pred is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            derivative = np.asarray(self._metric.derivative(y_pred, self._prep), dtype=float)
        return self._metric.sign * derivative

    def _sklearn(self, raw_repeat: np.ndarray) -> float:
        replay = copy.copy(self._replay)
        replay.responses_ = {self.method: raw_repeat}
        ids = np.arange(len(raw_repeat))
        if self._prep.sample_weight is None:
            return self._scorer(replay, ids, self._prep.y)
        return self._scorer(replay, ids, self._prep.y, sample_weight=self._prep.sample_weight)


def check_fast_target(name: str, y: Any, *, what: str = "y") -> str | None:
    """Raise early where sklearn's scorer ``name`` cannot score targets like ``y``.

    Returns the target type when the vectorised path applies, None when the
    target needs sklearn's own (exact) path.

    Examples
    --------
    >>> from sklearn_depict.fast_scoring import check_fast_target
    >>> check_fast_target("roc_auc", [0, 1, 1, 0])
    'binary'
    >>> check_fast_target("roc_auc", [0, 1, 2])
    Traceback (most recent call last):
    ...
    ValueError: scoring='roc_auc' cannot score a multiclass y: ...
    """
    metric = FAST_SCORERS[name]
    y = np.asarray(y)
    target_type = type_of_target(y, input_name=what)
    hints = {
        ("roc_auc", "multiclass"): "use scoring='roc_auc_ovr' or 'roc_auc_ovo' for "
        "multi-class targets",
        ("f1", "multiclass"): "use scoring='f1_macro', 'f1_micro' or 'f1_weighted' "
        "for multi-class targets",
        ("average_precision", "multiclass"): None,
    }
    if name in _MULTICLASS_AUC and target_type == "binary":
        return target_type
    if target_type in metric.target_types:
        if metric.numeric_target and y.dtype.kind not in "biuf":
            raise ValueError(
                f"scoring={name!r} is a regression metric and needs numeric "
                f"targets; {what} has dtype {y.dtype}. Encode the targets as numbers "
                "or pick a classification metric."
            )
        return target_type
    if target_type in ("multilabel-indicator", "continuous-multioutput",
                       "multiclass-multioutput") or (name, target_type) in hints and hints[
                           (name, target_type)] is None:
        return None  # sklearn handles (or reports) these itself
    if target_type == "unknown" or (
        not metric.numeric_target and target_type == "continuous"
    ) or (name, target_type) in hints:
        hint = hints.get((name, target_type)) or (
            "pass a target of a supported type, or another scoring"
        )
        expected = " or ".join(metric.target_types)
        if name in _MULTICLASS_AUC:
            expected = "binary or multiclass"
        raise ValueError(
            f"scoring={name!r} cannot score a {target_type} {what}: it expects a "
            f"{expected} target; {hint}."
        )
    return None


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
        The stand-in estimator of :mod:`sklearn_depict._replay` (its
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


@dataclass
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
    """

    exact: Any
    scorer: FastScorer | None = None
    full: FastScorer | None = None


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
        route = ScoringRoute(exact)
        if isinstance(name, str) and name in FAST_SCORERS:
            try:
                route.full = make_fast_scorer(name, replay=replay, y=y,
                                              sample_weight=sample_weight)
                w_scored = None if sample_weight is None else sample_weight[rows]
                route.scorer = make_fast_scorer(name, replay=replay, y=y[rows],
                                                sample_weight=w_scored)
            except ValueError:
                if value is not None:
                    raise
                route = ScoringRoute(exact)  # the default score goes its own way
        routes[key] = route
    return routes
