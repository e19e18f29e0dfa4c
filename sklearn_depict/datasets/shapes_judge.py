"""A convolutional judge of shapes images, independent of the morphology counts.

:func:`~sklearn_depict.models.bottleneck.shapes_detector` reads shapes from a few pixel
counts per channel. A judge that learns its own features from the pixels can
disagree with it on generated images that are slightly off (a blurred corner,
a circle with flat sides), so checking a generator with both shows which of
its errors are real and which are one judge's blind spot.

torch is imported inside functions only, so ``import sklearn_depict`` never
imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["ShapesCNNJudge", "shapes_cnn_judge"]


def _network(n_concepts: int, width: int) -> Any:
    import torch.nn as nn

    # Global max pooling makes the answer position-free: a shape is read the
    # same wherever the renderer (or a generator) put it.
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 4 * width, 3, padding=1),
        nn.BatchNorm2d(4 * width),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, n_concepts),
    )


def _channels_first(images: Any) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"ShapesCNNJudge expects RGB images of shape (n, height, width, 3), "
            f"got {images.shape}."
        )
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def _perturb(x: Any, generator: Any) -> Any:
    """Noise, soft edges and dimming, each of a random strength per image."""
    import torch
    import torch.nn.functional as F

    n = len(x)

    def strength(low: float, high: float) -> Any:
        return low + (high - low) * torch.rand(n, 1, 1, 1, generator=generator)

    blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    blend = strength(0.0, 0.5)
    x = (1 - blend) * x + blend * blurred
    x = x * strength(0.8, 1.0)
    x = x + strength(0.0, 0.05) * torch.randn(x.shape, generator=generator)
    return x.clamp(0.0, 1.0)


class ShapesCNNJudge(ClassifierMixin, BaseEstimator):
    """A small multi-label CNN that reads which concepts an image shows.

    Three 3×3 convolutions with batch normalisation, global max pooling and
    one logit per concept, trained with binary cross-entropy on (image,
    concept table) pairs. Meant to be fitted on real renders and then used to
    judge generated images, beside the morphology detector, as a second
    opinion that shares none of its features.

    Parameters
    ----------
    width : int, default=16
        Channels of the first convolution; later ones have 2× and 4×.
    epochs : int, default=5
        Passes over the training images.
    batch_size : int, default=64
    learning_rate : float, default=3e-3
        Adam's learning rate, decayed to zero over the epochs (cosine).
    augment : bool, default=True
        Perturb each training batch the way generated images differ from
        renders: Gaussian noise of a random strength up to 0.05, a random
        blend with a 3×3 blur (soft edges) and a random gain in [0.8, 1].
        Without it the network only ever sees an exactly black background
        and exactly saturated shapes, and its verdict on generated images
        changes with its own random seed.
    random_state : int, default=0
        Seeds the weights, the batch order and the perturbations.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network, on the CPU, in eval mode.
    n_concepts_ : int
        Number of concepts (columns of the table it was fitted on).
    concept_names_ : list of str
        The table's column names, when it had any.

    See Also
    --------
    shapes_cnn_judge : This judge, fitted on renders of the shapes domain.
    sklearn_depict.models.bottleneck.shapes_detector : The morphology judge.

    Examples
    --------
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.datasets.shapes_judge import ShapesCNNJudge
    >>> data = make_shapes_dataset(200, random_state=0)
    >>> judge = ShapesCNNJudge(width=4, epochs=1).fit(data.images, data.concept_table)
    >>> judge.predict(data.images[:3]).shape
    (3, 6)
    """

    def __init__(
        self,
        width: int = 16,
        epochs: int = 5,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        augment: bool = True,
        random_state: int = 0,
    ) -> None:
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.augment = augment
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> ShapesCNNJudge:
        """Train on images and their 0/1 concept table.

        Parameters
        ----------
        X : array-like of shape (n, height, width, 3)
            Images in [0, 1].
        y : array-like of shape (n, n_concepts)
            1 where the concept is present.

        Returns
        -------
        self : ShapesCNNJudge
        """
        import torch

        from .._torch_utils import one_thread

        for name in ("width", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        images = _channels_first(X)
        labels = np.asarray(y, dtype=np.float32)
        if labels.ndim != 2 or len(labels) != len(images):
            raise ValueError(
                f"y must be a (n_images, n_concepts) table with one row per image; got "
                f"shape {labels.shape} for {len(images)} images."
            )
        self.n_concepts_ = labels.shape[1]
        self.concept_names_ = [str(c) for c in getattr(y, "columns", [])]
        # Seeded without moving the caller's global torch RNG, and on one thread so
        # that the same random_state gives the same judge on any machine.
        with torch.random.fork_rng(devices=[]), one_thread(torch):
            torch.manual_seed(int(self.random_state))
            module = _network(self.n_concepts_, int(self.width))
            noise_rng = torch.Generator().manual_seed(int(self.random_state))
            rng = np.random.default_rng(self.random_state)
            optimiser = torch.optim.Adam(module.parameters(), lr=float(self.learning_rate))
            n_batches = -(-len(images) // int(self.batch_size))
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimiser, T_max=int(self.epochs) * n_batches
            )
            loss_fn = torch.nn.BCEWithLogitsLoss()
            x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
            module.train()
            for _ in range(int(self.epochs)):
                order = torch.from_numpy(rng.permutation(len(images)))
                for batch in order.split(int(self.batch_size)):
                    x = x_all[batch]
                    # The concepts do not depend on orientation; flips double the
                    # positions the network sees at no cost.
                    if rng.random() < 0.5:
                        x = x.flip(3)
                    if rng.random() < 0.5:
                        x = x.flip(2)
                    if self.augment:
                        x = _perturb(x, noise_rng)
                    optimiser.zero_grad()
                    loss = loss_fn(module(x), y_all[batch])
                    loss.backward()
                    optimiser.step()
                    schedule.step()
        self.module_ = module.eval()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """One logit per concept, shape (n, n_concepts)."""
        import torch

        check_is_fitted(self, "module_")
        images = torch.from_numpy(_channels_first(X))
        with torch.inference_mode():
            logits = [self.module_(batch) for batch in images.split(512)]
        return torch.cat(logits).numpy() if logits else np.zeros((0, self.n_concepts_))

    def predict_proba(self, X: Any) -> list[np.ndarray]:
        """Probabilities, one (n, 2) array per concept, as multi-output sklearn models give.

        So the judge drops in wherever
        :func:`~sklearn_depict.models.bottleneck.shapes_detector` is used, such as
        the ``detector`` of :func:`~sklearn_depict.depict_diagnostics`.
        """
        present = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return [np.column_stack([1.0 - p, p]) for p in present.T]

    def predict(self, X: Any) -> np.ndarray:
        """0/1 concept table, shape (n, n_concepts)."""
        return (self.decision_function(X) > 0).astype(np.int64)


def shapes_cnn_judge(
    n_train: int = 3000, *, image_size: int = 32, random_state: int = 0, **params: Any
) -> ShapesCNNJudge:
    """A :class:`ShapesCNNJudge` fitted on real renders of the shapes domain.

    Parameters
    ----------
    n_train : int, default=3000
        Renders of :func:`~sklearn_depict.make_shapes_dataset` to train on, each
        with its own seed.
    image_size : int, default=32
        Must match the generator whose images it will judge.
    random_state : int, default=0
        Seeds the renders and the network.
    **params
        Other :class:`ShapesCNNJudge` parameters.

    Returns
    -------
    judge : ShapesCNNJudge
        Fitted; concepts in the order of ``ShapesGenerator().vocabulary``.

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator
    >>> from sklearn_depict.datasets.shapes_judge import shapes_cnn_judge
    >>> judge = shapes_cnn_judge(2000, width=8, epochs=6)
    >>> judge.predict(ShapesGenerator().generate(["green square, blue circle"], [3]))
    array([[0, 0, 0, 1, 1, 0]])
    """
    from .shapes import make_shapes_dataset

    data = make_shapes_dataset(n_train, image_size=image_size, random_state=random_state)
    judge = ShapesCNNJudge(random_state=random_state, **params)
    return judge.fit(data.images, data.concept_table)
