"""One DEPICT run, from the concept table to the result.

``concept table -> captions -> plan -> generate (cached) -> predict -> score
-> result``. :func:`prepare` checks everything that needs no image and makes
the plan; :func:`probe` tries the estimator on one image of the generated
size (see :mod:`sklearn_depict._engine.probe`); :func:`gather` generates and
predicts every distinct pair once, scoring the baseline before any permuted
image is made; :func:`score` replays the stored predictions through the
scorers; :func:`finish` adds the counts, intervals and ranking. The public
functions (``depict_importance``, ``depict_diagnostics``,
``cross_validate_importance``) are thin layers over these; the checks of
:mod:`sklearn_depict.diagnostics` are pure functions of what :class:`Run`
holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import check_scoring
from sklearn.utils import Bunch, check_array, check_consistent_length

from .._replay import (
    check_default_score,
    check_fitted_estimator,
    make_replay,
    needed_methods,
)
from ..cache import ImageCache, check_cache
from ..captioning import ConceptCaptioner
from ..chance import chance_level, check_baselines
from ..concepts import check_concept_table
from ..fast_scoring import ScoringRoute, fast_scorers
from ..generators._base import check_generator
from ..intervals import IntervalSettings, add_uncertainty
from ..preflight import (
    check_captions,
    check_scoring_before_generating,
    check_table_columns,
    resolve_run,
)
from ..results import is_single_metric
from .execute import execute
from .generate import resolve_fingerprint
from .plan import (
    ImportancePlan,
    constant_concepts,
    make_plan,
    resolve_concepts,
    resolve_max_samples,
    warn_constant_concepts,
)
from .probe import Probe, predict_probe, probe_images
from .score import score_baseline, score_plan

__all__ = [
    "Run",
    "add_chance_levels",
    "check_sample_weight",
    "explain",
    "finish",
    "gather",
    "predict_real",
    "prepare",
    "probe",
    "score",
]


@dataclass
class Run:
    """Everything a run checked, planned and gathered.

    Filled by :func:`prepare` (up to ``fast``) and :func:`gather` (the rest).
    """

    estimator: Any
    available: tuple[str, ...]
    methods: list[str]
    scorer: Any
    replay: Any
    table: pd.DataFrame
    y: np.ndarray
    weights: np.ndarray | None
    plan: ImportancePlan
    generator: Any
    cache: ImageCache | None
    fingerprint: str | None
    batch_size: int | None
    fast: dict[Any, ScoringRoute]
    timings: dict[str, float] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)
    baseline: Any = None
    stats: dict[str, Any] = field(default_factory=dict)
    probe: Probe | None = None


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
    captioner: ConceptCaptioner | None = None,
    cache: Any = None,
    seed: int | None = None,
    batch_size: int | None = None,
    concept_names: Any = None,
) -> Run:
    """Check everything that needs no image, then plan the distinct pairs."""
    setup = resolve_run(
        estimator, generator=generator, captioner=captioner, cache=cache,
        seed=0 if seed is None else seed, batch_size=batch_size,
        concept_names=concept_names, scoring=scoring,
    )  # fmt: skip
    estimator, generator, captioner, cache = (
        setup.estimator, setup.generator, setup.captioner, setup.cache
    )  # fmt: skip
    table = check_concept_table(X_captions, concept_names=setup.concept_names)
    check_table_columns(setup.caption_step, table)
    n_samples = len(table)
    y_array = check_array(
        y, ensure_2d=False, dtype=None, input_name="y", ensure_all_finite=True
    )
    check_consistent_length(table, y_array)
    weights = check_sample_weight(sample_weight, n_samples)
    n_scored = resolve_max_samples(max_samples, n_samples)

    available = check_fitted_estimator(estimator)
    generator = check_generator(generator)
    cache = check_cache(cache)
    fingerprint = resolve_fingerprint(generator, cache)
    if cache is not None:
        cache.remove_stale_temporary_files()
    captioner = ConceptCaptioner() if captioner is None else captioner
    names, columns = resolve_concepts(table, concepts, captioner)

    replay = make_replay(estimator, available)
    if setup.scoring is None:
        check_default_score(estimator)
    scorer = check_scoring(replay, scoring=setup.scoring)
    methods = needed_methods(scorer, available, default=setup.scoring is None)
    check_scoring_before_generating(
        estimator, available, methods, scorer, y_array, weights, scoring=setup.scoring
    )

    start = time.perf_counter()
    plan = make_plan(
        table,
        concept_names=names,
        concept_columns=columns,
        captioner=captioner,
        seed=setup.seed,
        n_repeats=n_repeats,
        n_scored=n_scored,
        random_state=random_state,
    )
    timings = {"planning": time.perf_counter() - start}
    # Before any image: prepare, explain, the public function, its parameter
    # validation, then the caller.
    warn_constant_concepts(plan, stacklevel=5)
    check_captions(generator, plan.captions)
    # Before any image is made: a named scorer that cannot score these targets fails here.
    fast = fast_scorers(setup.scoring, replay, y_array, weights, plan.row_indices)
    return Run(
        estimator=estimator, available=available, methods=sorted(methods), scorer=scorer,
        replay=replay, table=table, y=y_array, weights=weights, plan=plan,
        generator=generator, cache=cache, fingerprint=fingerprint,
        batch_size=setup.batch_size, fast=fast, timings=timings,
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


def gather(
    run: Run,
    *,
    detector: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> Run:
    """Generate and predict every distinct pair once; score the baseline first.

    With a ``detector``, it predicts every image alongside the estimator
    (``run.responses[1]["predict_proba"]``), at no extra generation.
    """
    plan = run.plan

    def score_baseline_first(responses: list[dict[str, Any]]) -> None:
        # Errors only predictions reveal surface after the baseline images.
        run.replay.responses_ = responses[0]
        run.baseline = score_baseline(run.scorer, run.replay, plan, run.y, run.weights)

    predictors = [(run.estimator, run.methods)]
    if detector is not None:
        predictors.append((detector, ["predict_proba"]))
    execution = execute(
        plan.captions,
        plan.seeds,
        generator=run.generator,
        fingerprint=run.fingerprint,
        predictors=predictors,
        cache=run.cache,
        batch_size=run.batch_size,
        n_jobs=n_jobs,
        verbose=verbose,
        n_first=plan.n_baseline,
        on_first=score_baseline_first,
    )
    run.responses = execution.responses
    run.replay.responses_ = run.responses[0]
    run.stats = execution.totals
    if run.probe is not None:
        # The probe's image counts as generated, not as read back from the cache.
        run.stats["generated"] += run.probe.generated
        run.stats["hits"] -= int(run.probe.stored)
        run.stats["generation"] += run.probe.seconds
    run.timings.update(generation=run.stats["generation"], prediction=run.stats["prediction"])
    return run


def probe(run: Run, *, detector: Any = None, n_jobs: int | None = None) -> Any:
    """Try the estimator (and the detector) on one image of the generated size.

    Noise of the size the generator declares, or the run's first
    image (see :func:`~sklearn_depict._engine.probe.probe_images`): a model
    that cannot take the generated images fails here, before the run
    generates them.

    Returns
    -------
    detector_proba : object or None
        The detector's ``predict_proba`` on the probe; None without a
        detector or a probe.
    """
    found = probe_images(run.generator, run.plan.captions, run.plan.seeds, cache=run.cache,
                         fingerprint=run.fingerprint, n_jobs=n_jobs)
    if found is None:
        return None
    run.probe = found
    kwargs = dict(source=found.source, check_output=not found.made_up)
    predict_probe(run.estimator, run.methods, found.images, role="estimator", **kwargs)
    if detector is None:
        return None
    return predict_probe(detector, ["predict_proba"], found.images, role="detector",
                         **kwargs)["predict_proba"]


def score(run: Run, *, derivatives: bool) -> Bunch | dict[str, Bunch]:
    """Baseline and permuted scores from the stored predictions."""
    start = time.perf_counter()
    results = score_plan(run.plan, run.replay, run.scorer, run.y, run.weights, run.fast,
                         derivatives=derivatives, baseline=run.baseline)
    run.timings["scoring"] = time.perf_counter() - start
    return results


def add_chance_levels(run: Run, results: Bunch | dict[str, Bunch]) -> dict[str, Bunch]:
    """Store each metric's ``chance_score``; return the results by metric label.

    The label is the metric's key for several metrics, and for one metric
    its scorer name (``"score"`` for a scorer object or callable).
    """
    if is_single_metric(results):
        route = run.fast.get(None)
        metric = None if route is None else route.metric
        labelled = {metric or "score": results}
        metrics = [metric]
    else:
        labelled = {str(key): bunch for key, bunch in results.items()}
        metrics = [getattr(run.fast.get(key), "metric", None) for key in results]
    for bunch, metric in zip(labelled.values(), metrics):
        bunch.chance_score = chance_level(metric, run.y, run.weights)
    return labelled


def predict_real(run: Run, images: np.ndarray, detector: Any = None) -> tuple[Any, Any]:
    """The estimator's score (or scores) on other images of the same rows.

    For the diagnostics' real images: predicted with the methods the scorer
    needs and scored against the run's targets and weights; with a
    ``detector``, its ``predict_proba`` on them too.

    Returns
    -------
    scores : float or dict
    detector_proba : object or None
    """
    real = make_replay(run.estimator, run.available)
    real.responses_ = {m: getattr(run.estimator, m)(images) for m in run.methods}
    ids = np.arange(len(images))
    if run.weights is None:
        scores = run.scorer(real, ids, run.y)
    else:
        scores = run.scorer(real, ids, run.y, sample_weight=run.weights)
    return scores, None if detector is None else detector.predict_proba(images)


def finish(
    results: Bunch | dict[str, Bunch],
    run: Run,
    intervals: dict[str, Any],
    *,
    verbose: int = 0,
) -> Bunch | dict[str, Bunch]:
    """Add the counts, timings, plan, intervals and ranking to each result.

    ``intervals`` holds the arguments of :class:`IntervalSettings`; they are
    only turned into settings here, after the plan has drawn its
    permutations, so that a ``ci_random_state`` shared with ``random_state``
    never changes the permutations.
    """
    plan = run.plan
    extras = {
        "concept_names": np.asarray(plan.concept_names, dtype=object),
        "constant_concepts": constant_concepts(plan),
        "n_images_distinct": plan.n_distinct,
        "n_images_generated": run.stats["generated"],
        "n_images_cached": run.stats["hits"],
        "n_images_bound": plan.n_bound,
        "n_images_naive": plan.n_naive,
        "timings": run.timings,
        "plan": plan,
    }
    start = time.perf_counter()
    settings = IntervalSettings(**intervals)
    single = is_single_metric(results)
    keys = [None] if single else list(results)
    bunches = [results] if single else list(results.values())
    for key, bunch in zip(keys, bunches):
        bunch.update(extras)
        bunch.fast_scoring = run.fast[key].scorer is not None
        add_uncertainty(bunch, settings, plan=plan, replay=run.replay, route=run.fast[key],
                        y=run.y, sample_weight=run.weights, verbose=verbose)
    run.timings["intervals"] = time.perf_counter() - start
    return results


def explain(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    options: dict[str, Any],
    intervals: dict[str, Any],
    n_jobs: int | None = None,
    verbose: int = 0,
    checks: Any = None,
) -> Bunch | dict[str, Bunch]:
    """A whole run: prepare, gather, score, check and finish.

    Parameters
    ----------
    estimator, X_captions, y : object
        As given to the public function.
    options : dict
        Keyword arguments of :func:`prepare`.
    intervals : dict
        Keyword arguments of :class:`IntervalSettings`.
    n_jobs, verbose : int
    checks : object, default=None
        The diagnostics: ``checks.validate(run)`` runs before any image is
        generated, ``checks.detector`` (or None) predicts alongside the
        estimator (``checks.check_detector_output(run, proba)`` checks its
        output on the probe image first), and ``checks.apply(run, results)``
        adds the checks to the results once they are scored.

    Returns
    -------
    result : Bunch or dict of Bunch
    """
    run = prepare(estimator, X_captions, y, **options)
    detector = None if checks is None else checks.detector
    if checks is not None:
        checks.validate(run)
    proba = probe(run, detector=detector, n_jobs=n_jobs)
    if proba is not None:
        checks.check_detector_output(run, proba)
    gather(run, detector=detector, n_jobs=n_jobs, verbose=verbose)
    results = score(run, derivatives=intervals.get("method", "bootstrap") == "bootstrap")
    labelled = add_chance_levels(run, results)
    if checks is not None:
        start = time.perf_counter()
        checks.apply(run, results)
        run.timings["diagnostics"] = time.perf_counter() - start
    else:
        # A baseline at or below chance fails check 1 even without the checks.
        # The warning points past explain, the public function and its
        # parameter validation, at their caller.
        check_baselines(labelled, stacklevel=4)
    return finish(results, run, intervals, verbose=verbose)
