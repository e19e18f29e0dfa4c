"""``depict_importance``: diffusion-enabled permutation importance."""

from __future__ import annotations

import multiprocessing
import time
import warnings
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.utils import Bunch, check_array, check_consistent_length
from sklearn.utils.parallel import Parallel, delayed

from ._replay import (
    check_default_score,
    check_fitted_estimator,
    check_prediction_output,
    checked_score,
    make_replay,
    needed_methods,
    weighted_score,
)
from ._sklearn_compat import (
    HasMethods,
    Integral,
    Interval,
    RealNotInt,
    StrOptions,
    validate_params,
)
from .cache import ImageCache, check_cache
from .caption_to_image import DEFAULT_CHUNK_SIZE
from .captioning import ConceptCaptioner
from .concepts import check_concept_table
from .diagnostics import diagnose
from .fast_scoring import ScoringRoute, fast_scorers, split_routes
from .generation import generate_pairs, resolve_fingerprint
from .generators._base import check_generator
from .intervals import CI_METHODS, IntervalSettings, add_uncertainty
from .planning import ImportancePlan, make_plan, resolve_concepts, resolve_max_samples
from .preflight import (
    check_captions,
    check_scoring_before_generating,
    check_table_columns,
    resolve_run,
)
from .progress import progress_bar

__all__ = ["depict_importance"]


