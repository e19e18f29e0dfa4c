"""``CaptionToImage``: a scikit-learn transformer from concept tables to images.

Also where the public functions unpack it (:func:`unpack_caption_step`): the
engine below never sees the transformer, only its generator and its
:class:`~sklearn_depict._engine.stages.CaptionOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline

from ._engine.execute import DEFAULT_CHUNK_SIZE, execute
from ._engine.generate import distinct_pairs, resolve_fingerprint
from ._engine.preflight import check_not_torch_module
from ._engine.stages import CaptionOptions
from ._sklearn_compat import HasMethods, Integral, Interval, validate_estimator_params
from .cache import check_cache
from .captioning import ConceptCaptioner
from .concepts import make_concept_table
from .generators._base import check_generator

if TYPE_CHECKING:
    from .generators._base import GeneratorLike

__all__ = ["CaptionToImage", "DEFAULT_CHUNK_SIZE", "Unpacked", "unpack_caption_step"]


class CaptionToImage(TransformerMixin, BaseEstimator):
    """Turn a concept table into images with a text-to-image generator.

    Each row is captioned (see :class:`ConceptCaptioner`) and rendered with a
    noise seed that comes from ``seed`` and the row's identity: its DataFrame
    index label, or its position for an array. Permuting a concept therefore
    changes a row's caption but not its noise, so the images before and after
    differ only by what the caption says.

    The transformer is stateless: :meth:`transform` needs no :meth:`fit`, so
    ``make_pipeline(CaptionToImage(g), fitted_classifier)`` can be scored,
    cross-validated and explained at once. Repeated (caption, seed) pairs in a
    call are generated once; a ``cache`` keeps images across calls.

    Parameters
    ----------
    generator : object
        A generator with ``generate(captions, seeds)`` and ``fingerprint``, such
        as :class:`ShapesGenerator`, or a plain callable with that signature.
    captioner : ConceptCaptioner, default=None
        Builds the captions; None uses ``ConceptCaptioner()``.
    cache : str, path-like or ImageCache, default=None
        Keeps generated images on disk across calls and processes. None
        generates every call's images afresh.
    seed : int, default=0
        Base of the per-row noise seeds.
    batch_size : int, default=None
        Most images generated per chunk. None uses 256.
    concept_names : sequence of str, default=None
        Column names for a numeric array (a DataFrame names its own columns).
    verbose : int, default=0
        Show a progress bar when above 0.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen in :meth:`fit` (only set by :meth:`fit`).
    feature_names_in_ : ndarray of shape (n_features,)
        Column names seen in :meth:`fit`.
    kinds_ : dict
        Column kinds (binary, count, text) learned in :meth:`fit` and used by
        every later :meth:`transform`. Without :meth:`fit`, kinds are inferred
        from each table transformed, so a subset of a count column that holds
        only 0 and 1 would be captioned as binary; fit first (a pipeline's
        ``fit`` does) or pin them with ``ConceptCaptioner(kinds=...)``.

    See Also
    --------
    sklearn_depict.depict_importance : The fast route to the same importances.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict import CaptionToImage, ShapesGenerator
    >>> table = pd.DataFrame({"red circle": [1, 0], "blue square": [1, 1]})
    >>> images = CaptionToImage(ShapesGenerator()).transform(table)
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('float32'))
    """

    _parameter_constraints: dict = {
        "generator": "no_validation",
        "captioner": [HasMethods(["captions", "check"]), None],
        "cache": "no_validation",
        "seed": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "concept_names": ["array-like", None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        generator: GeneratorLike,
        *,
        captioner: ConceptCaptioner | None = None,
        cache: Any = None,
        seed: int = 0,
        batch_size: int | None = None,
        concept_names: Sequence[Any] | None = None,
        verbose: int = 0,
    ) -> None:
        self.generator = generator
        self.captioner = captioner
        self.cache = cache
        self.seed = seed
        self.batch_size = batch_size
        self.concept_names = concept_names
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = False
        return tags

    def __sklearn_clone__(self) -> CaptionToImage:
        # sklearn's clone deep-copies parameters that are not estimators, which
        # for a diffusion model means copying the whole network. Generators that
        # are estimators are cloned (cheaply, from their parameters); anything
        # else, and the cache, is shared.
        params = self.get_params(deep=False)
        for name in ("generator", "captioner"):
            value = params[name]
            if hasattr(value, "get_params") and not isinstance(value, type):
                params[name] = clone(value)
        return type(self)(**params)

    def fit(self, X: Any, y: Any = None) -> CaptionToImage:
        """Check the table; nothing is learned.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_columns)
            A concept table.
        y : None
            Ignored.

        Returns
        -------
        self : CaptionToImage
        """
        validate_estimator_params(self)
        table = self._table(X, fitted=False)
        self.kinds_ = dict(table.kinds)
        self.n_features_in_ = table.frame.shape[1]
        self.feature_names_in_ = np.asarray(table.columns, dtype=object)
        return self

    def _table(self, X: Any, *, fitted: bool) -> Any:
        """The call's concept table; a fitted transformer's columns and kinds hold."""
        fitted = fitted and hasattr(self, "kinds_")
        return make_concept_table(
            X, captioner=self._captioner(), seed=self.seed,
            concept_names=self.concept_names, caller="CaptionToImage",
            # Kinds learned on the whole table keep a row's caption independent
            # of which other rows come with it (a subset of a count column may
            # hold only 0 and 1).
            kinds=self.kinds_ if fitted else None,
            feature_names_in=self.feature_names_in_ if fitted else None,
        )  # fmt: skip

    def _captioner(self) -> ConceptCaptioner:
        return ConceptCaptioner() if self.captioner is None else self.captioner

    def transform(self, X: Any) -> np.ndarray:
        """Generate one image per row.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_columns)
            A concept table.

        Returns
        -------
        images : ndarray of shape (n_samples, height, width, channels), float32
            Values in [0, 1].
        """
        validate_estimator_params(self)
        table = self._table(X, fitted=True)
        return self.generate(self._captioner().captions(table), table.seeds)

    def generate(self, captions: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Images for explicit (caption, seed) pairs, through the cache.

        Parameters
        ----------
        captions : sequence of str
        seeds : sequence of int

        Returns
        -------
        images : ndarray of shape (n, height, width, channels), float32
        """
        generator = check_generator(self.generator, caller="CaptionToImage")
        cache = check_cache(self.cache, caller="CaptionToImage")
        fingerprint = resolve_fingerprint(generator, cache)
        unique_captions, unique_seeds, inverse = distinct_pairs(captions, seeds)
        # The engine's loop, with no predictor: the images themselves are kept.
        # In this process (n_jobs=1), whatever joblib context the caller set,
        # since the images all come back here anyway.
        execution = execute(
            unique_captions,
            unique_seeds,
            generator=generator,
            fingerprint=fingerprint,
            cache=cache,
            batch_size=self.batch_size,
            n_jobs=1,
            verbose=self.verbose,
            keep_images=True,
            label="generating",
        )
        return execution.images[inverse]


