"""Cross-validated explanations: is a concept ranking stable across folds?"""

from __future__ import annotations

import copy
import inspect
import tempfile
from contextlib import nullcontext
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, check_array, check_consistent_length

from ._engine.params import CHECK_CONSTRAINTS, RUN_CONSTRAINTS, check_scoring_names
from ._engine.run import explain
from ._sklearn_compat import Integral, Interval, RealNotInt, StrOptions, validate_params
from .cache import ImageCache, check_cache
from .caption_to_image import CaptionToImage, unpack_caption_step
from .concepts import check_concept_table
from .diagnostics import Checks
from .stats.bootstrap import t_pvalues
from .stats.ranking import STABILITY_MEASURES, fold_agreement, importance_intervals, rank_with_ties
from .stats.replay import looks_like_classifier
from .stats.results import is_single_metric

if TYPE_CHECKING:
    from .generators._base import GeneratorLike

__all__ = ["cross_validate_importance"]


@validate_params(
    {
        **RUN_CONSTRAINTS,
        **CHECK_CONSTRAINTS,
        "cache": "no_validation",
        "cv": "no_validation",
        "refit": ["boolean"],
        "groups": ["array-like", None],
        "stability_threshold": [
            Interval(RealNotInt, -1, 1, closed="both"),
            Interval(Integral, -1, 1, closed="both"),
        ],
        "stability_measure": [StrOptions(set(STABILITY_MEASURES))],
    },
    prefer_skip_nested_validation=True,
)
def cross_validate_importance(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: GeneratorLike | CaptionToImage,
    cv: Any = 5,
    refit: bool = False,
    groups: Any = None,
    scoring: Any = None,
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state: Any = None,
    sample_weight: Any = None,
    max_samples: float | int = 1.0,
    concepts: Any = None,
    conditioning: Any = None,
    conditioning_params: Any = None,
    confidence: float = 0.95,
    ci_method: str = "bootstrap",
    n_bootstraps: int = 1000,
    ci_random_state: Any = None,
    pvalue_correction: str | None = None,
    X_images: Any = None,
    detector: Any = None,
    detector_concepts: Any = None,
    tolerances: dict[str, float] | None = None,
    cache: Any = None,
    stability_threshold: float = 0.7,
    stability_measure: str = "weighted_tau",
    verbose: int = 0,
) -> Bunch | dict[str, Bunch]:
    """Explain on every fold of a cross-validation and compare the rankings.

    With ``refit=False`` the (prefit) estimator is explained on each test fold,
    which shows how much a ranking depends on the rows it is computed on. With
    ``refit=True`` a clone is fitted on each training fold (on ``X_images`` when
    given, else on images generated from the training captions) and explained
    on its held-out fold, which also shows how much it depends on the fit. An
    estimator whose ``fit`` takes ``concept_table=`` (such as
    :class:`ConceptBottleneckClassifier`) gets the fold's rows of the concept
    table there.

    All folds share one image cache (a temporary one when ``cache`` is None):
    seeds follow row identities, so a row's baseline image is generated once,
    whether it is needed for training in one fold or explained in another.

    Parameters
    ----------
    estimator : object
        A fitted image model (``refit=False``), or an unfitted sklearn
        estimator to clone and fit per fold (``refit=True``).
    X_captions : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table.
    y : array-like of shape (n_samples,)
        Targets.
    generator : object
        Text-to-image generator, or a :class:`CaptionToImage` (whose
        captioner, seed and batch size are then used), as in
        :func:`depict_importance`.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`sklearn.model_selection.cross_validate`; stratified for
        classifiers when an int.
    refit : bool, default=False
        Fit a clone on each training fold.
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-aware splitters.
    scoring, n_repeats, n_jobs, random_state, sample_weight, max_samples, \
concepts, conditioning, conditioning_params, confidence, ci_method, \
n_bootstraps, ci_random_state, \
pvalue_correction : object
        As in :func:`depict_importance`, for each test fold.
    X_images : array-like of shape (n_samples, H, W, C), default=None
        Real images: training data with ``refit=True``, and check 1 of the
        diagnostics on each test fold.
    detector, detector_concepts, tolerances : object, default=None
        As in :func:`depict_diagnostics`: with a ``detector`` (or
        ``X_images``) each fold's result holds ``diagnostics``.
    cache : str, path-like or ImageCache, default=None
        Shared by the folds; None uses the ``CaptionToImage``'s cache when
        ``generator`` is one, else a temporary directory for the call.
    stability_threshold : float, default=0.7
        ``stable`` is True when ``rank_agreement`` reaches this value.
    stability_measure : {"weighted_tau", "kendall_tau"}, default="weighted_tau"
        How ``rank_agreement`` compares the folds. ``"weighted_tau"``: the
        mean pairwise weighted Kendall tau (:func:`scipy.stats.weightedtau`,
        top ranks weigh most) over the concepts that matter, each fold's top
        concept and those whose interval lies above zero in some fold; the
        order of concepts no fold tells apart from zero does not count.
        ``"kendall_tau"``: the plain mean pairwise Kendall tau over all
        concepts (the earlier verdict). See
        :func:`~sklearn_depict.stats.ranking.fold_agreement`.
    verbose : int, default=0
        Progress bars when above 0.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch` or dict of such instances
        folds : list of Bunch
            Each fold's :func:`depict_importance` result, with ``train`` and
            ``test`` row indices added.
        fold_importances : ndarray of shape (n_folds, n_concepts)
            Each fold's mean importances.
        importances_mean : ndarray of shape (n_concepts,)
            Mean across folds.
        importances_std : ndarray of shape (n_concepts,)
            Standard deviation across folds.
        importances_ci : ndarray of shape (n_concepts, 2)
            95% t interval of the mean across folds.
        pvalues : ndarray of shape (n_concepts,)
            One-sided t-test across folds of "the model does not rely on this
            concept" (mean importance <= 0).
        fold_pvalues : ndarray of shape (n_folds, n_concepts)
            Each fold's own ``pvalues`` (row bootstrap by default; see
            ``ci_method`` of :func:`depict_importance`).
        ranking : ndarray of shape (n_concepts,)
            1 for the concept with the largest mean across folds.
        tie_groups : list of list
            Runs of the ranking whose across-fold intervals all overlap
            pairwise (see :func:`~sklearn_depict.stats.ranking.rank_with_ties`).
        concept_names : ndarray
            The permuted concepts.
        rank_agreement : float
            The agreement between folds that decides ``stable``, measured as
            ``stability_measure`` says.
        stability_measure : str
            The measure of ``rank_agreement``: ``"weighted_tau"`` or
            ``"kendall_tau"``.
        stability_concepts : ndarray
            The concepts ``rank_agreement`` compared (all of them with
            ``"kendall_tau"``).
        rank_agreement_kendall : float
            Mean pairwise plain Kendall tau over all concepts, whatever the
            measure: a secondary figure that reordered noise lowers too.
        rank_agreement_spearman : float
            The same with Spearman's rho.
        stable : bool
            ``rank_agreement >= stability_threshold``.
        estimators : list
            The fitted clones (``refit=True``) or the estimator itself.

        A dict of such Bunches for multi-metric scoring.

    Examples
    --------
    >>> from sklearn_depict import (ConceptBottleneckClassifier, ShapesGenerator,
    ...                             make_concept_labels, make_shapes_dataset)
    >>> from sklearn_depict.cross_validation import cross_validate_importance
    >>> train = make_shapes_dataset(600, random_state=0)
    >>> test = make_shapes_dataset(150, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concept_table=train.concept_table)
    >>> y = make_concept_labels(test.concept_table, train.weights)
    >>> cv_result = cross_validate_importance(clf, test.concept_table, y,
    ...     generator=ShapesGenerator(), cv=3, scoring="roc_auc", n_repeats=3,
    ...     random_state=0)
    >>> cv_result.fold_importances.shape, bool(cv_result.stable)
    ((3, 6), True)
    """
    check_scoring_names(scoring, caller="cross_validate_importance")
    transformer = (generator if isinstance(generator, CaptionToImage)
                   else CaptionToImage(generator))
    table = check_concept_table(X_captions, concept_names=transformer.concept_names,
                                caller="cross_validate_importance")
    y_array = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    check_consistent_length(table, y_array)
    if X_images is not None:
        X_images = np.asarray(X_images)
        check_consistent_length(table, X_images)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    if weights is not None:
        check_consistent_length(table, weights)
    splitter = check_cv(cv, y_array, classifier=looks_like_classifier(estimator))
    user_cache = check_cache(cache if cache is not None else transformer.cache,
                             caller="cross_validate_importance")

    with tempfile.TemporaryDirectory(prefix="depict-cv-") if user_cache is None else (
        nullcontext(None)
    ) as tmp:
        shared_cache = user_cache if user_cache is not None else ImageCache(tmp)
        # A shallow copy: the same generator object, fitted kinds and all. The
        # table is a DataFrame by now, so its columns name the concepts.
        step = copy.copy(transformer).set_params(cache=shared_cache, concept_names=None)
        folds, estimators = [], []
        for train, test in splitter.split(table, y_array, groups):
            model = estimator
            if refit:
                model = _fit_fold(estimator, step, table.iloc[train], y_array[train],
                                  None if X_images is None else X_images[train], verbose)
            checks = None
            if detector is not None or X_images is not None:
                checks = Checks(detector, None if X_images is None else X_images[test],
                                detector_concepts, tolerances)
            unpacked = unpack_caption_step(model, generator=step, scoring=scoring,
                                           caller="cross_validate_importance")
            result = explain(
                unpacked.estimator, table.iloc[test], y_array[test],
                generator=unpacked.generator, scoring=unpacked.scoring, n_repeats=n_repeats,
                random_state=random_state,
                sample_weight=None if weights is None else weights[test],
                max_samples=max_samples, concepts=concepts, conditioning=conditioning,
                conditioning_params=conditioning_params, confidence=confidence,
                ci_method=ci_method, n_bootstraps=n_bootstraps,
                ci_random_state=ci_random_state, pvalue_correction=pvalue_correction,
                n_jobs=n_jobs, verbose=verbose, checks=checks,
                caption_options=unpacked.caption_options,
            )  # fmt: skip
            for bunch in _bunches(result):
                bunch.train, bunch.test = train, test
            folds.append(result)
            estimators.append(model)

    stability = (stability_threshold, stability_measure)
    if is_single_metric(folds[0]):
        return _summarise(folds, estimators, stability)
    return {
        name: _summarise([fold[name] for fold in folds], estimators, stability)
        for name in folds[0]
    }


