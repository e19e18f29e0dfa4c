"""Anytime DEPICT: add blocks of rows until every interval is narrow enough.

The loop stage of a run with ``tol`` (see :mod:`.blocks` for the draws)::

    inputs = prepare(..., anytime=settings)       # the plan of every row, within blocks
    for block in inputs.blocks.blocks:            # in the order drawn from random_state
        used |= block
        plan = plan_for_rows(inputs.plan, used)   # the rows used so far
        make and predict the block's new pairs    # earlier blocks' are kept
        result = finish(score(plan))              # the run's own stages (.finish)
        if blocks >= min_blocks and max half-width <= tol: stop

Each step is an ordinary run on the rows used so far: its scores, intervals
and ranking come from :func:`.finish.score` and :func:`.finish.finish`, so the
result is that of ``permutation_importance``-style scoring of the published
within-block permutations (``result.plan.permuted_table``) of those rows.
Stopping on the intervals' width, never on the estimates, is what keeps
their coverage near nominal (Chow and Robbins, 1965).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from .._warnings import external_stacklevel
from ..stats.fast_scoring import ScoringRoute, make_fast_scorer
from ..stats.intervals import IntervalSettings
from ..stats.replay import make_replay
from .blocks import AnytimeSettings, AnytimeTrace, plan_for_rows
from .execute import execute
from .finish import finish, score
from .probe import Probe
from .score import score_baseline
from .stages import Predictions, RunInputs

__all__ = ["check_anytime_scoring", "gather_blocks"]


def check_anytime_scoring(inputs: RunInputs) -> None:
    """Raise, before any image, for scoring that ``tol`` cannot stop on."""
    if list(inputs.routes) != [None]:
        raise ValueError(
            f"tol compares every interval's half-width with one number, in one metric's "
            f"units; scoring gives {len(inputs.routes)} metrics "
            f"({', '.join(map(str, inputs.routes))}). Pass a single scorer with tol."
        )
    route = inputs.routes[None]
    if route.scorer is None:
        raise ValueError(
            f"tol recomputes the bootstrap intervals after every block, from each row's "
            f"contribution to the score, which only sklearn's named scorers with a "
            f"vectorised implementation give (such as 'roc_auc', 'accuracy', "
            f"'neg_log_loss', 'r2'); {route.exact!r} has none, and rescoring "
            "n_bootstraps resamples after every block gives conservative intervals at a "
            "high cost. Pass a named scorer, or drop tol."
        )


def _step_routes(inputs: RunInputs, replay: Any, y: np.ndarray,
                 weights: np.ndarray | None) -> dict[Any, ScoringRoute]:
    """The run's routes, for the targets of the rows used so far."""
    routes = {}
    for key, route in inputs.routes.items():
        fast = make_fast_scorer(route.scorer.name, replay=replay, y=y, sample_weight=weights)
        routes[key] = replace(route, scorer=fast, full=fast)
    return routes


def _every_class(inputs: RunInputs, y_used: np.ndarray) -> bool:
    """Whether the rows used hold every class of the targets (always, for a regressor)."""
    if not hasattr(inputs.estimator, "classes_"):
        return True
    return len(np.unique(y_used)) == len(np.unique(inputs.y))


def _put(stored: dict[str, Any], responses: dict[str, Any], ids: np.ndarray,
         n_pairs: int) -> None:
    """Store an ``execute``'s outputs at the pair ids of the whole plan."""
    for method, output in responses.items():
        parts = output if isinstance(output, list) else [output]
        held = stored.setdefault(method, [None] * len(parts))
        for k, part in enumerate(parts):
            if held[k] is None:
                held[k] = np.zeros((n_pairs, *part.shape[1:]), dtype=part.dtype)
            elif held[k].dtype != part.dtype:
                held[k] = held[k].astype(np.result_type(held[k].dtype, part.dtype))
            held[k][ids] = part


def _taken(stored: dict[str, Any], ids: np.ndarray, multi: dict[str, bool]) -> dict[str, Any]:
    """The stored outputs of the pairs ``ids``, as one run's responses."""
    return {method: [part[ids] for part in held] if multi[method] else held[0][ids]
            for method, held in stored.items()}


