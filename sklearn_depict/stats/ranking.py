"""How sure is a ranking? Confidence intervals for mean importances, and ties.

``importances_std`` is the spread of the repeated permutations: it says how
much one permutation's drop varies, not how well ``importances_mean`` is known.
The uncertainty of the mean shrinks with the number of repeats; the intervals
here measure that (see scikit-learn issue 17815 on the difference).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

__all__ = ["STABILITY_MEASURES", "fold_agreement", "importance_intervals", "rank_with_ties"]


def importance_intervals(
    importances: Any,
    *,
    confidence: float = 0.95,
    method: str = "t",
    n_bootstrap: int = 2000,
    random_state: Any = None,
) -> np.ndarray:
    """Confidence interval of each concept's mean importance over repeats.

    Parameters
    ----------
    importances : array-like of shape (n_concepts, n_repeats)
        Raw importances, as in ``result.importances``.
    confidence : float, default=0.95
        Coverage of the interval.
    method : {"t", "bootstrap"}, default="t"
        ``"t"``: mean ± t quantile × standard error (std with ddof=1 over
        √n_repeats). ``"bootstrap"``: percentile interval of the mean over
        resampled repeats.
    n_bootstrap : int, default=2000
        Resamples for ``method="bootstrap"``.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap.

    Returns
    -------
    intervals : ndarray of shape (n_concepts, 2)
        Lower and upper bounds; NaN with a single repeat, where the spread of
        the mean cannot be estimated.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.stats.ranking import importance_intervals
    >>> importance_intervals(np.array([[0.1, 0.3, 0.2], [0.0, 0.0, 0.0]])).round(3)
    array([[-0.048,  0.448],
           [ 0.   ,  0.   ]])
    """
    values = np.asarray(importances, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"importances must be 2-D (n_concepts, n_repeats), got {values.shape}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}.")
    n_repeats = values.shape[1]
    if n_repeats < 2:
        return np.full((values.shape[0], 2), np.nan)
    mean = values.mean(axis=1)
    if method == "t":
        sem = values.std(axis=1, ddof=1) / np.sqrt(n_repeats)
        half = stats.t.ppf(0.5 + confidence / 2, df=n_repeats - 1) * sem
        return np.column_stack([mean - half, mean + half])
    if method == "bootstrap":
        rng = check_random_state(random_state)
        picks = rng.randint(0, n_repeats, size=(n_bootstrap, n_repeats))
        means = values[:, picks].mean(axis=2)
        alpha = (1 - confidence) / 2
        return np.column_stack(
            [np.quantile(means, alpha, axis=1), np.quantile(means, 1 - alpha, axis=1)]
        )
    raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}.")


def rank_with_ties(mean: Any, intervals: Any) -> tuple[np.ndarray, list[list[int]]]:
    """Rank concepts by mean importance and group those that cannot be told apart.

    Concepts are sorted by decreasing mean. Walking down that order, the first
    concept not yet placed leads a new group, and each following concept joins
    it while its interval overlaps the interval of *every* concept already in
    the group (on a line that is the same as overlapping their common part).
    The first concept that fails starts the next group. So every two concepts
    in one group have overlapping intervals, and groups never chain: two
    concepts with disjoint intervals are never in one group, however many
    concepts lie between them. Concepts in neighbouring groups may still
    overlap; a group says "the order inside is not established", not "every
    order outside is".

    A concept without an interval (NaN, as with a single repeat) gives no
    evidence of a difference: it joins the current group and leaves the
    group's common part as it was.

    Parameters
    ----------
    mean : array-like of shape (n_concepts,)
    intervals : array-like of shape (n_concepts, 2)

    Returns
    -------
    ranking : ndarray of shape (n_concepts,)
        1 for the most important concept.
    tie_groups : list of list of int
        Concept indices, from the most important group down; each group in
        decreasing order of mean.

    Examples
    --------
    >>> from sklearn_depict.stats.ranking import rank_with_ties
    >>> rank_with_ties([0.5, 0.1, 0.12], [[0.4, 0.6], [0.0, 0.2], [0.05, 0.19]])
    (array([1, 3, 2]), [[0], [2, 1]])

    A chain of overlaps does not join its ends: the first and the last
    interval are disjoint, so they land in different groups.

    >>> rank_with_ties([0.3, 0.2, 0.1], [[0.25, 0.35], [0.15, 0.27], [0.05, 0.17]])[1]
    [[0, 1], [2]]
    """
    mean = np.asarray(mean, dtype=float)
    intervals = np.asarray(intervals, dtype=float)
    order = np.argsort(-mean, kind="stable")
    ranking = np.empty(len(mean), dtype=int)
    ranking[order] = np.arange(1, len(mean) + 1)
    groups: list[list[int]] = []
    # The common part [common_low, common_high] of the current group's intervals.
    common_low, common_high = -np.inf, np.inf
    for index in order:
        low, high = intervals[index]
        if np.isnan(low) or np.isnan(high):
            if groups:
                groups[-1].append(int(index))
            else:
                groups.append([int(index)])
            continue
        if groups and low <= common_high and high >= common_low:
            groups[-1].append(int(index))
            common_low, common_high = max(common_low, low), min(common_high, high)
        else:
            groups.append([int(index)])
            common_low, common_high = low, high
    return ranking, groups


STABILITY_MEASURES = ("weighted_tau", "kendall_tau")


def fold_agreement(
    fold_importances: Any,
    fold_intervals: Any = None,
    *,
    measure: str = "weighted_tau",
) -> tuple[float, np.ndarray]:
    """How well folds agree on the ranking of the concepts that matter.

    With ``measure="weighted_tau"`` only the concepts that matter are compared:
    each fold's most important concept, and every concept whose interval lies
    above zero in at least one fold. Their order is compared between every two
    folds with :func:`scipy.stats.weightedtau` (hyperbolic weights, so a swap
    at the top counts more than one further down), and the mean is returned.
    Concepts that no fold tells apart from zero are noise: their order does
    not count. A single concept that matters, the same one on top in every
    fold, is full agreement (1.0).

    ``measure="kendall_tau"`` is the plain mean pairwise Kendall tau over all
    concepts, where reordered noise weighs as much as a swap at the top.

    Parameters
    ----------
    fold_importances : array-like of shape (n_folds, n_concepts)
        Each fold's mean importances.
    fold_intervals : array-like of shape (n_folds, n_concepts, 2), default=None
        Each fold's intervals of the mean importance. None, or NaN bounds (a
        single repeat), shows no concept above zero: then only each fold's top
        concept is compared.
    measure : {"weighted_tau", "kendall_tau"}, default="weighted_tau"

    Returns
    -------
    agreement : float
        Mean over pairs of folds, in [-1, 1]; NaN with fewer than two folds.
    compared : ndarray of int
        Indices of the concepts compared, in increasing order.

    Examples
    --------
    Two concepts matter and keep their order; the four null ones reorder.

    >>> import numpy as np
    >>> from sklearn_depict.stats.ranking import fold_agreement
    >>> folds = np.array([[0.30, 0.20, 0.01, -0.01, 0.00, 0.02],
    ...                   [0.28, 0.22, -0.02, 0.01, 0.02, 0.00]])
    >>> intervals = np.stack([folds - 0.03, folds + 0.03], axis=-1)
    >>> agreement, compared = fold_agreement(folds, intervals)
    >>> float(agreement), compared.tolist()
    (1.0, [0, 1])
    >>> round(float(fold_agreement(folds, measure="kendall_tau")[0]), 2)
    0.47
    """
    importances = np.asarray(fold_importances, dtype=float)
    if importances.ndim != 2:
        raise ValueError(
            f"fold_importances must be 2-D (n_folds, n_concepts), got {importances.shape}."
        )
    if measure not in STABILITY_MEASURES:
        raise ValueError(f"measure must be one of {STABILITY_MEASURES}, got {measure!r}.")
    n_folds, n_concepts = importances.shape
    if measure == "kendall_tau":
        compared = np.arange(n_concepts)
    else:
        matters = np.zeros(n_concepts, dtype=bool)
        scored = np.isfinite(importances).any(axis=1)  # a fold of NaN has no top
        top = np.argmax(np.where(np.isnan(importances), -np.inf, importances)[scored],
                           axis=1)
        matters[top] = True
        if fold_intervals is not None:
            lows = np.asarray(fold_intervals, dtype=float)[..., 0]
            matters |= np.any(lows > 0, axis=0)  # NaN > 0 is False
        compared = np.flatnonzero(matters)
    if n_folds < 2:
        return np.nan, compared
    if len(compared) < 2:
        # The same single concept on top in every fold, nothing else above zero.
        return 1.0, compared
    values = importances[:, compared]
    correlate = stats.weightedtau if measure == "weighted_tau" else stats.kendalltau
    finite = np.isfinite(values).all(axis=1)
    pairs = [correlate(values[a], values[b]).statistic if finite[a] and finite[b] else np.nan
             for a in range(n_folds) for b in range(a + 1, n_folds)]
    pairs = np.asarray(pairs, dtype=float)
    # A fold with NaN importances, or a constant one (every importance equal),
    # has no order: its pairs are NaN, left out.
    return (float(np.nanmean(pairs)) if np.isfinite(pairs).any() else np.nan), compared