def _fit_fold(
    estimator: Any,
    step: CaptionToImage,
    table: Any,
    y: np.ndarray,
    images: np.ndarray | None,
    verbose: int,
) -> Any:
    """A clone fitted on a training fold, on real or generated images."""
    model = clone(estimator)
    if images is None:
        images = copy.copy(step).set_params(verbose=verbose).transform(table)
    fit_params = {}
    # A concept bottleneck learns the concepts too: give it the fold's rows.
    if "concept_table" in inspect.signature(model.fit).parameters:
        fit_params["concept_table"] = table
    return model.fit(images, y, **fit_params)


def _bunches(result: Bunch | dict[str, Bunch]) -> list[Bunch]:
    return [result] if is_single_metric(result) else list(result.values())


def _summarise(folds: list[Bunch], estimators: list[Any],
               stability: tuple[float, str]) -> Bunch:
    threshold, measure = stability
    fold_importances = np.array([fold.importances_mean for fold in folds])
    rhos = [spearmanr(a, b).statistic for a, b in combinations(fold_importances, 2)]
    no_intervals = np.full((fold_importances.shape[1], 2), np.nan)
    fold_intervals = np.array([fold.get("importances_ci", no_intervals) for fold in folds])
    agreement, compared = fold_agreement(fold_importances, fold_intervals, measure=measure)
    kendall, _ = fold_agreement(fold_importances, measure="kendall_tau")
    mean = fold_importances.mean(axis=0)
    intervals = importance_intervals(fold_importances.T)
    ranking, groups = rank_with_ties(mean, intervals)
    fold_pvalues = np.array([fold.get("pvalues", np.full(len(mean), np.nan)) for fold in folds])
    names = folds[0].concept_names
    return Bunch(
        folds=folds,
        fold_importances=fold_importances,
        importances_mean=mean,
        importances_std=fold_importances.std(axis=0),
        importances_ci=intervals,
        pvalues=t_pvalues(fold_importances.T),
        fold_pvalues=fold_pvalues,
        ranking=ranking,
        tie_groups=[[names[i] for i in group] for group in groups],
        concept_names=names,
        rank_agreement=agreement,
        stability_measure=measure,
        stability_concepts=np.asarray(names)[compared],
        rank_agreement_kendall=kendall,
        rank_agreement_spearman=float(np.nanmean(rhos)) if rhos else np.nan,
        stable=bool(agreement >= threshold),
        estimators=estimators,
    )