def gather_blocks(
    inputs: RunInputs,
    settings: IntervalSettings,
    anytime: AnytimeSettings,
    *,
    probe: Probe | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> Bunch:
    """Process blocks until the intervals are narrow enough or the rows run out.

    Each block's new distinct pairs are generated (or read from the cache)
    and predicted once; the rows used so far are then scored, and their
    intervals drawn, by the run's own stages.

    What the scorer warns about is issued once, for the last block.

    Returns
    -------
    result : Bunch
        The result on the rows used, with ``n_samples_used``,
        ``stopped_early`` and ``anytime_trace``.
    """
    plan, draws = inputs.plan, inputs.blocks
    n_pairs = plan.n_distinct
    made = np.zeros(n_pairs, dtype=bool)
    stored: dict[str, Any] = {}
    multi: dict[str, bool] = {}
    totals = {"generated": 0, "hits": 0, "generation": 0.0, "prediction": 0.0}
    # The probe made pair 0's image: it counts as generated, and as no cache
    # hit when a block reads it back (the run may stop before that row).
    probe_hit = 0
    if probe is not None:
        totals.update(generated=probe.generated, generation=probe.seconds)
        probe_hit = int(probe.stored)
    used = np.empty(0, dtype=np.intp)
    trace = AnytimeTrace(concept_names=list(plan.concept_names), tol=anytime.tol,
                         n_samples_total=len(plan.baseline_ids), n_images_total=n_pairs)
    steps: list[tuple[Any, ...]] = []
    result: Bunch | None = None
    n_blocks = len(draws.blocks)
    for b, block in enumerate(draws.blocks):
        used = np.sort(np.concatenate([used, block]))
        conditioning = (None if plan.conditioning is None else
                        draws.summary(inputs.table, plan.concept_columns, plan.concept_names,
                                      used))
        step_plan, pair_ids = plan_for_rows(plan, used, conditioning)
        new = pair_ids[~made[pair_ids]]
        # The block's baseline pairs first (ids below n_baseline), so an error
        # only predictions reveal surfaces before its permuted images are made.
        for part in (new[new < plan.n_baseline], new[new >= plan.n_baseline]):
            if not len(part):
                continue
            execution = execute(
                [plan.captions[i] for i in part], [plan.seeds[i] for i in part],
                generator=inputs.generator, fingerprint=inputs.fingerprint,
                predictors=[(inputs.estimator, list(inputs.methods))], cache=inputs.cache,
                batch_size=inputs.batch_size, n_jobs=n_jobs, verbose=verbose,
                label=f"block {b + 1} of {n_blocks}",
            )  # fmt: skip
            responses = execution.responses[0]
            multi.update({m: isinstance(v, list) for m, v in responses.items()})
            _put(stored, responses, part, n_pairs)
            made[part] = True
            for key in totals:
                totals[key] += execution.totals[key]
        y_used = inputs.y[used]
        last = b == n_blocks - 1
        if not last and not _every_class(inputs, y_used):
            # A class missing from the rows used cannot be scored yet (one class
            # has no ROC AUC): the next block may bring it.
            nan = np.full(len(plan.concept_names), np.nan)
            steps.append((len(used), len(pair_ids), nan, nan, np.stack([nan, nan], axis=1)))
            continue
        w_used = None if inputs.sample_weight is None else inputs.sample_weight[used]
        responses = _taken(stored, pair_ids, multi)
        replay = make_replay(inputs.estimator, inputs.available, responses)
        step = replace(inputs, y=y_used, sample_weight=w_used, plan=step_plan,
                       routes=_step_routes(inputs, replay, y_used, w_used))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            baseline, baseline_warnings = score_baseline(inputs.scorer, replay, step_plan,
                                                         y_used, w_used)
            predictions = Predictions(
                responses=responses, detector_proba=None, baseline_score=baseline,
                baseline_warnings=tuple(baseline_warnings), n_generated=totals["generated"],
                n_cached=totals["hits"] - probe_hit * int(made[0]),
                generation_seconds=totals["generation"],
                prediction_seconds=totals["prediction"],
            )  # fmt: skip
            scores = score(step, predictions, derivatives=True)
            result = finish(step, predictions, scores, settings, verbose=verbose)
        ci = result.importances_ci
        half = (ci[:, 1] - ci[:, 0]) / 2
        steps.append((len(used), len(pair_ids), half, result.importances_mean, ci))
        if b + 1 >= anytime.min_blocks and np.all(half <= anytime.tol):
            break
    n_samples, n_images, half_widths, means, intervals = zip(*steps)
    trace = replace(trace, n_samples=n_samples, n_images=n_images,
                    half_widths=np.array(half_widths), importances_mean=np.array(means),
                    importances_ci=np.array(intervals))
    result.update(n_samples_used=len(used), stopped_early=len(used) < len(plan.baseline_ids),
                  anytime_trace=trace)
    for warning in caught:
        warnings.warn(warning.message, warning.category, stacklevel=external_stacklevel())
    return result
