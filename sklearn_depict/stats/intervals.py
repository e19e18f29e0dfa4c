"""Intervals, p-values, ranking and ties of a ``depict_importance`` result.

Stage 7 of a run (see :mod:`sklearn_depict._engine`): it reads the scores
and the stored predictions, and never the engine's own objects, which it
only names in annotations.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_random_state

from ..progress import progress_bar
from .bootstrap import (
    bootstrap_counts,
    exact_replicates,
    holm_adjust,
    linear_replicates,
    percentile_intervals,
    replicate_pvalues,
    t_pvalues,
)
from .fast_scoring import snap_rounding
from .ranking import importance_intervals, rank_with_ties
from .replay import weighted_score

if TYPE_CHECKING:  # annotations only: the engine imports this module, not the reverse
    from .._engine.plan import ImportancePlan
    from .._engine.stages import MetricScores

__all__ = ["CI_METHODS", "IntervalSettings", "uncertainty"]

CI_METHODS = ("bootstrap", "t")


@dataclass(frozen=True)
class IntervalSettings:
    """The interval parameters of :func:`depict_importance`, under their own names.

    A RandomState (or None) given as ``ci_random_state`` is turned into one
    seed at creation, so every metric of a multi-metric run sees the same
    resamples. Create it after the plan has drawn its permutations, so that
    a RandomState shared with ``random_state`` never changes them.

    Attributes
    ----------
    confidence : float
        Coverage of ``importances_ci``.
    ci_method : {"bootstrap", "t"}
        How intervals and p-values are computed.
    n_bootstraps : int
        Bootstrap resamples.
    ci_random_state : int or None
        The bootstrap's seed (drawn once at creation for ``"bootstrap"``).
    pvalue_correction : {"holm"} or None
        Adjustment of the p-values across concepts.
    """

    confidence: float = 0.95
    ci_method: str = "bootstrap"
    n_bootstraps: int = 1000
    ci_random_state: Any = None
    pvalue_correction: str | None = None

    def __post_init__(self) -> None:
        if self.ci_method not in CI_METHODS:
            raise ValueError(
                f"ci_method must be one of {CI_METHODS}, got {self.ci_method!r}."
            )
        if self.ci_method == "bootstrap":
            seed = check_random_state(self.ci_random_state).randint(np.iinfo(np.int32).max + 1)
            object.__setattr__(self, "ci_random_state", seed)


def uncertainty(
    importances: np.ndarray,
    concept_names: Any,
    settings: IntervalSettings,
    *,
    scores: MetricScores,
    plan: ImportancePlan,
    replay: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    verbose: int = 0,
) -> dict[str, Any]:
    """``importances_ci``, ``pvalues``, ``ci_method``, ``ranking`` and ``tie_groups``.

    Parameters
    ----------
    importances : ndarray of shape (n_concepts, n_repeats)
        One metric's importances.
    concept_names : sequence
        One name per permuted concept.
    settings : IntervalSettings
    scores : MetricScores
        How the metric was scored, with its row derivatives when the
        vectorised scorer gave them.
    plan : ImportancePlan
    replay : estimator
        A stand-in answering from the stored predictions.
    y : ndarray of shape (n_samples,)
    sample_weight : ndarray of shape (n_samples,) or None
    verbose : int, default=0

    Returns
    -------
    keys : dict
        The keys to add to the metric's result.
    """
    importances = np.asarray(importances, dtype=float)
    if settings.ci_method == "t":
        intervals = importance_intervals(importances, confidence=settings.confidence)
        pvalues = t_pvalues(importances)
    else:
        replicates = _bootstrap(importances, settings, scores, plan, replay, y, sample_weight,
                                verbose)
        # A concept whose permutations change no prediction has replicates of
        # rounding size (row contributions summed in another order): they are
        # 0, so its interval is [0, 0] and its p-value 1.
        replicates = snap_rounding(replicates, scores.baseline_score)
        intervals = percentile_intervals(replicates, settings.confidence)
        pvalues = replicate_pvalues(replicates)
    if settings.pvalue_correction == "holm":
        pvalues = holm_adjust(pvalues)
    ranking, groups = rank_with_ties(importances.mean(axis=1), intervals)
    return {
        "importances_ci": intervals,
        "pvalues": pvalues,
        "ci_method": settings.ci_method,
        "ranking": ranking,
        "tie_groups": [[concept_names[i] for i in group] for group in groups],
    }


def _bootstrap(
    importances: np.ndarray,
    settings: IntervalSettings,
    scores: MetricScores,
    plan: ImportancePlan,
    replay: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    verbose: int,
) -> np.ndarray:
    """Replicates of the mean importances, shape (n_bootstraps, n_concepts)."""
    rows = plan.row_indices
    mean = importances.mean(axis=1)
    route = scores.route
    counts = bootstrap_counts(len(plan.baseline_ids), settings.n_bootstraps,
                              settings.ci_random_state)
    derivatives = _derivatives(scores, replay, plan)
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

    permuted = scores.baseline_score - importances
    parts = []
    done = 0
    with progress_bar(settings.n_bootstraps, "bootstrap", verbose, unit="resample") as bar, \
            warnings.catch_warnings():
        # Resamples with a single class make some metrics warn; they count as NaN.
        warnings.simplefilter("ignore")
        for chunk in counts:
            parts.append(exact_replicates(
                mean, chunk, rows, permuted.shape[1], scores.baseline_score, permuted,
                score_baseline, score_permuted, first=done,
            ))
            done += len(chunk)
            bar.update(len(chunk))
    return np.concatenate(parts)


def _derivatives(
    scores: MetricScores, replay: Any, plan: ImportancePlan
) -> tuple[np.ndarray, np.ndarray] | None:
    """Row contributions of the baseline and, averaged over repeats, of each concept."""
    route = scores.route
    if scores.derivatives is None or route.full is None:
        return None
    stored = replay.responses_[route.scorer.method]
    _, baseline = route.full.score(stored, plan.baseline_ids[None], derivative=True)
    permuted = scores.derivatives
    # A degenerate metric (a zero denominator) has no derivative: rescore instead.
    if baseline is None or not (np.isfinite(baseline).all() and np.isfinite(permuted).all()):
        return None
    return baseline, permuted
