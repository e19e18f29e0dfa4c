"""One DEPICT run, from the concept table to the result.

:func:`explain` strings the stages together; each stage takes the frozen
values of the stages before it (:mod:`.stages`) and returns its own:

- :func:`prepare` checks everything that needs no image and plans the
  distinct pairs: :class:`~.stages.RunInputs`;
- :func:`probe` tries the estimator (and the detector) on one image of the
  generated size before any other is made: a :class:`~.probe.Probe`;
- :func:`gather` generates and predicts every distinct pair once, scoring the
  baseline before any permuted image is made: :class:`~.stages.Predictions`;
- :func:`~.finish.score` replays the stored predictions through the scorers:
  :class:`~.stages.Scores`;
- :func:`~.finish.finish` adds the counts, intervals and ranking: the result.

With ``tol`` (anytime DEPICT), :func:`~.anytime.gather_blocks` replaces the
last three: it gathers, scores and finishes block by block until the
intervals are narrow enough.

The public functions (``depict_importance``, ``depict_diagnostics``,
``cross_validate_importance``) are thin layers over :func:`explain`; the
checks of :mod:`sklearn_depict.diagnostics` are pure functions of these values.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.utils import Bunch, check_array, check_consistent_length

from ..cache import check_cache
from ..captioning import ConceptCaptioner
from ..concepts import make_concept_table
from ..generators._base import check_generator
from ..progress import say
from ..stats.chance import check_baselines
from ..stats.fast_scoring import fast_scorers
from ..stats.intervals import IntervalSettings
from ..stats.replay import check_default_score, check_fitted_estimator, make_replay, needed_methods
from .anytime import check_anytime_scoring, gather_blocks
from .blocks import AnytimeSettings, check_blocks, draw_blocks
from .costing import Projection, cached_pairs, format_counts, n_workers
from .execute import execute
from .finish import finish, score
from .generate import resolve_fingerprint
from .plan import (
    constant_concepts,
    make_plan,
    resolve_concepts,
    resolve_max_samples,
    warn_constant_concepts,
)
from .preflight import check_captions, check_scoring_before_generating
from .probe import Probe, predict_probe, probe_images
from .score import score_baseline
from .stages import CaptionOptions, Predictions, RunInputs, Scores
from .strata import resolve_conditioning, warn_conditioning

__all__ = [
    "check_sample_weight",
    "explain",
    "finish",
    "gather",
    "predict_real",
    "prepare",
    "probe",
    "score",
]


def prepare(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: Any,
    scoring: Any,
    n_repeats: int,
    random_state: Any,
    sample_weight: Any,
    max_samples: float | int,
    concepts: Any,
    caption_options: CaptionOptions,
    conditioning: Any = None,
    conditioning_params: Any = None,
    anytime: AnytimeSettings | None = None,
) -> RunInputs:
    """Check everything that needs no image, then plan the distinct pairs.

    ``estimator``, ``generator`` and ``scoring`` come unpacked: never a
    ``CaptionToImage`` (its settings are ``caption_options``). With
    ``anytime``, the rows are cut into blocks and every concept is permuted
    within them (:mod:`.blocks`); the plan still covers every row.
    """
    captioner = caption_options.captioner or ConceptCaptioner()
    # 1. The concept table, validated once: kinds, context columns, value
    #    codes, row identities and seeds.
    table = make_concept_table(
        X_captions, captioner=captioner, seed=caption_options.seed,
        concept_names=caption_options.concept_names, kinds=caption_options.kinds,
        feature_names_in=caption_options.feature_names_in,
    )  # fmt: skip
    y_array = check_array(
        y, ensure_2d=False, dtype=None, input_name="y", ensure_all_finite=True
    )
    check_consistent_length(table.frame, y_array)
    weights = check_sample_weight(sample_weight, table.n_rows)
    n_scored = resolve_max_samples(max_samples, table.n_rows)

    available = check_fitted_estimator(estimator)
    generator = check_generator(generator)
    cache = check_cache(caption_options.cache)
    fingerprint = resolve_fingerprint(generator, cache)
    if cache is not None:
        cache.remove_stale_temporary_files()
    names, columns = resolve_concepts(table, concepts)
    specs = resolve_conditioning(table, names, columns, conditioning, conditioning_params)

    replay = make_replay(estimator, available)
    if scoring is None:
        check_default_score(estimator)
    scorer = check_scoring(replay, scoring=scoring)
    methods = needed_methods(scorer, available, default=scoring is None)
    check_scoring_before_generating(
        estimator, available, methods, scorer, y_array, weights, scoring=scoring
    )

    # 2. Captions and 3. the plan: every distinct (caption, seed) pair.
    start = time.perf_counter()
    blocks = draws = None
    if anytime is not None:
        check_blocks(anytime, table.n_rows, n_scored)
        blocks = draw_blocks(table, concept_columns=columns, n_repeats=n_repeats,
                             block_size=anytime.block_size, random_state=random_state,
                             conditioning=specs)
        draws = blocks.as_draws(table, columns, names, conditioned=specs is not None)
    plan = make_plan(
        table,
        concept_names=names,
        concept_columns=columns,
        captioner=captioner,
        n_repeats=n_repeats,
        n_scored=n_scored,
        random_state=random_state,
        conditioning=specs,
        draws=draws,
    )
    planning_seconds = time.perf_counter() - start
    warn_constant_concepts(plan)
    warn_conditioning(plan.conditioning, plan.concept_names, constant_concepts(plan))
    check_captions(generator, plan.captions)
    # Before any image is made: a named scorer that cannot score these targets fails here.
    routes = fast_scorers(scoring, replay, y_array, weights, plan.row_indices)
    return RunInputs(
        estimator=estimator, available=available, methods=tuple(sorted(methods)),
        scorer=scorer, routes=routes, table=table, y=y_array,
        sample_weight=weights, plan=plan, generator=generator, cache=cache,
        fingerprint=fingerprint, batch_size=caption_options.batch_size,
        planning_seconds=planning_seconds, blocks=blocks,
    )  # fmt: skip


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """Validate ``sample_weight``: 1-D, one per row, finite, non-negative, not all 0."""
    if sample_weight is None:
        return None
    weights = check_array(
        sample_weight, ensure_2d=False, dtype="numeric", input_name="sample_weight"
    )
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected ({n_samples},)."
        )
    if (weights < 0).any():
        raise ValueError("sample_weight must be non-negative.")
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight must be finite.")
    if weights.sum() == 0:
        raise ValueError(
            "sample_weight sums to 0: every row would be ignored, so no score can "
            "be computed."
        )
    return weights


def probe(
    inputs: RunInputs, *, detector: Any = None, n_jobs: int | None = None
) -> tuple[Probe | None, Any]:
    """Try the estimator (and the detector) on one image of the generated size.

    Noise of the size the generator declares, or the run's first image (see
    :func:`~sklearn_depict._engine.probe.probe_images`): a model that cannot
    take the generated images fails here, before the run generates them.

    Returns
    -------
    probe : Probe or None
        The image tried; None when nothing could be tried for free.
    detector_proba : object or None
        The detector's ``predict_proba`` on it; None without a detector or a
        probe.
    """
    found = probe_images(inputs.generator, inputs.plan.captions, inputs.plan.seeds,
                         cache=inputs.cache, fingerprint=inputs.fingerprint, n_jobs=n_jobs)
    if found is None:
        return None, None
    kwargs = dict(source=found.source, check_output=not found.made_up)
    predict_probe(inputs.estimator, list(inputs.methods), found.images, role="estimator",
                  **kwargs)
    if detector is None:
        return found, None
    proba = predict_probe(detector, ["predict_proba"], found.images, role="detector",
                          **kwargs)["predict_proba"]
    return found, proba


def gather(
    inputs: RunInputs,
    *,
    detector: Any = None,
    probe: Probe | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> Predictions:
    """Generate and predict every distinct pair once; score the baseline first.

    With a ``detector``, it predicts every image alongside the estimator
    (``Predictions.detector_proba``), at no extra generation. The ``probe``'s
    image counts as generated, not as read back from the cache. When
    ``verbose``, it says the image counts first and, after the first chunk
    that generated images, the projected time of the rest.
    """
    plan = inputs.plan
    projection = _announce(inputs, probe, n_jobs, verbose) if verbose else None
    baseline = []

    def score_baseline_first(responses: list[dict[str, Any]]) -> None:
        # Errors only predictions reveal surface after the baseline images.
        replay = make_replay(inputs.estimator, inputs.available, responses[0])
        baseline.append(score_baseline(inputs.scorer, replay, plan, inputs.y,
                                       inputs.sample_weight))

    predictors = [(inputs.estimator, list(inputs.methods))]
    if detector is not None:
        predictors.append((detector, ["predict_proba"]))
    # 4. Generate (or read from the cache) and 5. predict each distinct pair once.
    execution = execute(
        plan.captions,
        plan.seeds,
        generator=inputs.generator,
        fingerprint=inputs.fingerprint,
        predictors=predictors,
        cache=inputs.cache,
        batch_size=inputs.batch_size,
        n_jobs=n_jobs,
        verbose=verbose,
        n_first=plan.n_baseline,
        on_first=score_baseline_first,
        on_chunk=None if projection is None else projection.update,
    )
    (baseline_score, baseline_warnings), = baseline
    totals = dict(execution.totals)
    if probe is not None:
        totals["generated"] += probe.generated
        totals["hits"] -= int(probe.stored)
        totals["generation"] += probe.seconds
    # One dict of outputs per predictor, in the order of `predictors`.
    estimator_responses, *detector_responses = execution.responses
    return Predictions(
        responses=estimator_responses,
        detector_proba=(detector_responses[0]["predict_proba"] if detector_responses
                        else None),
        baseline_score=baseline_score,
        baseline_warnings=tuple(baseline_warnings),
        n_generated=totals["generated"],
        n_cached=totals["hits"],
        generation_seconds=totals["generation"],
        prediction_seconds=totals["prediction"],
    )


def _announce(
    inputs: RunInputs, probe: Probe | None, n_jobs: int | None, verbose: int
) -> Projection:
    """Say the run's image counts; return what projects its remaining time."""
    plan = inputs.plan
    in_cache = int(cached_pairs(inputs.cache, inputs.fingerprint, plan.captions,
                                plan.seeds).sum())
    # The probe's image, in the cache now, was generated for this run.
    stored = int(probe.stored) if probe is not None else 0
    n_generate = plan.n_distinct - in_cache + stored
    say(format_counts(n_generate, in_cache - stored, plan.n_distinct, plan.n_naive), verbose)
    return Projection(n_generate - stored, plan.n_distinct,
                      n_workers(n_jobs, plan.n_distinct, inputs.batch_size), verbose)


