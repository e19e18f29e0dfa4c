"""The ranking metrics of :mod:`sklearn_depict.stats.fast_scoring`: ROC AUC and average precision.

They rank the distinct predictions once and then only count, per repeat, the
weight of each class at each rank; ties between a positive and a negative
count one half, as the trapezoid under sklearn's ROC curve does.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from ._fast_metrics import Gathered, _Metric


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