class Unpacked(NamedTuple):
    """What the engine runs once a :class:`CaptionToImage` is unpacked."""

    estimator: Any
    """The model that predicts from images."""
    generator: Any
    """The text-to-image generator."""
    scoring: Any
    """The scoring (a fitted search's own scorer when ``scoring`` was None)."""
    caption_options: CaptionOptions
    """The transformer's captioner, cache, seed, batch size, kinds and columns."""


def unpack_caption_step(estimator: Any, *, generator: Any, scoring: Any,
                        caller: str = "depict_importance") -> Unpacked:
    """Unpack a pipeline (or search) that begins with :class:`CaptionToImage`.

    ``depict_importance(make_pipeline(CaptionToImage(g), clf), X, y)`` explains
    ``clf`` with the transformer's generator, captioner (with the column kinds
    learned in its ``fit``), cache and seed, which is exactly what sklearn's
    ``permutation_importance`` on the pipeline computes. So does
    ``generator=CaptionToImage(g, ...)`` with an estimator on images. A fitted
    search over such a pipeline is explained through its ``best_estimator_``,
    scored as the search scores (its ``scorer_``) when ``scoring`` is None.

    Parameters
    ----------
    estimator : object
        The estimator given to the public function.
    generator : object
        Its ``generator`` argument: a generator, a CaptionToImage or None.
    scoring : object
        Its ``scoring`` argument.
    caller : str, default="depict_importance"
        Name used in error messages.

    Returns
    -------
    unpacked : Unpacked
    """
    check_not_torch_module(estimator)
    pipeline = estimator
    search = None
    if _is_fitted_search(estimator):
        search, pipeline = estimator, estimator.best_estimator_
    step = _caption_step(pipeline)
    from_generator = step is None and isinstance(generator, CaptionToImage)
    if from_generator:
        # generator=CaptionToImage(g, ...) is the pipeline
        # make_pipeline(CaptionToImage(g, ...), estimator), explained alike.
        step, rest = generator, pipeline
    elif step is None:
        if generator is None:
            raise TypeError(
                f"{caller} needs generator= (such as ShapesGenerator() or "
                "DiffusersGenerator(...)), unless the estimator is a pipeline that begins "
                "with CaptionToImage(generator)."
            )
        return Unpacked(estimator, generator, scoring, CaptionOptions())
    else:
        rest = pipeline[1:] if len(pipeline.steps) > 2 else pipeline.steps[1][1]
        if generator is not None and generator is not step.generator:
            raise ValueError(
                f"{caller} got generator= and a pipeline whose CaptionToImage has its "
                "own generator; the pipeline's is used. Leave generator= out (or set it "
                "on the CaptionToImage)."
            )
    check_not_torch_module(rest)
    validate_estimator_params(step)  # used unfitted, so sklearn's fit never checked it
    if scoring is None and search is not None:
        scoring = _search_scorer(search)
    options = CaptionOptions(
        captioner=step.captioner,
        cache=step.cache,
        seed=step.seed,
        batch_size=step.batch_size,
        concept_names=step.concept_names,
        kinds=getattr(step, "kinds_", None),
        feature_names_in=getattr(step, "feature_names_in_", None),
    )
    return Unpacked(rest, step.generator, scoring, options)


def _is_fitted_search(estimator: Any) -> bool:
    return hasattr(estimator, "cv_results_") and hasattr(estimator, "best_estimator_")


def _caption_step(estimator: Any) -> CaptionToImage | None:
    if isinstance(estimator, Pipeline) and len(estimator.steps) >= 2:
        first = estimator.steps[0][1]
        if isinstance(first, CaptionToImage):
            return first
    return None


def _search_scorer(search: Any) -> Any:
    """The scorer a fitted search's ``score`` uses, as sklearn's does."""
    if getattr(search, "scoring", None) is None:
        return None  # the best estimator's own score
    scorer = search.scorer_
    if getattr(search, "multimetric_", False):
        return scorer[search.refit]
    return scorer
