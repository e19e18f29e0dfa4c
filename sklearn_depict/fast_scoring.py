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
:mod:`sklearn_depict.row_bootstrap` computes bootstrap intervals without
rescoring.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
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
    "split_routes",
]

_CLASSIFICATION_TYPES = ("binary", "multiclass")
# How to score targets that a named scorer refuses.
_HINTS = {
    ("roc_auc", "multiclass"): "use scoring='roc_auc_ovr' or 'roc_auc_ovo' for multi-class "
    "targets",
    ("f1", "multiclass"): "use scoring='f1_macro', 'f1_micro' or 'f1_weighted' for "
    "multi-class targets",
}


# ------------------------------------------------------------------ building blocks


class Gathered:
    """Predictions of many repeats, kept as distinct values and the ids to gather.

    ``Gathered(values, ids).matrix`` is ``values[ids]``, of shape (n_repeats,
    n_rows, ...). Rank metrics never build it: they rank the few distinct
    values once and count per repeat.

    Parameters
    ----------
    values : ndarray of shape (n_ids, ...)
        One prediction per distinct image.
    ids : ndarray of int, shape (n_repeats, n_rows)
        The image each row shows in each repeat.
    """

    def __init__(self, values: np.ndarray, ids: np.ndarray):
        self.values = values
        self.ids = ids

    @property
    def matrix(self) -> np.ndarray:
        return self.values[self.ids]

    def take(self, values: np.ndarray | None = None, rows: Any = slice(None)) -> Gathered:
        """The same ids over other per-id values, or a subset of the rows."""
        return Gathered(self.values if values is None else values, self.ids[:, rows])

    def codes(self) -> tuple[np.ndarray, int]:
        """Dense ranks of the gathered values (ties share a code) and their number."""
        used = np.zeros(len(self.values), dtype=bool)
        used[self.ids.ravel()] = True
        code_of_id = np.zeros(len(self.values), dtype=np.intp)
        distinct, code_of_id[used] = np.unique(self.values[used], return_inverse=True)
        return code_of_id[self.ids], len(distinct)


