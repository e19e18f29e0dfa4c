"""Row-bootstrap intervals and p-values of mean importances.

A DEPICT importance is measured on one evaluation set; another set of images
from the same population would give another number. The paper reports 95%
bootstrapped intervals over the evaluation set. The stored predictions of a
run make that bootstrap free of generation and prediction: resampling rows
(with replacement) only reweights the rows whose predictions are already
known. Every replicate here is one multinomial draw of row counts, shared by
all concepts and all repeats, so concepts are compared on the same resamples.

For sklearn's named scorers (see :mod:`sklearn_depict.stats.fast_scoring`) a
replicate's mean importance is computed from each row's contribution to the
score, its derivative with respect to the row's weight, averaged over the
repeats::

    m*_j = m_j + sum_i (c_i - 1) * (d_baseline_i - mean_r d_jr_i)

This is exact for the mean-type metrics (accuracy, log loss, squared and
absolute error) and first order for ratio and rank metrics (for ROC AUC the
contributions are DeLong's placement values). It costs one matrix product,
``n_bootstraps x n_rows x n_concepts``, whatever ``n_repeats`` is. For other
scorers each replicate rescores the resampled rows with the scorer itself,
for the baseline and for one repeat per concept (cycling through the repeats),
and shifts the replicate by that repeat's own change; this is conservative
(a single repeat varies more under resampling than the mean of many).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy import stats
from sklearn.utils import check_random_state

__all__ = [
    "bootstrap_counts",
    "exact_replicates",
    "holm_adjust",
    "linear_replicates",
    "percentile_intervals",
    "replicate_pvalues",
    "t_pvalues",
]

_CHUNK_ELEMENTS = 4_000_000


def bootstrap_counts(
    n_rows: int, n_bootstraps: int, random_state: Any
) -> Iterator[np.ndarray]:
    """Row counts of bootstrap resamples, in chunks of replicates.

    Each replicate draws ``n_rows`` rows with replacement; its row counts sum
    to ``n_rows``.

    Yields
    ------
    counts : ndarray of shape (n_chunk, n_rows)

    Examples
    --------
    >>> from sklearn_depict.stats.bootstrap import bootstrap_counts
    >>> counts = next(bootstrap_counts(5, 3, random_state=0))
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    """
    rng = check_random_state(random_state)
    step = max(1, _CHUNK_ELEMENTS // max(n_rows, 1))
    for start in range(0, n_bootstraps, step):
        size = min(step, n_bootstraps - start)
        picks = rng.randint(0, n_rows, size=(size, n_rows))
        offsets = (np.arange(size) * n_rows)[:, None]
        yield np.bincount((picks + offsets).ravel(), minlength=size * n_rows).reshape(
            size, n_rows
        )


def linear_replicates(
    mean: np.ndarray,
    baseline_derivative: np.ndarray,
    permuted_derivative: np.ndarray,
    rows: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Bootstrap replicates of mean importances from row contributions.

    Parameters
    ----------
    mean : ndarray of shape (n_concepts,)
        The mean importances of the run.
    baseline_derivative : ndarray of shape (n_samples,)
        d baseline score / d row weight, for every row.
    permuted_derivative : ndarray of shape (n_concepts, n_scored)
        d permuted score / d row weight, averaged over repeats, for the scored rows.
    rows : ndarray of shape (n_scored,)
        The scored rows (positions among the n_samples).
    counts : ndarray of shape (n_replicates, n_samples)
        Row counts of the resamples.

    Returns
    -------
    replicates : ndarray of shape (n_replicates, n_concepts)
    """
    shift = counts - 1.0
    return (
        mean[None, :]
        + (shift @ baseline_derivative)[:, None]
        - shift[:, rows] @ permuted_derivative.T
    )


def exact_replicates(
    mean: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
    n_repeats: int,
    baseline: float,
    permuted: np.ndarray,
    score_baseline: Callable[[np.ndarray], float],
    score_permuted: Callable[[int, int, np.ndarray], float],
    first: int = 0,
) -> np.ndarray:
    """Bootstrap replicates by rescoring resampled rows with the scorer itself.

    Replicate ``b`` rescores the baseline and repeat ``(first + b) % n_repeats``
    of every concept on the resampled rows, and shifts the mean importance by
    that repeat's change.

    Parameters
    ----------
    mean : ndarray of shape (n_concepts,)
    counts : ndarray of shape (n_replicates, n_samples)
    rows : ndarray of shape (n_scored,)
    n_repeats : int
    baseline : float
        The baseline score on all rows.
    permuted : ndarray of shape (n_concepts, n_repeats)
        The permuted scores.
    score_baseline : callable
        ``score_baseline(positions)`` scores the baseline on rows ``positions``
        (with repetitions) of the table.
    score_permuted : callable
        ``score_permuted(concept, repeat, positions)`` scores a permutation on
        positions among the scored rows.
    first : int, default=0
        Index of the first replicate, so that chunks cycle through the repeats.

    Returns
    -------
    replicates : ndarray of shape (n_replicates, n_concepts)
    """
    n_concepts = len(mean)
    replicates = np.empty((len(counts), n_concepts))
    everything = np.arange(counts.shape[1])
    scored = np.arange(len(rows))
    for b, count in enumerate(counts):
        repeat = (first + b) % n_repeats
        base = score_baseline(np.repeat(everything, count))
        positions = np.repeat(scored, count[rows])
        for j in range(n_concepts):
            drop = base - score_permuted(j, repeat, positions)
            replicates[b, j] = mean[j] + drop - (baseline - permuted[j, repeat])
    return replicates


