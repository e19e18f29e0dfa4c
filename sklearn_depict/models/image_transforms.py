"""Stateless transformers between the library's images and other models' inputs.

Generators return images of shape (n, height, width, channels), float32 in
[0, 1]. A scikit-learn model wants 2-D features; a torch model (through skorch,
say) wants (n, channels, height, width). These transformers do the reshaping
and, unlike a ``FunctionTransformer`` around a function written in a script,
pickle by reference to an importable module, so a saved pipeline loads
anywhere sklearn-depict is installed (``sklearn-depict explain`` included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["ChannelsFirst", "FlattenImages", "check_images", "looks_channels_first"]


def looks_channels_first(shape: tuple[int, ...]) -> bool:
    """Whether a 4-D shape is (n, channels, height, width) rather than channels last.

    At most 4 entries on axis 1 and more than 4 on the last axis: a channels-last
    image has at most 4 channels (grey, RGB or RGBA).

    Examples
    --------
    >>> from sklearn_depict.models.image_transforms import looks_channels_first
    >>> looks_channels_first((10, 3, 32, 32)), looks_channels_first((10, 32, 32, 3))
    (True, False)
    """
    return len(shape) == 4 and shape[-1] > 4 and shape[1] <= 4


def check_images(X: Any, *, caller: str, dtype: Any = np.float32) -> np.ndarray:
    """Validate a batch of images of shape (n, height, width, channels).

    Parameters
    ----------
    X : array-like of shape (n, height, width, channels)
        Images as generators return them: float values in [0, 1].
    caller : str
        Name used in error messages.
    dtype : numpy dtype, default=np.float32
        The dtype of the returned array.

    Returns
    -------
    images : ndarray of shape (n, height, width, channels)

    Raises
    ------
    ValueError
        If the array is not 4-D, looks channels-first, is empty, holds NaN or
        values outside [0, 1] (such as 8-bit pixels in [0, 255]).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.models.image_transforms import check_images
    >>> check_images(np.zeros((2, 8, 8, 3)), caller="demo").dtype
    dtype('float32')
    >>> check_images(np.zeros((2, 3, 8, 8)), caller="demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: demo expects images of shape (n, height, width, channels) ...
    """
    images = np.asarray(X)
    if images.ndim != 4:
        raise ValueError(
            f"{caller} expects images of shape (n, height, width, channels), as "
            f"generators return them; got an array of shape {images.shape}. Add a "
            "channel axis to grey images with images[..., None]."
        )
    if looks_channels_first(images.shape):
        raise ValueError(
            f"{caller} expects images of shape (n, height, width, channels) ("
            f"channels last, as generators return them); got shape {images.shape}, "
            "which looks channels-first. Pass images.transpose(0, 2, 3, 1); the "
            "adapter moves the channels itself."
        )
    if images.shape[0] == 0:
        raise ValueError(f"{caller} got 0 images (shape {images.shape}).")
    if images.dtype.kind not in "fiub":
        raise TypeError(f"{caller} expects numeric images, got dtype {images.dtype}.")
    images = images.astype(dtype, copy=False)
    if images.size:
        low, high = float(images.min()), float(images.max())
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"{caller} got images containing NaN or infinite values.")
        if low < 0.0 or high > 1.0:
            hint = " (8-bit pixels? divide by 255)" if high > 1.0 else ""
            raise ValueError(
                f"{caller} expects pixel values in [0, 1], as generators return them; "
                f"got values in [{low:.3g}, {high:.3g}]{hint}."
            )
    return images


class _StatelessImageTransformer(TransformerMixin, BaseEstimator):
    """Shared fit, tags and validation of the image reshaping transformers."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X: Any, y: Any = None) -> _StatelessImageTransformer:
        """Check the images; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        check_images(X, caller=type(self).__name__, dtype=self.dtype)
        return self

    def _images(self, X: Any) -> np.ndarray:
        return check_images(X, caller=type(self).__name__, dtype=self.dtype)


class ChannelsFirst(_StatelessImageTransformer):
    """Reorder images from (n, H, W, C) to (n, C, H, W), the layout torch expects.

    Put it before a torch model that takes arrays, such as a
    :class:`skorch.NeuralNetClassifier`, so that the pipeline takes the images
    that generators return. It pickles by reference, so a saved pipeline loads
    in another process (a ``FunctionTransformer`` around a function defined in
    a script does not).

    Parameters
    ----------
    dtype : numpy dtype, default=np.float32
        The dtype of the output; torch models usually want float32.

    See Also
    --------
    FlattenImages : For scikit-learn models on pixels.
    TorchImageClassifier : Wraps a fitted torch module directly.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict import ChannelsFirst
    >>> ChannelsFirst().transform(np.zeros((2, 32, 32, 3))).shape
    (2, 3, 32, 32)
    """

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = dtype

    def transform(self, X: Any) -> np.ndarray:
        """Move the channel axis to position 1.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        images : ndarray of shape (n, channels, height, width), C-contiguous
        """
        return np.ascontiguousarray(self._images(X).transpose(0, 3, 1, 2))


class FlattenImages(_StatelessImageTransformer):
    """Flatten images of shape (n, H, W, C) to rows of H·W·C pixel values.

    The step that puts a scikit-learn model (``LogisticRegression``, a random
    forest) on pixels, in a pipeline that pickles: unlike
    ``FunctionTransformer(lambda X: X.reshape(len(X), -1))`` it loads in any
    process, including ``sklearn-depict explain``.

    Parameters
    ----------
    dtype : numpy dtype, default=np.float32
        The dtype of the output.

    See Also
    --------
    ChannelsFirst : For torch models.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_depict import FlattenImages, make_shapes_dataset
    >>> data = make_shapes_dataset(100, random_state=0)
    >>> clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    >>> clf.fit(data.images, data.concept_table["red circle"]).predict(data.images[:3]).shape
    (3,)
    """

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = dtype

    def transform(self, X: Any) -> np.ndarray:
        """Flatten every image.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        features : ndarray of shape (n, height * width * channels)
        """
        images = self._images(X)
        return images.reshape(len(images), -1)