def _histograms(
    codes: np.ndarray, n_codes: int, weights: np.ndarray | None, positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per repeat, the weight of the negative and of the positive rows at each code.

    Returns the flat index of every (repeat, row) into a (n_repeats, n_codes)
    table, and the two tables. ``weights=None`` counts rows (exact integers).
    """
    n_repeats = codes.shape[0]
    size = n_repeats * n_codes
    flat = codes + (np.arange(n_repeats) * n_codes)[:, None]
    # Positives count in a second table after the first: both stay contiguous.
    keys = (flat + np.where(positive, size, 0)).ravel()
    w = None if weights is None else np.broadcast_to(weights, codes.shape).ravel()
    table = np.bincount(keys, weights=w, minlength=2 * size).reshape(2, n_repeats, n_codes)
    return flat, table[0], table[1]


def _auc_parts(
    scores: Gathered, positive: np.ndarray, weights: np.ndarray | None, contributions: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Weighted ROC AUC of every repeat against one label vector.

    AUC is the weighted probability that a positive outscores a negative, ties
    counting one half: with the distinct scores ranked once, each repeat only
    needs the weight of each class at each rank and a cumulative sum.

    Parameters
    ----------
    scores : Gathered
        One score per row and repeat.
    positive : ndarray of bool, shape (n_rows,)
    weights : ndarray of shape (n_rows,) or None
        None weighs every row 1 (and keeps every sum an exact integer).
    contributions : bool
        Also return the derivative of the AUC with respect to each row's
        weight, averaged over the repeats: ``w_i (U_i - AUC) / W_i`` with
        ``U_i`` the weighted fraction of the other class that row ``i`` beats
        (DeLong's placement value) and ``W_i`` the total weight of its class.

    Returns
    -------
    auc : ndarray of shape (n_repeats,)
    derivative : ndarray of shape (n_rows,) or None
    """
    codes, n_codes = scores.codes()
    negative = ~positive
    w = np.ones(len(positive)) if weights is None else weights
    total_pos, total_neg = w[positive].sum(), w[negative].sum()
    flat, neg_at, pos_at = _histograms(codes, n_codes, weights, positive)
    # Twice (negatives below + half the tied ones): integers when unweighted.
    beaten = np.cumsum(neg_at, axis=1)
    beaten *= 2
    beaten -= neg_at
    auc = np.einsum("ij,ij->i", pos_at, beaten) / (2 * total_pos * total_neg)
    if not contributions:
        return auc, None
    above = np.cumsum(pos_at, axis=1)
    above *= -2
    above += pos_at
    above += np.asarray(2 * total_pos).astype(above.dtype)  # an integer when unweighted
    placement = np.empty(len(positive))
    placement[positive] = beaten.ravel()[flat[:, positive]].mean(axis=0) / (2 * total_neg)
    placement[negative] = above.ravel()[flat[:, negative]].mean(axis=0) / (2 * total_pos)
    own_total = np.where(positive, total_pos, total_neg)
    return auc, w * (placement - auc.mean()) / own_total


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

    ``response`` turns the per-image outputs of the prediction method into
    what sklearn's scorer passes to its metric (None: not covered, use the
    exact path). ``values`` gives the metric (without the scorer's sign) of
    every repeat and a mask of repeats that must go to sklearn instead;
    ``derivative`` gives d metric / d row weight, averaged over the repeats.
    """

    sign = 1.0
    target_types: tuple[str, ...] = _CLASSIFICATION_TYPES
    numeric_target = False

    def supports(self, prep: _Prepared, n_classes: int | None) -> bool:
        return True

    def response(self, values: np.ndarray, prep: _Prepared) -> np.ndarray | None:
        return values if values.ndim == 1 else None

    def values(self, pred: Gathered, prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def derivative(self, pred: Gathered, prep: _Prepared) -> np.ndarray:
        raise NotImplementedError

    def values_and_derivative(
        self, pred: Gathered, prep: _Prepared
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values, degenerate = self.values(pred, prep)
        return values, degenerate, self.derivative(pred, prep)


class _MeanLoss(_Metric):
    """Metrics that average a per-row loss: the weighted mean of ``loss``."""

    def loss(self, pred: Gathered, prep: _Prepared) -> np.ndarray:
        raise NotImplementedError

    def values(self, pred, prep):
        loss = self.loss(pred, prep)
        if prep.sample_weight is None:
            value = loss.mean(axis=1)
        else:
            value = np.average(loss, axis=1, weights=prep.sample_weight)
        return np.asarray(value, dtype=float), np.zeros(len(loss), dtype=bool)

    def derivative(self, pred, prep):
        loss = self.loss(pred, prep).astype(float)
        value = np.average(loss, axis=1, weights=prep.weights)
        return prep.weights * (loss.mean(axis=0) - value.mean()) / prep.weights.sum()


class _Accuracy(_MeanLoss):
    def loss(self, pred, prep):
        return pred.matrix == prep.y


class _MeanSquaredError(_MeanLoss):
    sign = -1.0
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def loss(self, pred, prep):
        return (prep.y - pred.matrix) ** 2


class _MeanAbsoluteError(_MeanLoss):
    sign = -1.0
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def loss(self, pred, prep):
        return np.abs(pred.matrix - prep.y)


class _LogLoss(_MeanLoss):
    sign = -1.0

    def supports(self, prep, n_classes):
        return n_classes is not None and n_classes == len(prep.labels)

    def response(self, values, prep):
        if values.ndim != 2 or values.dtype.kind != "f":
            return None
        # sklearn's scorer passes the positive column of a binary model and
        # log_loss rebuilds the other one as 1 - p.
        if values.shape[1] == 2:
            positive = values[:, 1]
            return np.column_stack([1 - positive, positive])
        return values

    def loss(self, pred, prep):
        eps = np.finfo(pred.values.dtype).eps
        # -log(clip(p)) of every image and class once, then a gather per row.
        minus_log = -np.log(np.clip(pred.values, eps, 1 - eps))
        return minus_log[pred.ids, prep.codes]

    def values(self, pred, prep):
        value, _ = super().values(pred, prep)
        # log_loss raises on values outside [0, 1] and warns on rows that do not
        # sum to one: such repeats go to sklearn.
        proba = pred.values
        eps = np.finfo(proba.dtype).eps
        bad = ~np.isclose(proba.sum(axis=1), 1, rtol=np.sqrt(eps))
        bad |= (proba > 1).any(axis=1) | (proba < 0).any(axis=1)
        return value, bad[pred.ids].any(axis=1)


class _R2(_Metric):
    target_types = ("continuous", "binary", "multiclass")
    numeric_target = True

    def supports(self, prep, n_classes):
        return len(prep.y) >= 2

    def _sums(self, pred, prep):
        w = prep.weights
        residual = prep.y - pred.matrix
        numerator = np.sum(w * residual**2, axis=1)
        centred = prep.y - np.average(prep.y, weights=prep.sample_weight)
        denominator = np.sum(w * centred**2)
        return residual, centred, numerator, denominator

    def values(self, pred, prep):
        _, _, numerator, denominator = self._sums(pred, prep)
        value = np.ones(len(numerator))
        if denominator != 0:
            value = 1 - numerator / denominator
        else:  # sklearn's force_finite: a perfect fit is 1, anything else 0
            value[numerator != 0] = 0.0
        return value, np.zeros(len(numerator), dtype=bool)

    def derivative(self, pred, prep):
        residual, centred, numerator, denominator = self._sums(pred, prep)
        if denominator == 0:
            return np.zeros(residual.shape[1])
        w = prep.weights
        return -(w * (residual**2).mean(axis=0)) / denominator + (
            numerator.mean() * w * centred**2 / denominator**2
        )


class _BalancedAccuracy(_Metric):
    def supports(self, prep, n_classes):
        # With one label, sklearn's confusion matrix warns about its shape.
        return len(prep.labels) >= 2

    def _counts(self, pred, prep):
        hits = (pred.matrix == prep.y) * prep.weights
        n_labels = len(prep.labels)
        per_class = np.zeros((len(hits), n_labels))
        for k in range(n_labels):
            per_class[:, k] = hits[:, prep.codes == k].sum(axis=1)
        support = np.bincount(prep.codes, weights=prep.weights, minlength=n_labels)
        return hits, per_class, support

    def values(self, pred, prep):
        _, per_class, support = self._counts(pred, prep)
        # sklearn warns about (and drops) predicted labels that y never holds
        # and classes without weight: such repeats go to sklearn.
        unknown = ~np.isin(pred.values, prep.labels)[pred.ids].all(axis=1)
        if (support == 0).any():
            unknown[:] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (per_class / support).mean(axis=1)
        return value, unknown

    def derivative(self, pred, prep):
        hits, per_class, support = self._counts(pred, prep)
        recall = per_class / support
        own = support[prep.codes]
        mean_recall = recall.mean(axis=0)[prep.codes]
        return (hits.mean(axis=0) - mean_recall * prep.weights) / own / len(prep.labels)


class _F1(_Metric):
    target_types = ("binary",)

    def supports(self, prep, n_classes):
        return len(prep.labels) == 2 and 1 in prep.labels.tolist()

    def _sums(self, pred, prep):
        w = prep.weights
        true = (prep.y == 1) * w
        predicted = (pred.matrix == 1) * w
        tp = np.sum(predicted * (prep.y == 1), axis=1)
        return true, predicted, tp, true.sum() + predicted.sum(axis=1)

    def values(self, pred, prep):
        _, _, tp, denominator = self._sums(pred, prep)
        outside = ~np.isin(pred.values, prep.labels)[pred.ids].all(axis=1)
        degenerate = outside | (denominator == 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * tp / denominator, degenerate

    def derivative(self, pred, prep):
        true, predicted, tp, denominator = self._sums(pred, prep)
        both = 2 * predicted * (prep.y == 1)
        return _ratio_derivative(2 * tp, denominator, both, true + predicted).mean(axis=0)


class _BinaryRanking(_Metric):
    """Ranking metrics of a binary model: one score column per row."""

    pos_label: Any = None  # None: the larger label of y_true, as label_binarize
    target_types = ("binary",)

    def supports(self, prep, n_classes):
        if n_classes not in (None, 2) or len(prep.labels) != 2:
            return False
        return self.pos_label is None or self.pos_label in prep.labels.tolist()

    def response(self, values, prep):
        if values.ndim == 2 and values.shape[1] == 2:
            column = 1 if self.pos_label is None else _index(prep.classes, self.pos_label)
            return None if column is None else values[:, column]
        if values.ndim == 1:
            # decision_function scores classes_[1]; sklearn flips it when the
            # positive label is classes_[0].
            if self.pos_label is not None and _index(prep.classes, self.pos_label) == 0:
                return -values
            return values
        return None

    def positive(self, prep):
        label = prep.labels[1] if self.pos_label is None else self.pos_label
        return prep.y == label


class _RocAuc(_BinaryRanking):
    def values(self, pred, prep):
        positive = self.positive(prep)
        auc, _ = _auc_parts(pred, positive, prep.sample_weight, False)
        # One class without weight: sklearn warns and returns NaN.
        empty = prep.weights[positive].sum() == 0 or prep.weights[~positive].sum() == 0
        return auc, np.full(len(auc), empty)

    def derivative(self, pred, prep):
        return _auc_parts(pred, self.positive(prep), prep.sample_weight, True)[1]

    def values_and_derivative(self, pred, prep):
        positive = self.positive(prep)
        auc, derivative = _auc_parts(pred, positive, prep.sample_weight, True)
        empty = prep.weights[positive].sum() == 0 or prep.weights[~positive].sum() == 0
        return auc, np.full(len(auc), empty), derivative


class _AveragePrecision(_BinaryRanking):
    pos_label = 1

    def _curve(self, pred, prep):
        # Thresholds run from the highest score down: reverse the codes.
        codes, n_codes = pred.codes()
        codes = n_codes - 1 - codes
        positive = self.positive(prep)
        flat, fp_at, tp_at = _histograms(codes, n_codes, prep.sample_weight, positive)
        all_at = fp_at + tp_at
        tps, seen = np.cumsum(tp_at, axis=1), np.cumsum(all_at, axis=1)
        precision = np.divide(tps, seen, out=np.zeros(tps.shape), where=seen > 0)
        total = prep.weights[positive].sum()
        ap = np.einsum("ij,ij->i", tp_at, precision) / total
        return flat, tp_at, seen, precision, total, positive, ap

    def values(self, pred, prep):
        *_, total, _, ap = self._curve(pred, prep)
        # No positive weight: sklearn warns and sets recall to 1.
        return ap, np.full(len(ap), total == 0)

    def derivative(self, pred, prep):
        flat, tp_at, seen, precision, total, positive, ap = self._curve(pred, prep)
        # AP = sum_t dTP_t * TP_t / (T * N_t): a row moves its own threshold's
        # dTP and every later threshold's cumulative TP_t and N_t.
        a = np.divide(tp_at, total * seen, out=np.zeros(tp_at.shape), where=seen > 0)
        later_a = np.cumsum(a[:, ::-1], axis=1)[:, ::-1]
        later_b = np.cumsum((a * precision)[:, ::-1], axis=1)[:, ::-1]
        def at(table: np.ndarray) -> np.ndarray:  # each row's threshold, averaged over repeats
            return table.ravel()[flat].mean(axis=0)

        own = at(precision) / total - ap.mean() / total
        return prep.weights * (positive * (own + at(later_a)) - at(later_b))


class _MulticlassRocAuc(_Metric):
    """OvR and OvO ROC AUC of a multi-class model on its probabilities."""

    target_types = ("multiclass",)

    def __init__(self, multi_class: str, average: str):
        self.multi_class = multi_class
        self.average = average

    def supports(self, prep, n_classes):
        return n_classes is not None and n_classes == len(prep.labels) > 2

    def response(self, values, prep):
        return values if values.ndim == 2 and values.dtype.kind == "f" else None

    def _parts(self, pred, prep, contributions):
        codes, w, n_labels = prep.codes, prep.weights, len(prep.labels)
        n_repeats, n = pred.ids.shape
        derivative = np.zeros(n) if contributions else None
        if self.multi_class == "ovr":
            prevalence = np.bincount(codes, weights=w, minlength=n_labels)
            share = (
                prevalence / prevalence.sum()
                if self.average == "weighted"
                else np.full(n_labels, 1 / n_labels)
            )
            scores = np.empty((n_repeats, n_labels))
            for k in range(n_labels):
                column = pred.take(pred.values[:, k])
                scores[:, k], d = _auc_parts(column, codes == k, prep.sample_weight,
                                             contributions)
                if contributions:
                    derivative += share[k] * d
            value = scores @ share
            if contributions and self.average == "weighted":
                # A row's weight also moves its class's prevalence.
                derivative += w * (scores.mean(axis=0)[codes] - value.mean()) / prevalence.sum()
            return value, derivative
        pairs = list(combinations(range(n_labels), 2))
        pair_scores = np.empty((n_repeats, len(pairs)))
        members = np.array([(codes == a) | (codes == b) for a, b in pairs])
        prevalence = members.mean(axis=1)
        share = (
            prevalence / prevalence.sum()
            if self.average == "weighted"
            else np.full(len(pairs), 1 / len(pairs))
        )
        for p, (a, b) in enumerate(pairs):
            mask = members[p]
            w_pair = None if prep.sample_weight is None else w[mask]
            auc_a, d_a = _auc_parts(pred.take(pred.values[:, a], mask), codes[mask] == a,
                                    w_pair, contributions)
            auc_b, d_b = _auc_parts(pred.take(pred.values[:, b], mask), codes[mask] == b,
                                    w_pair, contributions)
            pair_scores[:, p] = (auc_a + auc_b) / 2
            if contributions:
                derivative[mask] += share[p] * (d_a + d_b) / 2
        value = pair_scores @ share
        if contributions and self.average == "weighted":
            # A row's weight also moves the prevalence of the pairs it is in.
            d_prevalence = (members.T - prevalence) / n
            spread = (pair_scores - value[:, None]).mean(axis=0)
            derivative += d_prevalence @ spread / prevalence.sum()
        return value, derivative

    def values(self, pred, prep):
        value, _ = self._parts(pred, prep, False)
        # roc_auc_score raises when probabilities do not sum to one, and warns
        # (NaN) for a one-vs-rest split where one side has no weight.
        degenerate = (~np.isclose(1, pred.values.sum(axis=1)))[pred.ids].any(axis=1)
        support = np.bincount(prep.codes, weights=prep.weights, minlength=len(prep.labels))
        if self.multi_class == "ovr" and ((support == 0) | (support == support.sum())).any():
            degenerate[:] = True
        return value, degenerate

    def derivative(self, pred, prep):
        return self._parts(pred, prep, True)[1]


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

    def __repr__(self) -> str:
        return f"FastScorer({self.name!r}, method={self.method!r})"

    def _gathered(self, stored: np.ndarray, ids: Any) -> Gathered | None:
        stored = np.asarray(stored)
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] != len(self._prep.y):
            raise ValueError(
                f"Expected ids of shape (n_repeats, {len(self._prep.y)}), got {ids.shape}."
            )
        if self._metric.numeric_target and stored.dtype.kind not in "biuf":
            return None
        values = self._metric.response(stored, self._prep)
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
        >>> from sklearn_depict._replay import make_replay
        >>> from sklearn_depict.fast_scoring import make_fast_scorer
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
                    values, degenerate, d = self._metric.values_and_derivative(part, self._prep)
                    total += np.asarray(d, dtype=float) * len(part.ids)
                else:
                    values, degenerate = self._metric.values(part, self._prep)
                scores = self._metric.sign * values
                for r in np.flatnonzero(degenerate):
                    scores[r] = self._sklearn(stored, part.ids[r])
                parts.append(scores)
        scores = np.concatenate(parts)
        if derivative:
            return scores, self._metric.sign * total / len(ids)
        return scores

    def _sklearn(self, stored: np.ndarray, ids: np.ndarray) -> float:
        replay = copy.copy(self._replay)
        replay.responses_ = {self.method: stored}
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
    derivatives : list of ndarray
        Filled while scoring when the bootstrap needs them: per concept, d
        score / d row weight averaged over the repeats.
    verified : bool
        True once a repeat scored by ``scorer`` matched sklearn's own scorer.
    """

    exact: Any
    scorer: FastScorer | None = None
    full: FastScorer | None = None
    derivatives: list = field(default_factory=list)
    verified: bool = False


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


class _Item:
    """One metric of a scorer that returns a dict of them."""

    def __init__(self, scorer: Any, name: str):
        self.scorer = scorer
        self.name = name

    def __call__(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> Any:
        return self.scorer(estimator, X, y, **kwargs)[self.name]

    def __repr__(self) -> str:
        return f"{self.scorer!r}[{self.name!r}]"


def split_routes(routes: dict[Any, ScoringRoute], names: list[str]) -> None:
    """Give each metric of a dict-returning callable its own (exact) route, in place."""
    if None in routes and names:
        whole = routes.pop(None)
        routes.update({name: ScoringRoute(_Item(whole.exact, name)) for name in names})
