"""The last stages of a run: score the stored predictions, then the result.

- :func:`score` replays the stored predictions through the scorers:
  :class:`~.stages.Scores`;
- :func:`finish` adds the counts, intervals and ranking: the result.

A full run (:func:`.run.explain`) calls each once; an anytime run
(:mod:`.anytime`) after every block, on the rows used so far.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from ..stats.chance import chance_level
from ..stats.fast_scoring import snap_rounding
from ..stats.intervals import IntervalSettings, uncertainty
from ..stats.replay import make_replay
from .plan import constant_concepts
from .score import score_plan
from .stages import Predictions, RunInputs, Scores

__all__ = ["finish", "score"]


def score(inputs: RunInputs, predictions: Predictions, *, derivatives: bool) -> Scores:
    """Permuted scores from the stored predictions (the baseline is already scored).

    With ``derivatives``, each vectorised metric also returns its rows'
    contributions, from which the row bootstrap draws its intervals.
    """
    start = time.perf_counter()
    metrics = score_plan(
        inputs.plan, make_replay(inputs.estimator, inputs.available, predictions.responses),
        inputs.routes, inputs.y,
        inputs.sample_weight, (predictions.baseline_score, predictions.baseline_warnings),
        derivatives=derivatives,
    )  # fmt: skip
    return Scores(metrics=metrics, seconds=time.perf_counter() - start)


def finish(
    inputs: RunInputs,
    predictions: Predictions,
    scores: Scores,
    settings: IntervalSettings,
    *,
    diagnostics: dict[Any, Bunch] | None = None,
    diagnostics_seconds: float | None = None,
    verbose: int = 0,
) -> Bunch | dict[str, Bunch]:
    """One Bunch per metric: importances, counts, timings, plan, intervals, ranking.

    Parameters
    ----------
    inputs, predictions, scores
        The values of the stages before.
    settings : IntervalSettings
    diagnostics : dict, default=None
        Per metric, the checks' ``diagnostics``.
    diagnostics_seconds : float, default=None
        Time the checks took.
    verbose : int, default=0

    Returns
    -------
    result : Bunch or dict of Bunch
    """
    plan = inputs.plan
    concept_names = np.asarray(plan.concept_names, dtype=object)
    constant = constant_concepts(plan)
    timings = {"planning": inputs.planning_seconds,
               "generation": predictions.generation_seconds,
               "prediction": predictions.prediction_seconds,
               "scoring": scores.seconds}  # fmt: skip
    if diagnostics_seconds is not None:
        timings["diagnostics"] = diagnostics_seconds
    replay = make_replay(inputs.estimator, inputs.available, predictions.responses)
    start = time.perf_counter()
    results = {}
    for key, metric in scores.metrics.items():
        # 8. One Bunch per metric: sklearn's keys, the run's counts, then the
        # intervals of step 7.
        # A permutation that changes no prediction has an importance of
        # exactly 0, not the last bits of two roundings.
        importances = snap_rounding(metric.baseline_score - metric.permuted_scores,
                                    metric.baseline_score)
        bunch = Bunch(
            importances_mean=np.mean(importances, axis=1),
            importances_std=np.std(importances, axis=1),
            importances=importances,
            baseline_score=metric.baseline_score,
            chance_score=chance_level(metric.route.metric, inputs.y, inputs.sample_weight),
        )
        if diagnostics is not None:
            bunch.diagnostics = diagnostics[key]
        bunch.update(
            concept_names=concept_names,
            constant_concepts=constant,
            n_images_distinct=plan.n_distinct,
            n_images_generated=predictions.n_generated,
            n_images_cached=predictions.n_cached,
            n_images_bound=plan.n_bound,
            n_images_naive=plan.n_naive,
            timings=timings,
            plan=plan,
            fast_scoring=metric.route.scorer is not None,
        )
        if plan.conditioning is not None:
            bunch.conditioning = plan.conditioning
        # 7. Intervals, p-values and the ranking, from the stored predictions.
        bunch.update(uncertainty(
            importances, concept_names, settings, scores=metric, plan=plan, replay=replay,
            y=inputs.y, sample_weight=inputs.sample_weight, verbose=verbose,
        ))  # fmt: skip
        results[key] = bunch
    timings["intervals"] = time.perf_counter() - start
    return results[None] if scores.single else results
