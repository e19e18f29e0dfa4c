"""Replay scoring: every score of a run from the stored predictions.

The baseline is scored once, through sklearn's scorer on a stand-in
estimator that gathers stored predictions (see :mod:`sklearn_depict._replay`).
Each (concept, repeat) is then a gather of the ids the plan recorded: a named
sklearn scorer with a vectorised implementation (the fast route) scores all
repeats of a concept in one array computation, checked once per run against
sklearn itself; any other scorer is called repeat by repeat (the exact route).

A permutation that changes no prediction must have an importance of exactly 0,
not the last bit of two computations that round differently. So the baseline
of a metric scored on the fast route is scored again by that same vectorised
computation (when every row is scored, as in the permutations), and score
differences within floating-point rounding are ties: :func:`snap_rounding`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from .._replay import checked_score, weighted_score
from ..fast_scoring import ScoringRoute, split_routes
from .plan import ImportancePlan

__all__ = ["ROUNDING_TOLERANCE", "baseline_what", "score_baseline", "score_plan",
           "snap_rounding"]

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
    >>> from sklearn_depict._engine.score import snap_rounding
    >>> snap_rounding([1.1e-16, -2.2e-16, 0.004], 0.83)
    array([0.   , 0.   , 0.004])
    """
    snapped = np.array(differences, dtype=float)
    with np.errstate(invalid="ignore"):
        tolerance = ROUNDING_TOLERANCE * np.maximum(1.0, np.abs(np.asarray(score, float)))
        snapped[np.abs(snapped) <= tolerance] = 0.0
    return snapped


def baseline_what(scorer: Any) -> str:
    return f"Scoring the images generated from the unpermuted captions with {scorer!r}"


def score_baseline(
    scorer: Any, replay: Any, plan: ImportancePlan, y: np.ndarray, weights: Any
) -> tuple[Any, list[warnings.WarningMessage]]:
    """The score on the unpermuted images, and the warnings the scorer issued.

    Errors that only predictions can reveal (a metric rejecting them) surface
    here, before the permuted images are generated.
    """
    return checked_score(scorer, replay, plan.baseline_ids, y, weights,
                         what=baseline_what(scorer))


def score_plan(
    plan: ImportancePlan,
    replay: Any,
    scorer: Any,
    y: np.ndarray,
    weights: Any,
    routes: dict[Any, ScoringRoute],
    derivatives: bool = False,
    baseline: tuple[Any, list[warnings.WarningMessage]] | None = None,
) -> Bunch | dict[str, Bunch]:
    """Score the baseline and every (concept, repeat) from stored predictions.

    The baseline goes through sklearn's scorer (or is ``baseline``, the
    ``(score, warnings)`` of :func:`score_baseline` when it was scored before
    the permuted images were generated). The permuted scores of a metric with
    a vectorised scorer come from one array computation per concept (and,
    with ``derivatives``, each row's contribution for the bootstrap); every
    other metric is scored repeat by repeat with its own sklearn scorer.
    """
    if baseline is None:
        baseline = score_baseline(scorer, replay, plan, y, weights)
    baseline, caught = baseline
    for warning in caught:
        warnings.warn(warning.message, stacklevel=6)
    rows = plan.row_indices
    y_scored = y[rows]
    w_scored = None if weights is None else weights[rows]
    permuted: dict[Any, list] = {key: [] for key in routes}
    for concept_ids in plan.permuted_ids:
        for key, route in routes.items():
            scores = None
            if route.scorer is not None:
                scores = _fast_scores(route, replay, concept_ids, y_scored, w_scored,
                                      derivatives)
            if scores is None:
                raw = [weighted_score(route.exact, replay, ids, y_scored, w_scored)
                       for ids in concept_ids]
                if isinstance(raw[0], dict):  # a callable returning several metrics
                    for name in raw[0]:
                        permuted.setdefault(name, []).append(np.array([r[name] for r in raw]))
                    continue
                scores = np.array(raw)
            permuted[key].append(scores)
    if isinstance(baseline, dict):
        split_routes(routes, list(baseline))
        return {
            name: _importances_bunch(
                _same_arithmetic(baseline[name], routes.get(name), replay, plan),
                np.array(permuted[name]),
            )
            for name in baseline
        }
    return _importances_bunch(_same_arithmetic(baseline, routes.get(None), replay, plan),
                              np.array(permuted[None]))


def _fast_scores(
    route: ScoringRoute,
    replay: Any,
    concept_ids: np.ndarray,
    y: np.ndarray,
    weights: Any,
    derivatives: bool,
) -> np.ndarray | None:
    """All repeats of a concept at once; None (and a warning) if it disagrees with sklearn."""
    fast = route.scorer
    stored = replay.responses_[fast.method]
    if isinstance(stored, list):  # multi-output models keep the exact path
        return None
    if derivatives:
        scores, derivative = fast.score(stored, concept_ids, derivative=True)
        route.derivatives.append(derivative)
    else:
        scores = fast.score(stored, concept_ids)
    if route.verified:
        return scores
    # One repeat through sklearn itself, once per run, guards the vectorised
    # path against a scikit-learn version that computes a metric differently.
    reference = weighted_score(route.exact, replay, concept_ids[0], y, weights)
    if np.allclose(scores[0], reference, rtol=1e-9, atol=1e-12, equal_nan=True):
        route.verified = True
        return scores
    warnings.warn(
        f"The vectorised {fast.name!r} scorer gave {scores[0]!r} where scikit-learn "
        f"gives {reference!r}; scoring repeat by repeat instead. Please report this "
        "with your scikit-learn version.",
        RuntimeWarning,
        stacklevel=7,
    )
    route.scorer = route.full = None
    return None


def _same_arithmetic(
    baseline: Any, route: ScoringRoute | None, replay: Any, plan: ImportancePlan
) -> Any:
    """The baseline scored as the permutations were, where that is sklearn's score.

    sklearn scored the baseline; a metric on the fast route scored the
    permutations with the vectorised code, whose sums run in another order.
    When every row is scored in table order, the vectorised score of the
    baseline ids is the same computation as a permutation's, so a permutation
    that changes no prediction gives exactly the baseline. It is used only
    when it equals sklearn's to rounding (the cross-check already held).
    """
    rows = plan.row_indices
    if (route is None or route.scorer is None or not route.verified
            or len(rows) != len(plan.baseline_ids)
            or not np.array_equal(rows, np.arange(len(rows)))):
        return baseline
    stored = replay.responses_[route.scorer.method]
    if isinstance(stored, list):
        return baseline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn already warned on the baseline
        fast = float(route.scorer.score(stored, plan.baseline_ids[None])[0])
    if snap_rounding(fast - baseline, baseline) == 0:
        return fast
    return baseline


def _importances_bunch(baseline: Any, permuted: np.ndarray) -> Bunch:
    importances = snap_rounding(baseline - permuted, baseline)
    return Bunch(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
        baseline_score=baseline,
    )

