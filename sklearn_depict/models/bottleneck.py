"""Concept-bottleneck image classifiers, the target models of the paper."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ConceptBottleneckClassifier",
    "ConceptHead",
    "make_shapes_concept_model",
    "make_shapes_detector",
    "shape_features",
    "shapes_detector",
]


def shape_features(images: np.ndarray) -> np.ndarray:
    """Position-free morphology features of colour-shape images.

    For each channel: how many pixels are lit, how many of those have their
    four direct neighbours lit, and how many have their four diagonal
    neighbours lit. A square keeps its diagonal neighbours up to its corners;
    a disc loses them along its rim; so these counts tell shapes apart wherever
    they are drawn.

    Parameters
    ----------
    images : ndarray of shape (n, height, width, channels)

    Returns
    -------
    features : ndarray of shape (n, 3 * channels)

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator
    >>> from sklearn_depict.models.bottleneck import shape_features
    >>> shape_features(ShapesGenerator().generate(["red square"], [0])).shape
    (1, 9)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"shape_features expects images of shape (n, height, width, channels), "
            f"got {images.shape}."
        )
    lit = images > 0.5
    centre = lit[:, 1:-1, 1:-1]
    cross = centre & lit[:, :-2, 1:-1] & lit[:, 2:, 1:-1] & lit[:, 1:-1, :-2] & lit[:, 1:-1, 2:]
    diagonal = centre & lit[:, :-2, :-2] & lit[:, 2:, 2:] & lit[:, :-2, 2:] & lit[:, 2:, :-2]
    counts = [lit.sum(axis=(1, 2)), cross.sum(axis=(1, 2)), diagonal.sum(axis=(1, 2))]
    return np.concatenate(counts, axis=1).astype(np.float64)


def make_shapes_concept_model(random_state: Any = 0) -> Pipeline:
    """A multi-label concept detector for the shapes domain.

    Morphology features (:func:`shape_features`) followed by one decision tree
    per concept: the concept layer of the target models
    (:class:`ConceptBottleneckClassifier`). Trained on a couple of thousand
    real renders, it finds each concept in held-out renders with accuracy
    above 0.99, and it predicts thousands of images per second. Its trees cut
    between the exact pixel counts of renders, so it can misread images that
    are a pixel off; to judge generated images use :func:`make_shapes_detector`.

    Parameters
    ----------
    random_state : int, default=0
        Seed of the trees.

    Returns
    -------
    model : Pipeline
        Unfitted; fit it on images and a (n_samples, n_concepts) 0/1 matrix.

    Examples
    --------
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.models.bottleneck import make_shapes_concept_model
    >>> data = make_shapes_dataset(300, random_state=0)
    >>> model = make_shapes_concept_model().fit(data.images, data.concept_table)
    >>> len(model.predict_proba(data.images[:5]))  # one (5, 2) array per concept
    6
    """
    return make_pipeline(
        FunctionTransformer(shape_features),
        MultiOutputClassifier(DecisionTreeClassifier(random_state=random_state)),
    )


def make_shapes_detector(C: float = 10.0) -> Pipeline:
    """An unfitted concept detector for judging generated shapes images.

    The judge of the paper's Check 1: :func:`shape_features`, standardised,
    then one logistic regression per concept. Unlike the single trees of
    :func:`make_shapes_concept_model`, whose thresholds fall in the gaps
    between the few exact pixel counts that real renders produce, a linear
    rule on the counts degrades smoothly on images that are a pixel off
    (soft edges, slightly larger or rounder shapes), which is what generated
    images are. Both are exact on real renders.

    Parameters
    ----------
    C : float, default=10.0
        Inverse regularisation strength of each logistic regression.

    Returns
    -------
    detector : Pipeline
        Unfitted; fit it on images and a (n_samples, n_concepts) 0/1 matrix.

    See Also
    --------
    shapes_detector : This detector, fitted on real renders.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.models.bottleneck import make_shapes_detector
    >>> data = make_shapes_dataset(500, random_state=0)
    >>> detector = make_shapes_detector().fit(data.images, data.concept_table)
    >>> test = make_shapes_dataset(200, random_state=1)
    >>> found = [p[:, 1] > 0.5 for p in detector.predict_proba(test.images)]
    >>> bool(np.mean(np.column_stack(found) == test.concept_table.to_numpy()) > 0.99)
    True
    """
    return make_pipeline(
        FunctionTransformer(shape_features),
        StandardScaler(),
        MultiOutputClassifier(LogisticRegression(C=C, max_iter=5000)),
    )


def shapes_detector(
    n_train: int = 2000, *, image_size: int = 32, random_state: int = 0
) -> Pipeline:
    """A ready concept detector for the shapes domain, fitted on real renders.

    The detector the paper's checks need (see :func:`depict_diagnostics`):
    :func:`make_shapes_detector` fitted on ``n_train`` renders from
    :func:`make_shapes_dataset`. It takes well under a second, so it is built
    on demand rather than shipped as a file.

    Parameters
    ----------
    n_train : int, default=2000
        Renders to train on.
    image_size : int, default=32
        Must match the generator whose images it will judge.
    random_state : int, default=0
        Seeds the renders.

    Returns
    -------
    detector : Pipeline
        Fitted; ``predict_proba`` gives one (n, 2) array per concept, in the
        order of ``ShapesGenerator().vocabulary``.

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator
    >>> from sklearn_depict.models.bottleneck import shapes_detector
    >>> detector = shapes_detector(500)
    >>> images = ShapesGenerator().generate(["green square"], [3])
    >>> [int(p[0, 1] > 0.5) for p in detector.predict_proba(images)]
    [0, 0, 0, 1, 0, 0]
    """
    from ..datasets.shapes import make_shapes_dataset

    data = make_shapes_dataset(n_train, image_size=image_size, random_state=random_state)
    return make_shapes_detector().fit(data.images, data.concept_table)


