"""The generator protocol and the checks applied to every generator's output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "GeneratorLike",
    "ImageGenerator",
    "check_captions_and_seeds",
    "check_generator",
    "check_generated_images",
]


@runtime_checkable
class ImageGenerator(Protocol):
    """What sklearn-depict needs from a text-to-image generator.

    ``generate(captions, seeds)`` returns a float32 array of shape
    ``(n, height, width, channels)`` with values in [0, 1], one image per
    (caption, seed) pair. The image for a pair must not depend on the other
    pairs of the call. ``fingerprint`` is a string that changes whenever the
    output for some pair would change; caches key on it.
    """

    fingerprint: str

    def generate(self, captions: list[str], seeds: list[int]) -> np.ndarray:
        """Generate one image per (caption, seed) pair."""
        ...


#: What the public functions accept as a generator: an object that follows the
#: protocol, or a plain callable ``f(captions, seeds) -> images``.
GeneratorLike = ImageGenerator | Callable[[list[str], list[int]], np.ndarray]


class CallableGenerator:
    """Adapt a plain callable ``f(captions, seeds) -> images`` to the protocol.

    The fingerprint is the callable's ``fingerprint`` attribute when it has one.
    Without it, nothing says when the callable's output changes, so it can only
    be used without a persistent cache.
    """

    def __init__(self, function: Callable[[list[str], list[int]], np.ndarray]):
        self.function = function

    @property
    def fingerprint(self) -> str | None:
        return getattr(self.function, "fingerprint", None)

    def generate(self, captions: list[str], seeds: list[int]) -> np.ndarray:
        return self.function(captions, seeds)

    def __repr__(self) -> str:
        return f"CallableGenerator({self.function!r})"


def check_generator(generator: Any, *, caller: str = "depict_importance") -> Any:
    """Return an object that follows the generator protocol.

    Parameters
    ----------
    generator : object
        An object with ``generate(captions, seeds)``, or a plain callable with
        that signature.
    caller : str, default="depict_importance"
        Name used in error messages.

    Returns
    -------
    generator : object
        ``generator`` itself, or a :class:`CallableGenerator` around a callable.
    """
    if hasattr(generator, "generate") and callable(generator.generate):
        return generator
    if callable(generator):
        return CallableGenerator(generator)
    raise TypeError(
        f"The 'generator' parameter of {caller} must be an object with a "
        "generate(captions, seeds) method, such as ShapesGenerator(), or a "
        f"callable with that signature. Got {generator!r} instead."
    )


def generator_fingerprint(generator: Any) -> str | None:
    """The generator's fingerprint, or None when it has none."""
    fingerprint = getattr(generator, "fingerprint", None)
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise TypeError(
            f"{type(generator).__name__}.fingerprint must be a str, got "
            f"{type(fingerprint).__name__}."
        )
    return fingerprint


def generator_name(generator: Any) -> str:
    """The name error messages give a generator (a callable's own name)."""
    name = type(generator).__name__
    if isinstance(generator, CallableGenerator):
        name = getattr(generator.function, "__name__", name)
    return name


def check_generated_images(
    images: Any,
    n_expected: int,
    generator: Any,
) -> np.ndarray:
    """Check a generator's output before anything uses or stores it.

    Parameters
    ----------
    images : object
        What ``generate`` returned.
    n_expected : int
        How many (caption, seed) pairs were asked for.
    generator : object
        The generator, for error messages.

    Returns
    -------
    images : ndarray of shape (n_expected, height, width, channels), float32
    """
    name = generator_name(generator)
    if not isinstance(images, np.ndarray):
        raise TypeError(
            f"Generator {name} returned {type(images).__name__}; generate() must "
            "return a numpy array of shape (n, height, width, channels)."
        )
    if images.ndim != 4:
        raise ValueError(
            f"Generator {name} returned an array of shape {images.shape}; "
            "generate() must return shape (n, height, width, channels)."
        )
    if images.shape[0] != n_expected:
        raise ValueError(
            f"Generator {name} returned {images.shape[0]} images for "
            f"{n_expected} (caption, seed) pairs; it must return exactly one image "
            "per pair."
        )
    if images.dtype != np.float32:
        raise TypeError(
            f"Generator {name} returned images of dtype {images.dtype}; "
            "generate() must return float32 values in [0, 1] "
            "(for example images.astype(np.float32) / 255 for 8-bit images)."
        )
    if images.size:
        # min and max propagate NaN, so two passes check finiteness and range.
        low, high = float(images.min()), float(images.max())
        if np.isnan(low) or np.isnan(high) or np.isinf(low) or np.isinf(high):
            raise ValueError(
                f"Generator {name} returned images containing NaN or infinite values."
            )
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Generator {name} returned values in [{low:.3g}, {high:.3g}]; images "
                "must lie in [0, 1]."
            )
    return images


def check_captions_and_seeds(
    captions: Sequence[str], seeds: Sequence[int]
) -> tuple[list[str], list[int]]:
    """Validate the arguments of a generator's ``generate`` call.

    Returns them as lists; raises if their lengths differ or a caption is not
    a str.
    """
    captions, seeds = list(captions), list(seeds)
    if len(captions) != len(seeds):
        raise ValueError(
            f"Got {len(captions)} captions and {len(seeds)} seeds; generate() needs "
            "one seed per caption."
        )
    for i, caption in enumerate(captions):
        if not isinstance(caption, str):
            raise TypeError(
                f"Captions must be str, got {type(caption).__name__} at position {i}."
            )
    return captions, seeds