def predict_real(
    inputs: RunInputs, images: np.ndarray, detector: Any = None
) -> tuple[Any, Any]:
    """The estimator's score (or scores) on other images of the same rows.

    For the diagnostics' real images: predicted with the methods the scorer
    needs and scored against the run's targets and weights; with a
    ``detector``, its ``predict_proba`` on them too.

    Returns
    -------
    scores : float or dict
    detector_proba : object or None
    """
    estimator = inputs.estimator
    real = make_replay(estimator, inputs.available,
                       {m: getattr(estimator, m)(images) for m in inputs.methods})
    ids = np.arange(len(images))
    if inputs.sample_weight is None:
        scores = inputs.scorer(real, ids, inputs.y)
    else:
        scores = inputs.scorer(real, ids, inputs.y, sample_weight=inputs.sample_weight)
    return scores, None if detector is None else detector.predict_proba(images)


def explain(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: Any,
    scoring: Any,
    n_repeats: int,
    random_state: Any,
    sample_weight: Any,
    max_samples: float | int,
    concepts: Any,
    confidence: float,
    ci_method: str,
    n_bootstraps: int,
    ci_random_state: Any,
    pvalue_correction: str | None,
    n_jobs: int | None = None,
    verbose: int = 0,
    checks: Any = None,
    caption_options: CaptionOptions | None = None,
    conditioning: Any = None,
    conditioning_params: Any = None,
    tol: float | None = None,
    block_size: int | None = None,
    min_blocks: int | None = None,
) -> Bunch | dict[str, Bunch]:
    """A whole run: prepare, gather, score, check and finish.

    Parameters
    ----------
    estimator, X_captions, y, generator, scoring, n_repeats, random_state, \
sample_weight, max_samples, concepts, confidence, ci_method, n_bootstraps, \
ci_random_state, pvalue_correction, n_jobs, verbose : object
        As given to :func:`~sklearn_depict.depict_importance`, with a
        ``CaptionToImage`` unpacked: ``estimator`` and ``generator`` are the
        model and the generator, its settings are ``caption_options``.
    checks : object, default=None
        The diagnostics: ``checks.validate(inputs)`` returns the checks ready
        to run (before any image is generated); their ``detector`` (or None)
        predicts alongside the estimator, and their ``apply(inputs,
        predictions, scores)`` returns each metric's ``diagnostics``.
    caption_options : CaptionOptions, default=None
        The captioner, cache, seed and batch size; None uses the defaults.
    conditioning, conditioning_params : object, default=None
        As given to :func:`~sklearn_depict.depict_importance`.
    tol, block_size, min_blocks : object, default=None
        An anytime run, as given to :func:`~sklearn_depict.depict_importance`
        (without ``checks``).

    Returns
    -------
    result : Bunch or dict of Bunch
    """
    anytime = AnytimeSettings.from_params(tol, block_size, min_blocks, ci_method=ci_method,
                                          max_samples=max_samples)
    if anytime is not None and checks is not None:
        raise ValueError("tol stops a run early, and the diagnostics' checks need every row: "
                         "run depict_diagnostics without tol.")
    # 0.-3. Check the inputs, validate the concept table once (1.), caption
    # (2.) and plan (3.) the distinct pairs (with tol, within blocks).
    inputs = prepare(
        estimator, X_captions, y, generator=generator, scoring=scoring,
        n_repeats=n_repeats, random_state=random_state, sample_weight=sample_weight,
        max_samples=max_samples, concepts=concepts,
        caption_options=caption_options or CaptionOptions(),
        conditioning=conditioning, conditioning_params=conditioning_params,
        anytime=anytime,
    )  # fmt: skip
    if anytime is not None:
        check_anytime_scoring(inputs)
    # Only after the plan has drawn its permutations: a ci_random_state shared
    # with random_state never changes them.
    settings = IntervalSettings(
        confidence=confidence, ci_method=ci_method, n_bootstraps=n_bootstraps,
        ci_random_state=ci_random_state, pvalue_correction=pvalue_correction,
    )  # fmt: skip
    if checks is not None:
        checks = checks.validate(inputs)
    detector = None if checks is None else checks.detector
    # 4. Try the models on one image of the generated size before making the others.
    found, proba = probe(inputs, detector=detector, n_jobs=n_jobs)
    if proba is not None:
        checks.check_detector_output(inputs, proba)
    if anytime is not None:
        # 4.-8. Block by block: generate, predict, score and draw the intervals,
        # until every half-width is at most tol or the rows run out.
        result = gather_blocks(inputs, settings, anytime, probe=found, n_jobs=n_jobs,
                               verbose=verbose)
        check_baselines({inputs.routes[None].metric or "score": result})
        return result
    # 4.-5. Generate (cached) and predict each distinct pair once.
    predictions = gather(inputs, detector=detector, probe=found, n_jobs=n_jobs,
                         verbose=verbose)
    # 6. Score every (concept, repeat) from the stored predictions.
    scores = score(inputs, predictions, derivatives=settings.ci_method == "bootstrap")
    diagnostics = seconds = None
    if checks is not None:
        start = time.perf_counter()
        diagnostics = checks.apply(inputs, predictions, scores)
        seconds = time.perf_counter() - start
    # 7. Intervals and 8. the result.
    result = finish(inputs, predictions, scores, settings, diagnostics=diagnostics,
                    diagnostics_seconds=seconds, verbose=verbose)
    if checks is None:
        # A baseline at or below chance fails check 1 even without the checks.
        check_baselines(_by_label(result, scores))
    return result


def _by_label(result: Bunch | dict[str, Bunch], scores: Scores) -> dict[str, Bunch]:
    """The result's Bunches by the metric's name in messages.

    The key for several metrics; for one metric its scorer name (``"score"``
    for a scorer object or callable).
    """
    if scores.single:
        return {scores.metrics[None].route.metric or "score": result}
    return {str(key): bunch for key, bunch in result.items()}