class _LogisticHead:
    """``predict_proba`` and ``predict`` of a binary model from its ``decision_function``."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, 2)."""
        positive = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class ConceptBottleneckClassifier(_LogisticHead, ClassifierMixin, BaseEstimator):
    """Predict concepts from an image, then the label from the concepts.

    The paper's target models: a concept detector feeds a linear head. With
    fixed ``weights`` the head is ``sigmoid((w · p - threshold) / temperature)``
    on the detector's concept probabilities ``p``, so the model's true reliance
    on each concept is known (see :func:`oracle_importance`). Without weights a
    logistic regression head is learned from ``y``.

    Parameters
    ----------
    concept_estimator : estimator, default=None
        Multi-label classifier from images to concepts, whose ``predict_proba``
        returns one (n, 2) array per concept. None uses
        :func:`make_shapes_concept_model`.
    weights : array-like of shape (n_concepts,), default=None
        Fixed head weights. None learns them.
    threshold : float, default=None
        Offset of a fixed head; None uses the median of ``w · p`` on the
        training images.
    temperature : float, default=0.1
        Softness of a fixed head's sigmoid.

    Attributes
    ----------
    concept_estimator_ : estimator
        The fitted detector.
    coef_ : ndarray of shape (n_concepts,)
        The head's weights.
    intercept_ : float
        The head's offset (``-threshold``).
    classes_ : ndarray of shape (2,)

    Examples
    --------
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.models.bottleneck import ConceptBottleneckClassifier
    >>> data = make_shapes_dataset(300, random_state=0)
    >>> clf = ConceptBottleneckClassifier(weights=data.weights)
    >>> clf = clf.fit(data.images, data.target, concept_table=data.concept_table)
    >>> clf.predict_proba(data.images[:2]).shape
    (2, 2)
    """

    def __init__(
        self,
        concept_estimator: Any = None,
        *,
        weights: Any = None,
        threshold: float | None = None,
        temperature: float = 0.1,
    ) -> None:
        self.concept_estimator = concept_estimator
        self.weights = weights
        self.threshold = threshold
        self.temperature = temperature

    def fit(self, X: Any, y: Any, *, concept_table: Any) -> ConceptBottleneckClassifier:
        """Fit the detector on ``concept_table``, then the head on ``y``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, height, width, channels)
            Images.
        y : array-like of shape (n_samples,)
            Binary labels.
        concept_table : array-like of shape (n_samples, n_concepts)
            The training images' concept table: 0/1 concept labels for the
            detector.

        Returns
        -------
        self : ConceptBottleneckClassifier
        """
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(
                f"ConceptBottleneckClassifier is binary; y has classes {self.classes_}."
            )
        detector = self.concept_estimator
        detector = make_shapes_concept_model() if detector is None else clone(detector)
        self.concept_estimator_ = detector.fit(X, np.asarray(concept_table))
        p = self.concept_probabilities(X)
        if self.weights is None:
            head = LogisticRegression().fit(p, y)
            self.coef_, self.intercept_ = head.coef_[0], float(head.intercept_[0])
            self.scale_ = 1.0
        else:
            self.coef_ = np.asarray(self.weights, dtype=float)
            if self.coef_.shape != (p.shape[1],):
                raise ValueError(
                    f"weights has shape {self.coef_.shape}, expected ({p.shape[1]},) "
                    "for one weight per concept."
                )
            cut = np.median(p @ self.coef_) if self.threshold is None else self.threshold
            self.intercept_ = -float(cut)
            self.scale_ = 1.0 / self.temperature
        return self

    def concept_probabilities(self, X: Any) -> np.ndarray:
        """The detector's probability of each concept, shape (n, n_concepts)."""
        check_is_fitted(self, "concept_estimator_")
        proba = self.concept_estimator_.predict_proba(X)
        if isinstance(proba, list):
            return np.column_stack([p[:, -1] for p in proba])
        return np.asarray(proba)

    def decision_function(self, X: Any) -> np.ndarray:
        """The head's logit for the positive class."""
        p = self.concept_probabilities(X)
        return (p @ self.coef_ + self.intercept_) * self.scale_


class ConceptHead(_LogisticHead, ClassifierMixin, BaseEstimator):
    """A fitted bottleneck's head applied to the true concepts: a model of the table.

    Its input is the concept table itself (0/1 columns in the bottleneck's
    concept order), so its permutation importance needs no generator: it is
    the oracle that DEPICT on images should recover
    (:func:`~sklearn_depict.concept_permutation_importance`).

    Parameters
    ----------
    bottleneck : ConceptBottleneckClassifier
        Fitted.

    Examples
    --------
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.models.bottleneck import ConceptBottleneckClassifier, ConceptHead
    >>> data = make_shapes_dataset(300, random_state=0)
    >>> clf = ConceptBottleneckClassifier(weights=data.weights).fit(
    ...     data.images, data.target, concept_table=data.concept_table)
    >>> head = ConceptHead(clf).fit()
    >>> bool((head.predict(data.concept_table) == clf.predict(data.images)).mean() > 0.95)
    True
    """

    def __init__(self, bottleneck: Any = None) -> None:
        self.bottleneck = bottleneck

    def fit(self, X: Any = None, y: Any = None) -> ConceptHead:
        """Take the fitted bottleneck's classes; nothing is learned."""
        check_is_fitted(self.bottleneck, "concept_estimator_")
        self.classes_ = self.bottleneck.classes_
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The head's logit on the concept values."""
        model = self.bottleneck
        return (np.asarray(X, dtype=float) @ model.coef_ + model.intercept_) * model.scale_
