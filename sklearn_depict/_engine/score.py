"""Replay scoring: every score of a run from the stored predictions.

The baseline is scored once, through sklearn's scorer on a stand-in
estimator that gathers stored predictions (see :mod:`sklearn_depict.stats.replay`).
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
from dataclasses import replace
from typing import Any

import numpy as np

from .._warnings import external_stacklevel
from ..stats.fast_scoring import ScoringRoute, snap_rounding, split_route
from ..stats.replay import checked_score, weighted_score
from .plan import ImportancePlan
from .stages import MetricScores

__all__ = ["baseline_what", "score_baseline", "score_plan"]

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
    routes: dict[Any, ScoringRoute],
    y: np.ndarray,
    weights: Any,
    baseline: tuple[Any, tuple[warnings.WarningMessage, ...]],
    *,
    derivatives: bool = False,
) -> dict[Any, MetricScores]:
    """Score every (concept, repeat) from stored predictions.

    The baseline is ``baseline``, the ``(score, warnings)`` of
    :func:`score_baseline`, scored before the permuted images were
    generated; its warnings are issued again here. The permuted scores of a
    metric with a vectorised scorer come from one array computation per
    concept (and, with ``derivatives``, each row's contribution for the
    bootstrap); every other metric is scored repeat by repeat with its own
    sklearn scorer.

    Returns
    -------
    metrics : dict
        From metric name (None for a single metric) to :class:`MetricScores`.
    """
    baseline, caught = baseline
    for warning in caught:
        warnings.warn(warning.message, stacklevel=external_stacklevel())
    rows = plan.row_indices
    y_scored = y[rows]
    w_scored = None if weights is None else weights[rows]
    routes = dict(routes)
    permuted: dict[Any, list] = {key: [] for key in routes}
    # A vectorised scorer is checked against sklearn on its first concept;
    # one that disagrees is dropped for the rest of the run.
    verified: set[Any] = set()
    row_derivatives: dict[Any, list] = {key: [] for key in routes}
    for concept_ids in plan.permuted_ids:
        for key, route in list(routes.items()):
            scores = None
            if route.scorer is not None:
                fast = _fast_scores(route, replay, concept_ids, y_scored, w_scored,
                                    derivatives, check=key not in verified)
                if fast is None:
                    routes[key] = route = replace(route, scorer=None, full=None)
                elif fast is not _NOT_VECTORISED:
                    scores, derivative = fast
                    verified.add(key)
                    row_derivatives[key].append(derivative)
            if scores is None:
                raw = [weighted_score(route.exact, replay, ids, y_scored, w_scored)
                       for ids in concept_ids]
                if isinstance(raw[0], dict):  # a callable returning several metrics
                    for name in raw[0]:
                        permuted.setdefault(name, []).append(np.array([r[name] for r in raw]))
                    continue
                scores = np.array(raw)
            permuted[key].append(scores)
    if not isinstance(baseline, dict):
        return {None: _metric(baseline, permuted[None], routes[None], row_derivatives[None],
                              plan, replay, None in verified)}
    if None in routes:  # a callable's dict: each metric gets its own exact route
        routes = split_route(routes[None], list(baseline))
    return {
        name: _metric(baseline[name], permuted[name], routes[name],
                      row_derivatives.get(name, []), plan, replay, name in verified)
        for name in baseline
    }


def _metric(baseline: Any, permuted: list, route: ScoringRoute, derivatives: list,
            plan: ImportancePlan, replay: Any, verified: bool) -> MetricScores:
    complete = (
        route.scorer is not None
        and len(derivatives) == len(plan.permuted_ids)
        and all(d is not None for d in derivatives)
    )
    return MetricScores(
        baseline_score=_same_arithmetic(baseline, route, replay, plan, verified),
        permuted_scores=np.array(permuted),
        route=route,
        derivatives=np.array(derivatives) if complete else None,
    )


# What _fast_scores gives when the stored outputs cannot be vectorised.
_NOT_VECTORISED = object()


def _fast_scores(
    route: ScoringRoute,
    replay: Any,
    concept_ids: np.ndarray,
    y: np.ndarray,
    weights: Any,
    derivatives: bool,
    *,
    check: bool,
) -> Any:
    """All repeats of a concept at once, with their row derivatives (or None).

    Returns ``(scores, derivative)``; ``_NOT_VECTORISED`` for a multi-output
    model (the exact path scores it); None, with a warning, when ``check``
    finds that the first repeat disagrees with sklearn.
    """
    fast = route.scorer
    stored = replay.responses_[fast.method]
    if isinstance(stored, list):  # multi-output models keep the exact path
        return _NOT_VECTORISED
    if derivatives:
        scores, derivative = fast.score(stored, concept_ids, derivative=True)
    else:
        scores, derivative = fast.score(stored, concept_ids), None
    if not check:
        return scores, derivative
    # One repeat through sklearn itself, once per run, guards the vectorised
    # path against a scikit-learn version that computes a metric differently.
    reference = weighted_score(route.exact, replay, concept_ids[0], y, weights)
    if np.allclose(scores[0], reference, rtol=1e-9, atol=1e-12, equal_nan=True):
        return scores, derivative
    warnings.warn(
        f"The vectorised {fast.name!r} scorer gave {scores[0]!r} where scikit-learn "
        f"gives {reference!r}; scoring repeat by repeat instead. Please report this "
        "with your scikit-learn version.",
        RuntimeWarning,
        stacklevel=external_stacklevel(),
    )
    return None


def _same_arithmetic(
    baseline: Any, route: ScoringRoute, replay: Any, plan: ImportancePlan, verified: bool
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
    if (route.scorer is None or not verified
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
