"""Generating the images of distinct (caption, seed) pairs, through a cache.

Also the one check that every image of a run has the same shape: within a
chunk (cached and generated images side by side) and across chunks (see
:mod:`sklearn_depict._engine.execute`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import ImageCache
from ..generators._base import check_generated_images, generator_fingerprint, generator_name

__all__ = ["check_image_shape", "distinct_pairs", "generate_pairs", "resolve_fingerprint"]


def check_image_shape(shape: Sequence[int], expected: Sequence[int] | None, generator: Any) -> None:
    """All images of a run must share one (height, width, channels) shape.

    Predictions and stored images are stacked across chunks, so a generator
    that changes its image size mid-run would fail later with a cryptic error.
    """
    if expected is not None and tuple(shape) != tuple(expected):
        raise ValueError(
            f"Generator {generator_name(generator)} returned images of shape "
            f"{tuple(shape)} after earlier images of shape {tuple(expected)}; all "
            "images of a run must have the same shape."
        )


def distinct_pairs(
    captions: Sequence[str], seeds: Sequence[int]
) -> tuple[list[str], list[int], np.ndarray]:
    """Collapse repeated (caption, seed) pairs.

    Returns
    -------
    unique_captions, unique_seeds : list
        The distinct pairs, in order of first appearance.
    inverse : ndarray of int
        ``inverse[i]`` is the position of pair ``i`` among the distinct pairs.
    """
    index: dict[tuple[str, int], int] = {}
    inverse = np.empty(len(captions), dtype=np.intp)
    for i, pair in enumerate(zip(captions, (int(s) for s in seeds))):
        inverse[i] = index.setdefault(pair, len(index))
    unique_captions = [c for c, _ in index]
    unique_seeds = [s for _, s in index]
    return unique_captions, unique_seeds, inverse


def resolve_fingerprint(generator: Any, cache: ImageCache | None) -> str | None:
    """The generator's fingerprint; required when a persistent cache is used."""
    fingerprint = generator_fingerprint(generator)
    if cache is not None and fingerprint is None:
        raise ValueError(
            f"The generator {generator!r} has no 'fingerprint', so a cache could "
            "serve it images made by another generator. Give it a fingerprint "
            "attribute (a str that changes whenever its output would change) or "
            "use cache=None."
        )
    return fingerprint


def generate_pairs(
    generator: Any,
    captions: Sequence[str],
    seeds: Sequence[int],
    *,
    cache: ImageCache | None = None,
    fingerprint: str | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """Images for distinct (caption, seed) pairs: from the cache, or generated.

    Every generated batch is checked before it is stored or used, so a failing
    or misbehaving generator leaves no entry behind for the batch it broke on.

    Parameters
    ----------
    generator : object
        Follows the generator protocol.
    captions, seeds : sequence
        The pairs; assumed distinct.
    cache : ImageCache, default=None
        Where to look first and store after.
    fingerprint : str, default=None
        The generator's fingerprint; required with a cache.
    batch_size : int, default=None
        Most pairs per ``generate`` call; None sends all missing pairs at once.

    Returns
    -------
    images : ndarray of shape (n_pairs, height, width, channels), float32
    stats : dict
        ``{"hits": ..., "generated": ...}`` for this call.
    """
    n = len(captions)
    image_shape: tuple[int, ...] | None = None
    found: dict[int, np.ndarray] = {}
    keys: list[str] = []
    if cache is not None:
        keys = [cache.key(fingerprint, c, s) for c, s in zip(captions, seeds)]
        for i, key in enumerate(keys):
            image = cache.get(key)
            if image is not None and _usable(image):
                found[i] = image
    if found:
        image_shape = next(iter(found.values())).shape
        found = {i: im for i, im in found.items() if im.shape == image_shape}
    missing = [i for i in range(n) if i not in found]

    images: np.ndarray | None = None
    if found:
        images = np.empty((n, *image_shape), dtype=np.float32)
        for i, image in found.items():
            images[i] = image

    step = batch_size or max(len(missing), 1)
    for start in range(0, len(missing), step):
        batch = missing[start : start + step]
        batch_captions = [captions[i] for i in batch]
        batch_seeds = [int(seeds[i]) for i in batch]
        try:
            generated = generator.generate(batch_captions, batch_seeds)
        except Exception as exc:
            _add_note(
                exc,
                f"while generating {len(batch)} image(s) with {type(generator).__name__}, "
                f"starting with caption {batch_captions[0]!r} and seed {batch_seeds[0]}",
            )
            raise
        generated = check_generated_images(generated, len(batch), generator)
        check_image_shape(generated.shape[1:], image_shape, generator)
        if images is None and len(batch) == n:
            # The common cold case, everything generated in one call: use the
            # generator's array as it is rather than copying it.
            images = generated
        else:
            if images is None:
                image_shape = generated.shape[1:]
                images = np.empty((n, *image_shape), dtype=np.float32)
            if found:
                images[batch] = generated
            else:  # nothing came from the cache, so the batches run in order
                images[start : start + len(batch)] = generated
        if cache is not None:
            for j, i in enumerate(batch):
                cache.put(keys[i], generated[j])
    if images is None:  # n == 0
        images = np.empty((0, *(image_shape or (0, 0, 0))), dtype=np.float32)
    return images, {"hits": len(found), "generated": len(missing)}


def _usable(image: np.ndarray) -> bool:
    """A cached entry is only used if it is what the generator would return."""
    return image.dtype == np.float32 and image.ndim == 3


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
