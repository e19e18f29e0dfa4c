"""Generating the images of distinct (caption, seed) pairs, through a cache.

Also the one check that every image of a run has the same shape: every
generated batch is checked against the run's shape before it is predicted or
stored, and cached images of another shape are regenerated, never used (the
run's shape travels from chunk to chunk, see
:mod:`sklearn_depict._engine.execute`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..cache import ImageCache
from ..generators._base import check_generated_images, generator_fingerprint, generator_name

__all__ = ["check_image_shape", "distinct_pairs", "generate_pairs", "resolve_fingerprint"]

# How an error names a run's image shape that only the cache vouched for.
_FROM_CACHE = "read from the cache in"


def check_image_shape(
    shape: Sequence[int],
    expected: Sequence[int] | None,
    generator: Any,
    source: str = "generated earlier in this run",
) -> None:
    """All images of a run must share one (height, width, channels) shape.

    Predictions and stored images are stacked across chunks, so a generator
    that changes its image size mid-run would otherwise fail later with a
    cryptic error, or leave images of the wrong size in the cache. Called on
    every generated batch before it is predicted or stored.

    Parameters
    ----------
    shape : sequence of int
        The shape of the images of a generated batch.
    expected : sequence of int or None
        The run's image shape; None accepts any.
    generator : object
        The generator, named in the error.
    source : str
        Where ``expected`` came from, for the error message.
    """
    if expected is None or tuple(shape) == tuple(expected):
        return
    hint = ""
    if source.startswith(_FROM_CACHE):
        hint = (
            " If the generator's image size changed on purpose, its fingerprint must "
            "change too, so that the cache does not serve images of the old size."
        )
    raise ValueError(
        f"Generator {generator_name(generator)} returned images of shape "
        f"{tuple(shape)}, but this run's images have shape {tuple(expected)} "
        f"({source}); all images of a run must have the same shape. The batch was "
        f"neither predicted nor stored in the cache.{hint}"
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
    image_shape: Sequence[int] | None = None,
    shape_source: str = "declared for this run",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Images for distinct (caption, seed) pairs: from the cache, or generated.

    Every generated batch is checked (type, count, dtype, values, and shape
    against the run's) before it is stored or used, so a failing or
    misbehaving generator leaves no entry behind for the batch it broke on,
    and nothing of the wrong shape ever reaches the cache.

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
    image_shape : sequence of int, default=None
        The run's (height, width, channels), when it is already known (declared,
        or seen in an earlier chunk). None: the shape of the first image this
        call generates, or, when every pair is cached, the shape most of the
        cached images share. Cached images of another shape are treated as
        missing: they are regenerated and overwritten. A generated batch of
        another shape raises a ValueError before it is predicted or stored.
    shape_source : str, default="declared for this run"
        Where ``image_shape`` came from, for the error message.

    Returns
    -------
    images : ndarray of shape (n_pairs, height, width, channels), float32
    stats : dict
        For this call: ``hits`` (pairs read from the cache), ``generated``
        (pairs generated), ``replaced`` (cached images of another shape,
        regenerated), ``image_shape`` and ``shape_source``.
    """
    n = len(captions)
    shape = None if image_shape is None else tuple(image_shape)
    source = shape_source
    found: dict[int, np.ndarray] = {}
    keys: list[str] = []
    if cache is not None:
        keys = [cache.key(fingerprint, c, s) for c, s in zip(captions, seeds)]
        for i, key in enumerate(keys):
            image = cache.get(key)
            if image is not None and _usable(image):
                found[i] = image
            elif image is not None:
                _count_as_miss(cache)
    queue = [i for i in range(n) if i not in found]
    replaced = 0
    if shape is None and found and not queue:
        # Nothing to generate: the cache is all there is to go by. The most
        # common shape, so that one stray entry cannot set the shape.
        shapes = Counter(image.shape for image in found.values())
        shape = shapes.most_common(1)[0][0]
        source = f"{_FROM_CACHE} {getattr(cache, 'directory', None)}"
    if shape is not None:
        replaced = _set_aside_other_shapes(found, shape, queue)

    images: np.ndarray | None = None
    step = batch_size or max(len(queue), 1)
    position = 0
    while position < len(queue):
        batch = queue[position : position + step]
        position += len(batch)
        generated = _generate_batch(generator, captions, seeds, batch)
        if shape is None:
            # A generated image, not a cached one, sets the shape: cached
            # images of another shape are regenerated, as if missing.
            shape, source = generated.shape[1:], "generated earlier in this run"
            replaced = _set_aside_other_shapes(found, shape, queue)
        check_image_shape(generated.shape[1:], shape, generator, source)
        if images is None and not found and len(batch) == n:
            # The common cold case, everything generated in one call: use the
            # generator's array as it is rather than copying it.
            images = generated
        else:
            if images is None:
                images = _filled(n, shape, found)
            images[batch] = generated
        if cache is not None:
            for j, i in enumerate(batch):
                cache.put(keys[i], generated[j])
    if images is None:  # nothing generated
        images = _filled(n, shape or (0, 0, 0), found)
    if cache is not None:
        for _ in range(replaced):
            _count_as_miss(cache)
    stats = {
        "hits": len(found),
        "generated": len(queue),
        "replaced": replaced,
        "image_shape": tuple(images.shape[1:]),
        "shape_source": source,
    }
    return images, stats


def _generate_batch(
    generator: Any, captions: Sequence[str], seeds: Sequence[int], batch: list[int]
) -> np.ndarray:
    """One ``generate`` call, with a note on failure, and its output checked."""
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
    return check_generated_images(generated, len(batch), generator)


def _set_aside_other_shapes(
    found: dict[int, np.ndarray], shape: tuple[int, ...], queue: list[int]
) -> int:
    """Move cached images of another shape from ``found`` to the generation queue."""
    other = [i for i, image in found.items() if image.shape != shape]
    for i in other:
        del found[i]
    queue.extend(other)
    return len(other)


def _count_as_miss(cache: ImageCache) -> None:
    """An entry that was read but not used is a miss, not a hit."""
    cache.hits -= 1
    cache.misses += 1


def _filled(n: int, shape: Sequence[int], found: dict[int, np.ndarray]) -> np.ndarray:
    images = np.empty((n, *shape), dtype=np.float32)
    for i, image in found.items():
        images[i] = image
    return images


def _usable(image: np.ndarray) -> bool:
    """A cached entry is only used if it is what the generator would return."""
    return image.dtype == np.float32 and image.ndim == 3


def _add_note(exc: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        exc.add_note(note)