def percentile_intervals(replicates: np.ndarray, confidence: float) -> np.ndarray:
    """Percentile intervals of each column of ``replicates``.

    Replicates that came out NaN (a resample with a single class, say) are
    left out.

    Returns
    -------
    intervals : ndarray of shape (n_concepts, 2)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.stats.bootstrap import percentile_intervals
    >>> percentile_intervals(np.arange(101.0)[:, None], 0.9)
    array([[ 5., 95.]])
    """
    alpha = (1 - confidence) / 2
    with np.errstate(invalid="ignore"):
        if np.isnan(replicates).all(axis=0).any():
            low = np.full(replicates.shape[1], np.nan)
            high = low.copy()
            ok = ~np.isnan(replicates).all(axis=0)
            if ok.any():
                low[ok] = np.nanquantile(replicates[:, ok], alpha, axis=0)
                high[ok] = np.nanquantile(replicates[:, ok], 1 - alpha, axis=0)
            return np.column_stack([low, high])
        return np.column_stack(
            [
                np.nanquantile(replicates, alpha, axis=0),
                np.nanquantile(replicates, 1 - alpha, axis=0),
            ]
        )


def replicate_pvalues(replicates: np.ndarray) -> np.ndarray:
    """One-sided bootstrap p-values of H0: mean importance <= 0.

    The share of replicates at or below 0, counted as ``(1 + k) / (1 + B)`` so
    that a p-value is never 0 (Davison and Hinkley, 1997). It inverts the
    percentile interval: the lower end of a two-sided ``1 - 2p`` interval is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.stats.bootstrap import replicate_pvalues
    >>> replicate_pvalues(np.array([[0.1, -0.2], [0.3, -0.1], [0.2, 0.1]])).round(3)
    array([0.25, 0.75])
    """
    valid = ~np.isnan(replicates)
    at_or_below = np.sum((replicates <= 0) & valid, axis=0)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_valid > 0, (1 + at_or_below) / (1 + n_valid), np.nan)


def t_pvalues(importances: np.ndarray) -> np.ndarray:
    """One-sided t-test over repeats of H0: mean importance <= 0.

    Like the t interval, it only measures the noise of the permutations. NaN
    with a single repeat; 1 when every repeat's importance is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.stats.bootstrap import t_pvalues
    >>> t_pvalues(np.array([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.1], [0.0, 0.0, 0.0]])).round(3)
    array([0.037, 0.5  , 1.   ])
    """
    values = np.asarray(importances, dtype=float)
    n_repeats = values.shape[1]
    if n_repeats < 2:
        return np.full(values.shape[0], np.nan)
    mean = values.mean(axis=1)
    sem = values.std(axis=1, ddof=1) / np.sqrt(n_repeats)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = mean / sem
    # No spread: every repeat gave the same drop. None at all (0 / 0) is no
    # evidence of reliance, p = 1; the same positive drop every time, p = 0.
    statistic[(sem == 0) & (mean == 0)] = -np.inf
    return stats.t.sf(statistic, df=n_repeats - 1)


def holm_adjust(pvalues: Any) -> np.ndarray:
    """Holm's step-down adjustment of p-values across concepts.

    Controls the family-wise error rate: the chance of calling any concept
    relied upon when none is. NaN p-values are left out and stay NaN.

    Examples
    --------
    >>> from sklearn_depict.stats.bootstrap import holm_adjust
    >>> holm_adjust([0.01, 0.04, 0.03, 0.5]).round(3)
    array([0.04, 0.09, 0.09, 0.5 ])
    """
    pvalues = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(pvalues, np.nan)
    valid = np.flatnonzero(~np.isnan(pvalues))
    order = valid[np.argsort(pvalues[valid], kind="stable")]
    m = len(order)
    scaled = (m - np.arange(m)) * pvalues[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted
