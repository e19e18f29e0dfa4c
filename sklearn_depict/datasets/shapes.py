"""The synthetic shapes domain of the DEPICT paper, rendered in-process."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from ..captioning import ConceptCaptioner
from ..generators.shapes import ShapesGenerator

__all__ = ["make_shapes_dataset", "make_concept_labels", "oracle_importance"]


def make_shapes_dataset(
    n_samples: int = 400,
    *,
    image_size: int = 32,
    prevalence: float | Any = 0.5,
    dependence: Any = None,
    random_state: Any = None,
) -> Bunch:
    """Make the paper's synthetic shapes data: concepts, captions and images.

    Six binary concepts, {red, green, blue} × {circle, square}, each present
    with probability ``prevalence``: independently, or correlated through a
    latent Gaussian (``dependence``). The "real" images are
    rendered with seeds drawn from ``random_state``, independently of the noise
    seeds that :class:`CaptionToImage` derives from row identities, so a model
    trained on them is explained on generated images it has not seen.

    Parameters
    ----------
    n_samples : int, default=400
        Number of images.
    image_size : int, default=32
        Height and width in pixels.
    prevalence : float or array-like of shape (6,), default=0.5
        Probability that each concept is present.
    dependence : dict, default=None
        Correlated concepts, for studying conditional permutation: a dict from
        a pair of concept names to the correlation of their latent Gaussians,
        in (-1, 1), such as ``{("red circle", "blue square"): 0.9}``. Each
        concept is present where its latent standard normal falls below the
        ``prevalence`` quantile, so prevalences are kept; the correlation of
        the 0/1 columns is smaller than the latent one (about 0.71 for 0.9 at
        prevalence 0.5). None draws the concepts independently, exactly as
        before (the same data for the same ``random_state``).
    random_state : int, RandomState instance or None, default=None
        Controls concepts, images and the label weights.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        concept_table : DataFrame of shape (n_samples, 6)
            0/1 presence of each concept; the concept table.
        captions : list of str
            The caption of each row, as :class:`ConceptCaptioner` writes it.
        images : ndarray of shape (n_samples, image_size, image_size, 3)
            float32 renders in [0, 1].
        seeds : ndarray of shape (n_samples,)
            The seeds the images were rendered with.
        concept_names : list of str
            The six concept names, in column order.
        weights : ndarray of shape (6,)
            Concept weights drawn from U[0, 1], as in the paper.
        target : ndarray of shape (n_samples,)
            ``make_concept_labels(concepts, weights)``: 1 where the weighted sum
            of concepts exceeds its median.
        oracle : ndarray of shape (6,)
            ``oracle_importance(weights, concepts)``: the importance ranking a
            model that sees the concepts exactly would have.
        DESCR : str
            A short description of the data set.

    Examples
    --------
    >>> from sklearn_depict import make_shapes_dataset
    >>> data = make_shapes_dataset(10, random_state=0)
    >>> data.concept_table.shape, data.images.shape
    ((10, 6), (10, 32, 32, 3))
    >>> list(data.concept_table.columns[:2])
    ['red circle', 'red square']
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
    rng = check_random_state(random_state)
    renderer = ShapesGenerator(image_size)
    names = renderer.vocabulary
    p = np.broadcast_to(np.asarray(prevalence, dtype=float), (len(names),))
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"prevalence must lie in [0, 1], got {prevalence!r}.")
    if dependence is None:
        present = (rng.uniform(size=(n_samples, len(names))) < p).astype(np.int64)
    else:
        present = _latent_gaussian_concepts(rng, n_samples, names, p, dependence)
    concepts = pd.DataFrame(present, columns=names)
    captions = ConceptCaptioner().captions(concepts)
    seeds = rng.randint(0, 2**32, size=n_samples, dtype=np.int64)
    images = renderer.generate(captions, seeds.tolist())
    weights = rng.uniform(0.0, 1.0, size=len(names))
    return Bunch(
        concept_table=concepts,
        captions=captions,
        images=images,
        seeds=seeds,
        concept_names=names,
        weights=weights,
        target=make_concept_labels(concepts, weights),
        oracle=oracle_importance(weights, concepts),
        DESCR=(
            "Synthetic shapes (DEPICT, Jabbour et al., ECCV 2024): six binary "
            "concepts {red, green, blue} x {circle, square}, rendered at "
            f"{image_size}x{image_size}."
        ),
    )


def _latent_gaussian_concepts(
    rng: np.random.RandomState, n_samples: int, names: list[str], p: np.ndarray,
    dependence: Any,
) -> np.ndarray:
    """0/1 concepts thresholding correlated standard normals at their prevalence."""
    from scipy.stats import norm

    if not isinstance(dependence, dict):
        raise TypeError(
            "dependence must be a dict from a pair of concept names to a correlation, "
            f"such as {{('red circle', 'blue square'): 0.8}}; got {dependence!r}."
        )
    correlation = np.eye(len(names))
    for pair, rho in dependence.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"dependence keys must be pairs of concept names; got {pair!r}.")
        unknown = [name for name in pair if name not in names]
        if unknown or pair[0] == pair[1]:
            raise ValueError(
                f"dependence pair {pair!r} must name two different concepts of {names}."
            )
        if not -1 < float(rho) < 1:
            raise ValueError(f"dependence[{pair!r}] must lie in (-1, 1); got {rho!r}.")
        a, b = names.index(pair[0]), names.index(pair[1])
        correlation[a, b] = correlation[b, a] = float(rho)
    try:
        factor = np.linalg.cholesky(correlation)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"dependence {dependence!r} is not a valid correlation matrix (not "
            "positive definite); weaken some correlations."
        ) from None
    latent = rng.standard_normal(size=(n_samples, len(names))) @ factor.T
    return (latent < norm.ppf(p)).astype(np.int64)


def make_concept_labels(
    concepts: Any, weights: Any, *, threshold: float | None = None
) -> np.ndarray:
    """Binary labels from concept weights: ``w · c > threshold``.

    Parameters
    ----------
    concepts : array-like of shape (n_samples, n_concepts)
    weights : array-like of shape (n_concepts,)
    threshold : float, default=None
        None uses the median of ``w · c``, as in the paper.

    Returns
    -------
    y : ndarray of shape (n_samples,), dtype int

    Examples
    --------
    >>> from sklearn_depict.datasets.shapes import make_concept_labels
    >>> make_concept_labels([[1, 0], [0, 1], [1, 1]], [1.0, 0.5])
    array([0, 0, 1])
    """
    scores = np.asarray(concepts, dtype=float) @ np.asarray(weights, dtype=float)
    cut = np.median(scores) if threshold is None else threshold
    return (scores > cut).astype(np.int64)


def oracle_importance(weights: Any, concept_predictions: Any) -> np.ndarray:
    """The paper's oracle: weight × standard deviation of each concept.

    For a concept-bottleneck model with a linear head, this standardised
    coefficient is how much the head's output moves with each concept, which
    is what permutation importance should recover.

    Parameters
    ----------
    weights : array-like of shape (n_concepts,)
        The head's weights.
    concept_predictions : array-like of shape (n_samples, n_concepts)
        The bottleneck's concept predictions (or the true concepts).

    Returns
    -------
    oracle : ndarray of shape (n_concepts,)

    Examples
    --------
    >>> from sklearn_depict.datasets.shapes import oracle_importance
    >>> oracle_importance([1.0, 2.0], [[0, 0], [1, 0]])
    array([0.5, 0. ])
    """
    spread = np.asarray(concept_predictions, dtype=float).std(axis=0)
    return np.asarray(weights, dtype=float) * spread
