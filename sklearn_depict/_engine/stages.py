"""The values the engine's stages hand on: each is frozen, and made by one stage.

``prepare`` makes :class:`RunInputs`, ``gather`` makes :class:`Predictions`,
``score`` makes :class:`Scores`, and ``finish`` turns them into the result.
A stage reads the values of the stages before it and never changes them, so
what a stage saw is what the next one sees. Each scorer that needs a
stand-in estimator builds its own from :attr:`Predictions.responses`
(:func:`~sklearn_depict.stats.replay.make_replay`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..captioning import ConceptCaptioner
from ..concepts import ConceptTable
from ..stats.fast_scoring import ScoringRoute
from .blocks import BlockDraws
from .plan import ImportancePlan

__all__ = ["CaptionOptions", "MetricScores", "Predictions", "RunInputs", "Scores"]


@dataclass(frozen=True)
class CaptionOptions:
    """How rows become images, besides the generator: a ``CaptionToImage``'s settings.

    The public functions unpack a :class:`~sklearn_depict.CaptionToImage`
    (given as ``generator=`` or as a pipeline's first step) into these; the
    engine never sees the transformer itself.

    Attributes
    ----------
    captioner : ConceptCaptioner or None
        Builds the captions; None uses ``ConceptCaptioner()``.
    cache : str, path-like, ImageCache or None
        Where generated images are kept across runs.
    seed : int
        The base of the per-row noise seeds.
    batch_size : int or None
        Most images per chunk; None uses the engine's default.
    concept_names : sequence or None
        Column names for a concept table given as an array.
    kinds : mapping or None
        The column kinds a fitted ``CaptionToImage`` learned (``kinds_``).
    feature_names_in : sequence or None
        The columns a fitted ``CaptionToImage`` saw (``feature_names_in_``).
    """

    captioner: ConceptCaptioner | None = None
    cache: Any = None
    seed: int = 0
    batch_size: int | None = None
    concept_names: Sequence[Any] | None = None
    kinds: Mapping[Any, str] | None = None
    feature_names_in: Sequence[Any] | None = None


@dataclass(frozen=True)
class RunInputs:
    """Everything a run checked and planned before any image: what ``prepare`` makes.

    Attributes
    ----------
    estimator : object
        The fitted model explained.
    available : tuple of str
        Its prediction methods.
    methods : tuple of str
        The methods the scorer calls: each is predicted on every image.
    scorer : callable
        sklearn's scorer for every metric at once (``check_scoring``).
    routes : mapping
        From metric name (None for a single metric) to the
        :class:`~sklearn_depict.stats.fast_scoring.ScoringRoute` that scores it.
    table : ConceptTable
        The concept table, validated once, with its kinds, codes and seeds.
    y : ndarray of shape (n_samples,)
        The targets.
    sample_weight : ndarray of shape (n_samples,) or None
        The validated sample weights.
    plan : ImportancePlan
        The distinct (caption, seed) pairs and which one each row shows.
    generator : object
        Follows the generator protocol.
    cache : ImageCache or None
        The validated image cache.
    fingerprint : str or None
        The generator's fingerprint (the cache's key).
    batch_size : int or None
        Most images per chunk.
    planning_seconds : float
        Time spent planning.
    blocks : BlockDraws or None
        An anytime run's blocks and within-block draws; None otherwise.
    """

    estimator: Any
    available: tuple[str, ...]
    methods: tuple[str, ...]
    scorer: Any
    routes: Mapping[Any, ScoringRoute]
    table: ConceptTable
    y: np.ndarray
    sample_weight: np.ndarray | None
    plan: ImportancePlan
    generator: Any
    cache: Any
    fingerprint: str | None
    batch_size: int | None
    planning_seconds: float
    blocks: BlockDraws | None = None


@dataclass(frozen=True)
class Predictions:
    """What the models said about every distinct image: what ``gather`` makes.

    Attributes
    ----------
    responses : mapping
        The estimator's outputs: method name -> one output per pair id (a
        multi-output method holds a list of arrays).
    detector_proba : ndarray of shape (n_distinct, n_outputs) or None
        The detector's ``predict_proba`` per pair id, for the diagnostics;
        None without a detector.
    baseline_score : float or dict
        The score on the unpermuted images, computed as soon as they were
        predicted, before any permuted image was made.
    baseline_warnings : tuple of warnings.WarningMessage
        What the scorer warned about while scoring the baseline.
    n_generated : int
        Images the generator made.
    n_cached : int
        Images read from the cache.
    generation_seconds, prediction_seconds : float
        Time spent generating (or loading) and predicting.
    """

    responses: Mapping[str, Any]
    detector_proba: np.ndarray | None
    baseline_score: Any
    baseline_warnings: tuple[warnings.WarningMessage, ...]
    n_generated: int
    n_cached: int
    generation_seconds: float
    prediction_seconds: float


@dataclass(frozen=True)
class MetricScores:
    """One metric's scores, baseline and permuted.

    Attributes
    ----------
    baseline_score : float
        On the unpermuted images.
    permuted_scores : ndarray of shape (n_concepts, n_repeats)
        After each permutation of each permuted concept.
    route : ScoringRoute
        How the metric was scored: without vectorised scorers when it went
        repeat by repeat (a vectorised scorer that disagreed with sklearn is
        dropped here).
    derivatives : ndarray of shape (n_concepts, n_scored) or None
        Per permuted concept, d score / d row weight averaged over the
        repeats, for the row bootstrap; None unless asked for and the
        vectorised scorer gave them for every permuted concept.
    """

    baseline_score: Any
    permuted_scores: np.ndarray
    route: ScoringRoute
    derivatives: np.ndarray | None = None


@dataclass(frozen=True)
class Scores:
    """Every score of a run: what ``score`` makes.

    Attributes
    ----------
    metrics : mapping
        From metric name to :class:`MetricScores`; the single key None when
        ``scoring`` gives one number.
    seconds : float
        Time spent scoring.
    """

    metrics: Mapping[Any, MetricScores]
    seconds: float

    @property
    def single(self) -> bool:
        """Whether the run scored one metric (the result is one Bunch)."""
        return list(self.metrics) == [None]

