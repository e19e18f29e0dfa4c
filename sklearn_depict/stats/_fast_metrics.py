"""The building blocks of :mod:`sklearn_depict.stats.fast_scoring`, and its mean and count metrics.

Every metric here scores all repeats of a concept at once, from
:class:`Gathered` predictions and the labels and weights prepared once per run
(``_Prepared``): the metrics that average a per-row loss (accuracy, the
regression errors, log loss), R², and those that count hits per class
(balanced accuracy, F1). The ranking metrics are in
:mod:`sklearn_depict.stats._fast_ranking`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._sklearn_compat import log_loss_dtype

_CLASSIFICATION_TYPES = ("binary", "multiclass")


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
        clipped = np.clip(pred.values, eps, 1 - eps)
        # -log(clip(p)) of every image and class once, then a gather per row,
        # in the precision the installed scikit-learn takes the log in.
        minus_log = -np.log(clipped.astype(log_loss_dtype(clipped.dtype), copy=False))
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
