"""``depict_importance``: diffusion-enabled permutation importance.

The public layer over the engine (:mod:`sklearn_depict._engine`): it
validates the parameters and returns what the engine computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sklearn.utils import Bunch

from ._engine.params import ANYTIME_CONSTRAINTS, RUN_CONSTRAINTS, check_scoring_names
from ._engine.run import explain
from ._sklearn_compat import validate_params
from .caption_to_image import CaptionToImage, unpack_caption_step

if TYPE_CHECKING:
    from .generators._base import GeneratorLike

__all__ = ["depict_importance"]


@validate_params({**RUN_CONSTRAINTS, **ANYTIME_CONSTRAINTS},
                 prefer_skip_nested_validation=True)
def depict_importance(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: GeneratorLike | CaptionToImage | None = None,
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
    tol: float | None = None,
    block_size: int | None = None,
    min_blocks: int | None = None,
    verbose: int = 0,
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

    The equality holds to 1e-12 for any estimator whose output for an image
    does not depend on the other images predicted with it. A model computing
    in float32 (for example a ``LogisticRegression`` fitted on float32
    pixels) can change a row's output in its last bits with the batch size
    (BLAS blocks the product differently); the engine predicts chunks of
    ``batch_size`` images where sklearn predicts all rows at once, so such a
    model agrees to about 1e-7 instead. See :ref:`equivalence`.

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
        ``fingerprint``, such as :class:`ShapesGenerator`, or a callable. A
        :class:`CaptionToImage` is accepted too, and then its generator,
        captioner, cache, seed and batch size are used: the numbers are those
        of ``permutation_importance`` on ``make_pipeline(generator,
        estimator)``. Required unless ``estimator`` begins with
        :class:`CaptionToImage`.
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
    conditioning : None, dict or "auto", default=None
        How each concept is permuted (see :ref:`correlated`). None permutes
        across all rows, exactly as sklearn. A dict ``{concept: [columns]}``
        permutes that concept (or concept group, by its name or tuple) only among rows
        sharing the exact values of those columns (its strata); concepts left
        out are permuted across all rows. ``"auto"`` (cs-PFI) takes as strata
        the leaves of a shallow decision tree that predicts each concept from
        the other concept columns (a classifier on the values, or on a group's
        joint values; a regressor for a count), fitted on this table and
        seeded from ``random_state``. Each repeat draws a permutation within
        the strata (:func:`~sklearn_depict._engine.strata.conditional_permutations`);
        ``plan.permuted_table`` returns every permuted table. A
        :class:`ConditioningWarning` names concepts that change in fewer than
        10% of the rows.
    conditioning_params : dict, default=None
        The tree of ``conditioning="auto"``: ``max_depth`` (default 3) and
        ``min_samples_leaf`` (an int, or a fraction of the rows; default 5% of
        the rows, at least 1).
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
    tol : float, default=None
        Anytime DEPICT (see :ref:`anytime`): stop once every concept's
        interval half-width (half of ``importances_ci``'s width) is at most
        ``tol``. The rows are taken in blocks of ``block_size``, in an order
        drawn from ``random_state``; each concept is permuted *within* each
        block (with ``conditioning``, within block x stratum), each block from
        its own random stream, so the images of earlier blocks stay valid as
        blocks are added and only each new block's distinct pairs are made.
        After each block the bootstrap intervals are recomputed on all rows
        used so far. The run stops when every half-width is at most ``tol``
        (after at least ``min_blocks`` blocks), or when the rows run out. Needs
        ``ci_method="bootstrap"``, ``max_samples=1.0`` and a single named
        sklearn scorer with a vectorised implementation (``"roc_auc"``,
        ``"accuracy"``, ``"neg_log_loss"``, ``"r2"``, ...); None explains all
        rows at once.
    block_size : int, default=None
        Rows per block with ``tol``: at least 2 and at most the number of
        rows; None means 256. A last block of one row joins the block before.
    min_blocks : int, default=None
        Blocks processed before an anytime run may stop, at least 1; None
        means 2. More blocks than the table holds processes them all.
    verbose : int, default=0
        Show progress bars when above 0.

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

        and also ``concept_names``, ``baseline_score``, ``chance_score`` (the
        score at chance for a named scorer: 0.5 for ROC AUC, the majority-class
        rate for accuracy, 1/K for balanced accuracy, 0 for R², minus the
        entropy of the class rates for ``neg_log_loss``; NaN otherwise),
        ``constant_concepts`` (a boolean array: True for a concept that
        takes a single value in the table, whose importance is then 0 by
        construction; a ``ConstantConceptWarning`` names them before any
        image is generated), ``n_images_distinct``
        (distinct (caption, seed) pairs), ``n_images_generated`` (made by the
        generator in this call), ``n_images_cached`` (read from the cache),
        ``n_images_bound`` (the distinct-pair bound), ``n_images_naive`` (what a
        literal run would generate) and ``timings`` (seconds spent planning,
        generating, predicting and scoring). With ``conditioning``, also
        ``conditioning``: per concept name a dict of ``columns`` (the
        conditioning columns, or the columns the tree split on; empty for a
        concept permuted marginally), ``n_strata``, ``changed_fraction`` (the
        share of scored rows whose value of the concept changed, averaged over
        the repeats) and ``marginal_changed_fraction`` (the same under the
        marginal draw, for comparison). For multi-metric ``scoring``, a
        dict from metric name to such a Bunch.

        Each Bunch also holds ``importances_ci`` (n_concepts, 2), a
        ``confidence`` interval of the *mean* importance (see ``ci_method``;
        unlike ``importances_std``, which is the spread of single
        permutations), ``pvalues`` (n_concepts,), one-sided p-values of
        "the model does not rely on this concept" (mean importance <= 0), from
        the same bootstrap or t statistics, adjusted when
        ``pvalue_correction`` is set, ``ci_method``, ``ranking`` (1 = most
        important), ``tie_groups`` (concept names in runs of the ranking whose
        intervals all overlap pairwise, most important first; see
        :func:`~sklearn_depict.stats.ranking.rank_with_ties`), ``fast_scoring``
        (True when the scores came from the vectorised implementation of a
        named sklearn scorer) and ``plan``, an :class:`ImportancePlan`: the
        distinct (caption, seed) pairs and which one each row shows in the
        baseline and in every (concept, repeat), as displays and reports use
        it. A result of :func:`depict_diagnostics` also holds ``diagnostics``,
        and so does any result whose baseline is at or below ``chance_score``:
        its check 1 fails, and a :class:`DiagnosticWarning` says so and names
        the likely causes (the class order or ``pos_label``, a generator that
        does not draw the domain, a model fitted on other data).

        With ``tol``, the result is that of the rows used: ``n_samples_used``
        (rows), ``stopped_early`` (True when the intervals settled before the
        rows ran out) and ``anytime_trace``, an
        :class:`~sklearn_depict.AnytimeTrace` of the rows,
        distinct images and every concept's half-width after each block
        (``anytime_trace.to_frame()``); ``plan.table_rows`` lists the rows
        used and ``plan.permuted_table`` their within-block permutations.

    See Also
    --------
    sklearn.inspection.permutation_importance : The tabular method.
    CaptionToImage : The transformer behind the equivalent pipeline.
    depict_diagnostics : The same run, with the paper's checks of the generator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklearn_depict import ShapesGenerator, depict_importance, make_shapes_dataset
    >>> data = make_shapes_dataset(200, random_state=0)
    >>> y = data.concept_table["red circle"].to_numpy()
    >>> flatten = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    >>> clf = make_pipeline(flatten, LogisticRegression(max_iter=500)).fit(data.images, y)
    >>> result = depict_importance(clf, data.concept_table, y, generator=ShapesGenerator(),
    ...                            scoring="roc_auc", n_repeats=3, random_state=0)
    >>> str(result.concept_names[np.argmax(result.importances_mean)])
    'red circle'
    >>> result.importances.shape
    (6, 3)

    Conditional permutation: 'red circle' moves only among rows that agree on
    'blue square', and the result says how many rows actually changed.

    >>> conditional = depict_importance(
    ...     clf, data.concept_table, y, generator=ShapesGenerator(), scoring="roc_auc",
    ...     n_repeats=3, random_state=0, conditioning={"red circle": ["blue square"]})
    >>> info = conditional.conditioning["red circle"]
    >>> info["columns"], info["n_strata"]
    (['blue square'], 2)
    >>> bool(0 < info["changed_fraction"] < 1)
    True
    """
    check_scoring_names(scoring, caller="depict_importance")
    # 0. A pipeline (or search) beginning with CaptionToImage, or
    # generator=CaptionToImage(...), is unpacked here: the engine sees the
    # model, the generator and the transformer's settings.
    unpacked = unpack_caption_step(estimator, generator=generator, scoring=scoring)
    return explain(
        unpacked.estimator, X_captions, y,
        generator=unpacked.generator, scoring=unpacked.scoring, n_repeats=n_repeats,
        random_state=random_state, sample_weight=sample_weight, max_samples=max_samples,
        concepts=concepts, conditioning=conditioning,
        conditioning_params=conditioning_params, confidence=confidence, ci_method=ci_method,
        n_bootstraps=n_bootstraps, ci_random_state=ci_random_state,
        pvalue_correction=pvalue_correction, n_jobs=n_jobs, verbose=verbose,
        caption_options=unpacked.caption_options, tol=tol, block_size=block_size,
        min_blocks=min_blocks,
    )  # fmt: skip