@validate_params(
    {
        "estimator": "no_validation",
        "X_captions": ["array-like"],
        "y": ["array-like"],
        "generator": "no_validation",
        "scoring": [
            StrOptions(set(get_scorer_names())),
            callable,
            list,
            tuple,
            dict,
            None,
        ],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "sample_weight": ["array-like", None],
        "max_samples": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        "concepts": [list, tuple, dict, None],
        "captioner": [HasMethods(["captions", "check"]), None],
        "cache": "no_validation",
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "verbose": ["verbose"],
        "concept_names": [list, tuple, np.ndarray, None],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "detector": [HasMethods(["predict_proba"]), None],
        "X_images": ["array-like", None],
        "detector_concepts": [list, tuple, None],
        "tolerances": [dict, None],
        "confidence": [Interval(RealNotInt, 0, 1, closed="neither")],
        "ci_method": [StrOptions(set(CI_METHODS))],
        "n_bootstraps": [Interval(Integral, 1, None, closed="left")],
        "ci_random_state": ["random_state"],
        "pvalue_correction": [StrOptions({"holm"}), None],
    },
    prefer_skip_nested_validation=True,
)
def depict_importance(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: Any = None,
    scoring: Any = None,
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state: Any = None,
    sample_weight: Any = None,
    max_samples: float | int = 1.0,
    concepts: Any = None,
    captioner: ConceptCaptioner | None = None,
    cache: Any = None,
    batch_size: int | None = None,
    verbose: int = 0,
    concept_names: Any = None,
    seed: int = 0,
    detector: Any = None,
    X_images: Any = None,
    detector_concepts: Any = None,
    tolerances: dict[str, float] | None = None,
    confidence: float = 0.95,
    ci_method: str = "bootstrap",
    n_bootstraps: int = 1000,
    ci_random_state: Any = None,
    pvalue_correction: str | None = None,
) -> Bunch | dict[str, Bunch]:
    """Diffusion-enabled permutation importance of concepts for an image model.

    Each row of ``X_captions`` describes one image by its concepts. The baseline
    score is the estimator's score on images generated from the unpermuted
    captions. For each concept, its column is shuffled across rows, the
    captions are rebuilt, the images regenerated with the same per-row noise,
    and the estimator scored again; the importance is the drop in score.

    The numbers are those of :func:`sklearn.inspection.permutation_importance`
    applied to ``make_pipeline(CaptionToImage(generator), estimator)``, with the
    same ``random_state``, ``scoring``, ``n_repeats``, ``sample_weight`` and
    ``max_samples``. They are computed far faster: every distinct (caption,
    seed) pair is generated once and predicted once, in streamed chunks, and
    every (concept, repeat) score is a gather of stored predictions. The number
    of images is at most ``N * (1 + sum_j (K_j - 1))`` for concepts taking
    ``K_j`` values, whatever ``n_repeats`` is.

    Parameters
    ----------
    estimator : object
        A fitted model that predicts from images of shape (n, H, W, C), for
        example a pipeline, a sklearn classifier on flattened pixels, or a torch
        or Hugging Face model wrapped in :class:`TorchImageClassifier`. A
        pipeline (or a fitted search over one) that begins with
        :class:`CaptionToImage` is accepted too: the rest of the pipeline is
        explained with the transformer's generator, captioner, cache and seed,
        with the numbers of ``permutation_importance`` on the whole pipeline.
    X_captions : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table: one row per image, one column per concept. Cells
        are presence flags, counts or text phrases. A DataFrame's index labels
        identify the rows and so fix their noise seeds.
    y : array-like of shape (n_samples,)
        Targets.
    generator : object, default=None
        Text-to-image generator with ``generate(captions, seeds)`` and a
        ``fingerprint``, such as :class:`ShapesGenerator`, or a callable.
        Required unless ``estimator`` begins with :class:`CaptionToImage`.
    scoring : str, callable, list, tuple or dict, default=None
        As in :func:`sklearn.inspection.permutation_importance`. None uses the
        estimator's default score (accuracy for a classifier, R² for a
        regressor).
    n_repeats : int, default=5
        Number of times each concept is permuted.
    n_jobs : int, default=None
        Number of joblib workers generating and predicting chunks of images.
        Results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Controls the permutations, exactly as in sklearn.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights used in scoring.
    max_samples : int or float, default=1.0
        Rows drawn (without replacement) for the permuted scores, as in sklearn.
        Seeds still follow each row's identity, and captions use the column
        kinds of the whole table. (An unfitted ``CaptionToImage`` in sklearn's
        route infers kinds from each subsample instead, so the two routes can
        differ for count columns unless the pipeline is fitted or the kinds are
        pinned with ``ConceptCaptioner(kinds=...)``.)
    concepts : list or dict, default=None
        The columns to permute. None means every column except the captioner's
        context columns. A dict maps a name to a list of columns permuted
        together (one shared row permutation); tuples in a list do the same.
    captioner : ConceptCaptioner, default=None
        Builds captions; None uses ``ConceptCaptioner()``, as
        :class:`CaptionToImage` does.
    cache : str, path-like or ImageCache, default=None
        Keeps generated images across calls. None keeps nothing after the call.
    batch_size : int, default=None
        Images generated and predicted per chunk; peak memory holds one chunk
        of images per worker. None uses 256. Results do not depend on it.
    verbose : int, default=0
        Show a progress bar when above 0.
    concept_names : list of str, default=None
        Column names for a numeric array ``X_captions``.
    seed : int, default=0
        Base of the per-row noise seeds, as in :class:`CaptionToImage`.
    detector : object, default=None
        A fitted multi-label concept detector on images with ``predict_proba``
        (one output per detector concept). When given, it predicts every
        generated image alongside the estimator (no extra generation) and the
        result gains ``diagnostics``: the paper's two checks. See
        :func:`depict_diagnostics`.
    X_images : array-like of shape (n_samples, H, W, C), default=None
        The real images the concept table describes. When given, check 1
        compares the estimator's (and the detector's) score on them with the
        score on the generated images.
    detector_concepts : list, default=None
        The table columns that the detector's outputs predict, in order. None
        means every column except the captioner's context columns.
    tolerances : dict, default=None
        Overrides of the check tolerances: ``generation_gap`` (0.1, the largest
        accepted AUROC gap between real and generated images), ``min_drop``
        (0.1, how much permuting a concept must lower the detector's AUROC for
        it) and ``max_leak`` (0.05, how much it may lower any other concept's).
    confidence : float, default=0.95
        Coverage of ``importances_ci``.
    ci_method : {"bootstrap", "t"}, default="bootstrap"
        How ``importances_ci`` and ``pvalues`` are computed. ``"bootstrap"``
        resamples the evaluated rows with replacement from the stored
        predictions (no new generation or prediction) and takes percentile
        intervals of the mean importance: it covers the sampling of the
        evaluation set, as the paper's intervals do. ``"t"`` is a t interval
        over the repeats: it covers the noise of the permutations only, and so
        is too narrow to say how the importance would change on other images.
        See :ref:`intervals` for the calibration study behind the default.
    n_bootstraps : int, default=1000
        Bootstrap resamples for ``ci_method="bootstrap"``.
    ci_random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap. It is separate from ``random_state`` so that the
        intervals never change the permutations; pass an int for
        reproducible intervals and p-values.
    pvalue_correction : {"holm"} or None, default=None
        ``"holm"`` adjusts ``pvalues`` across concepts with Holm's step-down
        method, which bounds the chance of calling any concept relied upon
        when none is.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch` or dict of such instances
        With the keys of sklearn's result:

        importances_mean : ndarray of shape (n_concepts,)
            Mean of the concept importances over ``n_repeats``.
        importances_std : ndarray of shape (n_concepts,)
            Standard deviation over ``n_repeats`` (a spread of the repeats, not
            the uncertainty of the mean).
        importances : ndarray of shape (n_concepts, n_repeats)
            Raw drops in score, baseline minus permuted.

        and also ``concept_names``, ``baseline_score``, ``n_images_distinct``
        (distinct (caption, seed) pairs), ``n_images_generated`` (made by the
        generator in this call), ``n_images_cached`` (read from the cache),
        ``n_images_bound`` (the distinct-pair bound), ``n_images_naive`` (what a
        literal run would generate) and ``timings`` (seconds spent planning,
        generating, predicting and scoring). For multi-metric ``scoring``, a
        dict from metric name to such a Bunch.

        Each Bunch also holds ``importances_ci`` (n_concepts, 2), a
        ``confidence`` interval of the *mean* importance (see ``ci_method``;
        unlike ``importances_std``, which is the spread of single
        permutations), ``pvalues`` (n_concepts,), one-sided p-values of
        "the model does not rely on this concept" (mean importance <= 0), from
        the same bootstrap or t statistics, adjusted when
        ``pvalue_correction`` is set, ``ci_method``, ``ranking`` (1 = most
        important), ``tie_groups`` (concept names whose intervals overlap,
        most important first), ``fast_scoring`` (True when the scores came
        from the vectorised implementation of a named sklearn scorer),
        ``plan`` (the distinct pairs and which one each row shows, for
        displays) and, with a ``detector`` or ``X_images``, ``diagnostics``.

    See Also
    --------
    sklearn.inspection.permutation_importance : The tabular method.
    CaptionToImage : The transformer behind the equivalent pipeline.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_depict import ShapesGenerator, depict_importance, make_shapes_dataset
    >>> data = make_shapes_dataset(200, random_state=0)
    >>> y = data.concepts["red circle"].to_numpy()
    >>> flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    >>> clf = make_pipeline(flatten, LogisticRegression(max_iter=500)).fit(data.images, y)
    >>> result = depict_importance(clf, data.concepts, y, generator=ShapesGenerator(),
    ...                            scoring="roc_auc", n_repeats=3, random_state=0)
    >>> str(result.concept_names[np.argmax(result.importances_mean)])
    'red circle'
    >>> result.importances.shape
    (6, 3)
    """
    # Everything that needs no image is checked before the first is generated.
    setup = resolve_run(
        estimator, generator=generator, captioner=captioner, cache=cache, seed=seed,
        batch_size=batch_size, concept_names=concept_names, scoring=scoring,
    )  # fmt: skip
    estimator, generator, captioner, cache = (
        setup.estimator, setup.generator, setup.captioner, setup.cache
    )  # fmt: skip
    seed, batch_size, scoring = setup.seed, setup.batch_size, setup.scoring
    table = check_concept_table(X_captions, concept_names=setup.concept_names)
    check_table_columns(setup.caption_step, table)
    n_samples = len(table)
    y_array = check_array(
        y, ensure_2d=False, dtype=None, input_name="y", ensure_all_finite=True
    )
    check_consistent_length(table, y_array)
    weights = _check_sample_weight(sample_weight, n_samples)
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
    if scoring is None:
        check_default_score(estimator)
    scorer = check_scoring(replay, scoring=scoring)
    methods = needed_methods(scorer, available, default=scoring is None)
    check_scoring_before_generating(
        estimator, available, methods, scorer, y_array, weights, scoring=scoring
    )

    timings = {}
    start = time.perf_counter()
    plan = make_plan(
        table,
        concept_names=names,
        concept_columns=columns,
        captioner=captioner,
        seed=seed,
        n_repeats=n_repeats,
        n_scored=n_scored,
        random_state=random_state,
    )
    timings["planning"] = time.perf_counter() - start
    check_captions(generator, plan.captions)
    # Before any image is made: a named scorer that cannot score these targets fails here.
    fast = fast_scorers(scoring, replay, y_array, weights, plan.row_indices)

    def score_baseline_first(responses: list[dict[str, Any]]) -> None:
        # Errors only predictions reveal surface after the baseline images.
        replay.responses_ = responses[0]
        checked_score(scorer, replay, plan.baseline_ids, y_array, weights,
                      what=_baseline_what(scorer))

    predictors = [(estimator, sorted(methods))]
    if detector is not None:
        predictors.append((detector, ["predict_proba"]))
    responses, stats = _generate_and_predict_all(
        plan,
        generator=generator,
        predictors=predictors,
        cache=cache,
        fingerprint=fingerprint,
        batch_size=batch_size,
        n_jobs=n_jobs,
        verbose=verbose,
        on_baseline=score_baseline_first,
    )
    replay.responses_ = responses[0]
    timings.update(generation=stats["generation"], prediction=stats["prediction"])

    start = time.perf_counter()
    results = _score_plan(plan, replay, scorer, y_array, weights, fast,
                          derivatives=ci_method == "bootstrap")
    timings["scoring"] = time.perf_counter() - start
    bunches = [results] if isinstance(results, Bunch) else list(results.values())

    if detector is not None or X_images is not None:
        start = time.perf_counter()
        diagnose(
            results,
            plan=plan,
            table=table,
            estimator=estimator,
            available=available,
            methods=sorted(methods),
            scorer=scorer,
            y=y_array,
            sample_weight=weights,
            X_images=X_images,
            detector=detector,
            detector_proba=None if detector is None else responses[1]["predict_proba"],
            detector_concepts=detector_concepts,
            tolerances=tolerances,
        )
        timings["diagnostics"] = time.perf_counter() - start

    extras = {
        "concept_names": np.asarray(plan.concept_names, dtype=object),
        "n_images_distinct": plan.n_distinct,
        "n_images_generated": stats["generated"],
        "n_images_cached": stats["hits"],
        "n_images_bound": plan.n_bound,
        "n_images_naive": plan.n_naive,
        "timings": timings,
        "plan": plan,
    }
    start = time.perf_counter()
    settings = IntervalSettings(confidence, ci_method, n_bootstraps, ci_random_state,
                                pvalue_correction)
    keys = [None] if isinstance(results, Bunch) else list(results)
    for key, bunch in zip(keys, bunches):
        bunch.update(extras)
        bunch.fast_scoring = fast[key].scorer is not None
        add_uncertainty(bunch, settings, plan=plan, replay=replay, route=fast[key], y=y_array,
                        sample_weight=weights, verbose=verbose)
    timings["intervals"] = time.perf_counter() - start
    return results


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
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


