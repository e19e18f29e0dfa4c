"""``CaptionToImage``: a scikit-learn transformer from concept tables to images."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

from ._engine.execute import DEFAULT_CHUNK_SIZE, execute
from ._engine.generate import distinct_pairs, resolve_fingerprint
from ._sklearn_compat import HasMethods, Integral, Interval, validate_estimator_params
from .cache import check_cache
from .captioning import ConceptCaptioner
from .concepts import check_concept_table, row_identities, row_seeds
from .generators._base import check_generator

if TYPE_CHECKING:
    from .generators._base import GeneratorLike

__all__ = ["CaptionToImage", "DEFAULT_CHUNK_SIZE"]


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
        table = check_concept_table(X, concept_names=self.concept_names, caller="CaptionToImage")
        self.kinds_ = self._captioner().check(table)
        self.n_features_in_ = table.shape[1]
        self.feature_names_in_ = np.asarray(table.columns, dtype=object)
        return self

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
        table = check_concept_table(X, concept_names=self.concept_names, caller="CaptionToImage")
        captioner = self._captioner()
        kinds = captioner.check(table)
        if hasattr(self, "kinds_"):
            if table.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {table.shape[1]} columns, but CaptionToImage was fitted "
                    f"with {self.n_features_in_}."
                )
            if list(table.columns) != list(self.feature_names_in_):
                raise ValueError(
                    "The concept table's columns differ from those seen in fit: "
                    f"{list(table.columns)} != {list(self.feature_names_in_)}."
                )
            # Kinds learned on the whole table keep a row's caption independent
            # of which other rows come with it (a subset of a count column may
            # hold only 0 and 1).
            kinds = self.kinds_
        captions = captioner.captions(table, kinds=kinds)
        seeds = row_seeds(row_identities(table), self.seed)
        return self.generate(captions, seeds)

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
