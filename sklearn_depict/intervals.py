"""Intervals, p-values, ranking and ties of a ``depict_importance`` result."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._engine.plan import ImportancePlan
from ._engine.score import snap_rounding
from ._replay import weighted_score
from .fast_scoring import ScoringRoute
from .progress import progress_bar
from .row_bootstrap import (
    bootstrap_counts,
    exact_replicates,
    holm_adjust,
    linear_replicates,
    percentile_intervals,
    replicate_pvalues,
    t_pvalues,
)
from .uncertainty import importance_intervals, rank_with_ties

__all__ = ["CI_METHODS", "IntervalSettings", "add_uncertainty"]

CI_METHODS = ("bootstrap", "t")


@dataclass
class IntervalSettings:
    """The interval parameters of :func:`depict_importance`.

    A RandomState (or None) is turned into one seed at creation, so every
    metric of a multi-metric run sees the same resamples.
    """

    confidence: float = 0.95
    method: str = "bootstrap"
    n_bootstraps: int = 1000
    random_state: Any = None
    correction: str | None = None

    def __post_init__(self) -> None:
        if self.method not in CI_METHODS:
            raise ValueError(f"ci_method must be one of {CI_METHODS}, got {self.method!r}.")
        if self.method == "bootstrap":
            self.random_state = check_random_state(self.random_state).randint(
                np.iinfo(np.int32).max + 1
            )


def add_uncertainty(
    bunch: Bunch,
    settings: IntervalSettings,
    *,
    plan: ImportancePlan,
    replay: Any,
    route: ScoringRoute,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    verbose: int = 0,
) -> None:
    """Add ``importances_ci``, ``pvalues``, ``ranking`` and ``tie_groups`` to ``bunch``.

    Parameters
    ----------
    bunch : Bunch
        One metric's result, with ``importances``, ``importances_mean`` and
        ``baseline_score``.
    settings : IntervalSettings
    plan : ImportancePlan
    replay : estimator
        The stand-in holding the stored predictions.
    route : ScoringRoute
        How this metric was scored.
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    verbose : int, default=0
    """
    if settings.method == "t":
        intervals = importance_intervals(bunch.importances, confidence=settings.confidence)
        pvalues = t_pvalues(bunch.importances)
    else:
        replicates = _bootstrap(bunch, settings, plan, replay, route, y, sample_weight, verbose)
        # A concept whose permutations change no prediction has replicates of
        # rounding size (row contributions summed in another order): they are
        # 0, so its interval is [0, 0] and its p-value 1.
        replicates = snap_rounding(replicates, bunch.baseline_score)
        intervals = percentile_intervals(replicates, settings.confidence)
        pvalues = replicate_pvalues(replicates)
    if settings.correction == "holm":
        pvalues = holm_adjust(pvalues)
    bunch.importances_ci = intervals
    bunch.pvalues = pvalues
    bunch.ci_method = settings.method
    bunch.ranking, groups = rank_with_ties(bunch.importances_mean, intervals)
    bunch.tie_groups = [[bunch.concept_names[i] for i in group] for group in groups]


def _bootstrap(
    bunch: Bunch,
    settings: IntervalSettings,
    plan: ImportancePlan,
    replay: Any,
    route: ScoringRoute,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    verbose: int,
) -> np.ndarray:
    """Replicates of the mean importances, shape (n_bootstraps, n_concepts)."""
    rows = plan.row_indices
    mean = np.asarray(bunch.importances_mean, dtype=float)
    counts = bootstrap_counts(len(plan.baseline_ids), settings.n_bootstraps,
                              settings.random_state)
    derivatives = _derivatives(route, replay, plan)
    if derivatives is not None:
        baseline_d, permuted_d = derivatives
        return np.concatenate(
            [linear_replicates(mean, baseline_d, permuted_d, rows, c) for c in counts]
        )

    y_scored = y[rows]
    w_scored = None if sample_weight is None else sample_weight[rows]

    def score(ids: np.ndarray, y_: np.ndarray, w_: np.ndarray | None) -> float:
        try:
            return float(weighted_score(route.exact, replay, ids, y_, w_))
        except ValueError:  # a resample that the metric cannot score (one class)
            return np.nan

    def score_baseline(positions: np.ndarray) -> float:
        w_ = None if sample_weight is None else sample_weight[positions]
        return score(plan.baseline_ids[positions], y[positions], w_)

    def score_permuted(concept: int, repeat: int, positions: np.ndarray) -> float:
        w_ = None if w_scored is None else w_scored[positions]
        return score(plan.permuted_ids[concept, repeat][positions], y_scored[positions], w_)

    permuted = bunch.baseline_score - np.asarray(bunch.importances, dtype=float)
    parts = []
    done = 0
    with progress_bar(settings.n_bootstraps, "bootstrap", verbose, unit="resample") as bar, \
            warnings.catch_warnings():
        # Resamples with a single class make some metrics warn; they count as NaN.
        warnings.simplefilter("ignore")
        for chunk in counts:
            parts.append(exact_replicates(
                mean, chunk, rows, permuted.shape[1], bunch.baseline_score, permuted,
                score_baseline, score_permuted, first=done,
            ))
            done += len(chunk)
            bar.update(len(chunk))
    return np.concatenate(parts)


def _derivatives(
    route: ScoringRoute, replay: Any, plan: ImportancePlan
) -> tuple[np.ndarray, np.ndarray] | None:
    """Row contributions of the baseline and, averaged over repeats, of each concept."""
    if route.scorer is None or route.full is None:
        return None
    stored = replay.responses_[route.scorer.method]
    permuted = route.derivatives
    if (isinstance(stored, list) or len(permuted) != len(plan.permuted_ids)
            or any(d is None for d in permuted)):
        return None
    _, baseline = route.full.score(stored, plan.baseline_ids[None], derivative=True)
    permuted = np.array(permuted)
    # A degenerate metric (a zero denominator) has no derivative: rescore instead.
    if baseline is None or not (np.isfinite(baseline).all() and np.isfinite(permuted).all()):
        return None
    return baseline, permuted