def _chunk_task(
    generator: Any,
    predictors: list[tuple[Any, list[str]]],
    captions: list[str],
    seeds: list[int],
    cache: ImageCache | None,
    fingerprint: str | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate (or load) one chunk of images and predict it; keep no images."""
    generator = _reuse_in_worker(generator)
    # A private copy, so counters from worker processes are added up once.
    local_cache = None if cache is None else ImageCache(cache.directory, max_bytes=cache.max_bytes)
    start = time.perf_counter()
    images, stats = generate_pairs(
        generator, captions, seeds, cache=local_cache, fingerprint=fingerprint
    )
    middle = time.perf_counter()
    outputs = [
        {
            method: check_prediction_output(
                getattr(model, method)(images), method, len(images), model
            )
            for method in methods
        }
        for model, methods in predictors
    ]
    stats.update(
        generation=middle - start,
        prediction=time.perf_counter() - middle,
        image_shape=images.shape[1:],
        n_images=len(images),
    )
    return outputs, stats


# The generator each worker process keeps between tasks. Every task carries a
# pickled copy of the generator; a heavy one (a diffusion pipeline) loads its
# weights lazily, so reusing the first copy a worker saw means each worker
# loads the model once per run, and once across runs with the same model.
_WORKER_GENERATOR: dict[tuple[str, str], Any] = {}


def _reuse_in_worker(generator: Any) -> Any:
    fingerprint = getattr(generator, "fingerprint", None)
    # In the driver process the caller's own object is used as it is.
    if multiprocessing.parent_process() is None or not isinstance(fingerprint, str):
        return generator
    key = (f"{type(generator).__module__}.{type(generator).__qualname__}", fingerprint)
    if key not in _WORKER_GENERATOR:
        _WORKER_GENERATOR.clear()
        _WORKER_GENERATOR[key] = generator
    return _WORKER_GENERATOR[key]


def _generate_and_predict_all(
    plan: ImportancePlan,
    *,
    generator: Any,
    predictors: list[tuple[Any, list[str]]],
    cache: ImageCache | None,
    fingerprint: str | None,
    batch_size: int | None,
    n_jobs: int | None,
    verbose: int,
    on_baseline: Any = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stream the distinct pairs through generation and every predictor.

    The baseline's pairs (the plan's first ids) go first, in chunks of their
    own; ``on_baseline(responses)`` is called before any permuted pair is
    generated, so that it can score the baseline.

    Returns, for each predictor, its outputs for all distinct pairs (indexed
    by pair id), and the run's counters and timings.
    """
    step = batch_size or DEFAULT_CHUNK_SIZE
    responses: list[dict[str, Any]] = [{} for _ in predictors]
    totals = {"hits": 0, "generated": 0, "generation": 0.0, "prediction": 0.0}
    image_shape: list[Any] = []
    phases = [(0, plan.n_baseline), (plan.n_baseline, plan.n_distinct)]
    with progress_bar(plan.n_distinct, "generating and predicting", verbose) as bar:
        for phase, (first, stop) in enumerate(phases):
            starts = range(first, stop, step)
            tasks = (
                delayed(_chunk_task)(
                    generator,
                    predictors,
                    plan.captions[s : min(s + step, stop)],
                    plan.seeds[s : min(s + step, stop)],
                    cache,
                    fingerprint,
                )
                for s in starts
            )
            results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
            for s, (outputs, stats) in zip(starts, results, strict=True):
                _collect(responses, totals, image_shape, outputs, stats, s, plan.n_distinct)
                bar.update(stats["n_images"])
            if phase == 0 and on_baseline is not None:
                on_baseline(responses)
    if cache is not None:
        cache.hits += totals["hits"]
        cache.misses += totals["generated"]
        cache.generated += totals["generated"]
    return responses, totals


def _collect(
    responses: list[dict[str, Any]],
    totals: dict[str, Any],
    image_shape: list[Any],
    outputs: list[dict[str, Any]],
    stats: dict[str, Any],
    start: int,
    n: int,
) -> None:
    """Store one chunk's predictions and add up its counters."""
    if not image_shape:
        image_shape.append(stats["image_shape"])
    elif stats["image_shape"] != image_shape[0]:
        raise ValueError(
            f"The generator returned images of shape {stats['image_shape']} "
            f"after images of shape {image_shape[0]}; all images of a run must "
            "have the same shape."
        )
    for stored, chunk in zip(responses, outputs):
        for method, output in chunk.items():
            _store(stored, method, output, start, n)
    for key in totals:
        totals[key] += stats[key]


def _store(responses: dict[str, Any], method: str, output: Any, start: int, n: int) -> None:
    if isinstance(output, list):
        stored = responses.setdefault(method, [None] * len(output))
        for k, part in enumerate(output):
            stored[k] = _filled(stored[k], part, start, n)
    else:
        responses[method] = _filled(responses.get(method), output, start, n)


def _filled(stored: np.ndarray | None, part: np.ndarray, start: int, n: int) -> np.ndarray:
    if stored is None:
        stored = np.empty((n, *part.shape[1:]), dtype=part.dtype)
    elif stored.shape[1:] != part.shape[1:]:
        raise ValueError(
            f"Predictions changed shape between chunks: {stored.shape[1:]} then "
            f"{part.shape[1:]}."
        )
    if part.dtype != stored.dtype:
        stored = stored.astype(np.result_type(stored.dtype, part.dtype))
    stored[start : start + len(part)] = part
    return stored


def _baseline_what(scorer: Any) -> str:
    return f"Scoring the images generated from the unpermuted captions with {scorer!r}"


def _score_plan(
    plan: ImportancePlan,
    replay: Any,
    scorer: Any,
    y: np.ndarray,
    weights: Any,
    routes: dict[Any, ScoringRoute],
    derivatives: bool = False,
) -> Bunch | dict[str, Bunch]:
    """Score the baseline and every (concept, repeat) from stored predictions.

    The baseline goes through sklearn's scorer. The permuted scores of a
    metric with a vectorised scorer come from one array computation per
    concept (and, with ``derivatives``, each row's contribution for the
    bootstrap); every other metric is scored repeat by repeat with its own
    sklearn scorer.
    """
    baseline, caught = checked_score(
        scorer, replay, plan.baseline_ids, y, weights, what=_baseline_what(scorer)
    )
    for warning in caught:
        warnings.warn(warning.message, stacklevel=3)
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
            name: _importances_bunch(baseline[name], np.array(permuted[name]))
            for name in baseline
        }
    return _importances_bunch(baseline, np.array(permuted[None]))


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
        stacklevel=4,
    )
    route.scorer = route.full = None
    return None


def _importances_bunch(baseline: Any, permuted: np.ndarray) -> Bunch:
    importances = baseline - permuted
    return Bunch(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
        baseline_score=baseline,
    )

