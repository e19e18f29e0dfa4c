"""The one loop that turns distinct (caption, seed) pairs into predictions.

Pairs are cut into chunks; each chunk is loaded from the cache or generated,
then predicted by every predictor (the estimator, and a concept detector for
the diagnostics), and only the predictions are kept. Chunks run through
joblib, so ``n_jobs`` spreads them over workers; every chunk is collected in
order, so results never depend on ``n_jobs`` or the chunk size.
:class:`~sklearn_depict.CaptionToImage` uses the same loop with no predictor,
keeping the images instead.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ..cache import ImageCache
from ..progress import progress_bar
from ..stats.replay import check_prediction_output
from .generate import generate_pairs
from .probe import predict_chunk

__all__ = ["DEFAULT_CHUNK_SIZE", "Execution", "execute"]

# Images held in memory at once when no batch_size is given: small enough for
# 64 px images to stay in the tens of MB, large enough to amortise calls.
DEFAULT_CHUNK_SIZE = 256

_CACHE_COUNTERS = ("hits", "misses", "generated")


@dataclass(frozen=True)
class Execution:
    """What the loop gathered.

    Attributes
    ----------
    responses : list of dict
        For each predictor, method name -> outputs for all pairs (indexed by
        pair id); a multi-output method holds a list of arrays.
    images : ndarray or None
        All images, in pair order, when they were kept.
    totals : dict
        ``hits`` (pairs read from the cache), ``generated`` (pairs made by the
        generator), and the seconds spent on ``generation`` and ``prediction``.
    """

    responses: list[dict[str, Any]]
    images: np.ndarray | None
    totals: dict[str, Any]


def execute(
    captions: Sequence[str],
    seeds: Sequence[int],
    *,
    generator: Any,
    fingerprint: str | None,
    predictors: Sequence[tuple[Any, Sequence[str]]] = (),
    cache: ImageCache | None = None,
    batch_size: int | None = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    n_first: int = 0,
    on_first: Callable[[list[dict[str, Any]]], None] | None = None,
    keep_images: bool = False,
    label: str = "generating and predicting",
    image_shape: Sequence[int] | None = None,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> Execution:
    """Stream distinct pairs through generation and every predictor.

    Parameters
    ----------
    captions, seeds : sequence
        The distinct pairs; a pair's id is its position.
    generator : object
        Follows the generator protocol.
    fingerprint : str or None
        The generator's fingerprint (required with a cache).
    predictors : sequence of (model, methods), default=()
        Each model's named prediction methods are called on every chunk.
    cache : ImageCache, default=None
        Looked up first, filled after; its counters add up every chunk's.
    batch_size : int, default=None
        Pairs per chunk; None uses :data:`DEFAULT_CHUNK_SIZE`.
    n_jobs : int, default=None
        joblib workers.
    verbose : int, default=0
        Progress bar when above 0.
    n_first : int, default=0
        With ``on_first``: pairs ``0 .. n_first - 1`` go first, in chunks of
        their own, and ``on_first(responses)`` is called before any later pair
        is generated (so that the baseline is scored before the permutations
        cost anything).
    on_first : callable, default=None
    keep_images : bool, default=False
        Return the images too (for :class:`~sklearn_depict.CaptionToImage`).
    label : str
        The progress bar's description.
    image_shape : sequence of int, default=None
        The (height, width, channels) every image must have, when known before
        the run. None: the first chunk runs on its own and its images set the
        shape (see :func:`~sklearn_depict._engine.generate.generate_pairs`).
    on_chunk : callable, default=None
        Called with each chunk's counts and seconds (``generated``,
        ``n_images``, ``generation``, ``prediction``) as it is collected, in
        this process (a verbose run projects its remaining time from them).

    Returns
    -------
    execution : Execution
    """
    n = len(captions)
    step = batch_size or DEFAULT_CHUNK_SIZE
    responses: list[dict[str, Any]] = [{} for _ in predictors]
    totals = {"hits": 0, "generated": 0, "generation": 0.0, "prediction": 0.0}
    counters = dict.fromkeys(_CACHE_COUNTERS, 0)
    # The run's image shape, and where it came from: every generated batch
    # is checked against it inside its chunk, before it is predicted or stored.
    shape = None if image_shape is None else tuple(image_shape)
    source = "declared for this run"
    replaced = 0
    kept: list[np.ndarray] = []
    phases = [(0, n)] if on_first is None else [(0, n_first), (n_first, n)]
    with progress_bar(n, label, verbose) as bar:
        for phase, (first, stop) in enumerate(phases):
            pending = list(range(first, stop, step))
            while pending:
                # Until the run's image shape is known, one chunk runs alone
                # and sets it, so that no chunk stores images of another.
                starts = pending[:1] if shape is None else pending
                pending = pending[len(starts) :]
                tasks = [
                    delayed(_chunk_task)(
                        generator,
                        predictors,
                        captions[s : min(s + step, stop)],
                        seeds[s : min(s + step, stop)],
                        cache,
                        fingerprint,
                        keep_images,
                        shape,
                        source,
                    )
                    for s in starts
                ]
                results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
                for s, (outputs, images, stats) in zip(starts, results, strict=True):
                    if shape is None:
                        shape, source = stats["image_shape"], stats["shape_source"]
                    replaced += stats["replaced"]
                    _collect(responses, totals, outputs, stats, s, n)
                    for key in _CACHE_COUNTERS:
                        counters[key] += stats["cache"][key]
                    if cache is not None:
                        _report_cache_warnings(cache, stats["cache"])
                    if keep_images:
                        kept.append(images)
                    bar.update(stats["n_images"])
                    if on_chunk is not None:
                        on_chunk(stats)
            if phase == 0 and on_first is not None:
                on_first(responses)
    if replaced and cache is not None:
        cache._warn(
            f"{replaced} image(s) in the cache in {cache.directory} had another shape "
            f"than this run's {shape} (written by an older version, or by a generator "
            "whose fingerprint did not change with its image size); they were "
            "treated as missing, regenerated and overwritten."
        )
    if cache is not None:
        for key in _CACHE_COUNTERS:
            setattr(cache, key, getattr(cache, key) + counters[key])
    images = None
    if keep_images:
        images = np.concatenate(kept) if kept else np.empty((0, 0, 0, 0), dtype=np.float32)
    return Execution(responses=responses, images=images, totals=totals)


def _chunk_task(
    generator: Any,
    predictors: Sequence[tuple[Any, Sequence[str]]],
    captions: Sequence[str],
    seeds: Sequence[int],
    cache: ImageCache | None,
    fingerprint: str | None,
    keep_images: bool,
    image_shape: tuple[int, ...] | None,
    shape_source: str,
) -> tuple[list[dict[str, Any]], np.ndarray | None, dict[str, Any]]:
    """Generate (or load) one chunk of images and predict it."""
    generator = _reuse_in_worker(generator)
    # A private copy, so counters from worker processes are added up once;
    # it hands its warnings back, and the caller's cache gives each once.
    local_cache = None
    if cache is not None:
        local_cache = cache._worker_copy()
    start = time.perf_counter()
    images, stats = generate_pairs(
        generator, captions, seeds, cache=local_cache, fingerprint=fingerprint,
        image_shape=image_shape, shape_source=shape_source,
    )  # fmt: skip
    middle = time.perf_counter()
    outputs = [
        {
            method: check_prediction_output(
                predict_chunk(model, method, images, captions, seeds), method, len(images), model
            )
            for method in methods
        }
        for model, methods in predictors
    ]
    stats.update(
        generation=middle - start,
        prediction=time.perf_counter() - middle,
        n_images=len(images),
        cache={
            **{key: getattr(local_cache, key, 0) for key in _CACHE_COUNTERS},
            "write_failed": getattr(local_cache, "write_failed", False),
            "warnings": getattr(local_cache, "_deferred", None) or [],
        },
    )
    return outputs, images if keep_images else None, stats


# The generator each worker process keeps between tasks. Every task carries a
# pickled copy of the generator; a heavy one (a diffusion pipeline) loads its
# weights lazily, so reusing the first copy a worker saw means each worker
# loads the model once per run, and once across runs with the same model.
# DiffusersGenerator also keeps its loaded pipelines per process (its
# _LOADED), which serves new instances in the driver too; this one serves any
# generator, including third-party ones with lazy state of their own.
_WORKER_GENERATOR: dict[tuple[str, str], Any] = {}


def _reuse_in_worker(generator: Any) -> Any:
    fingerprint = getattr(generator, "fingerprint", None)
    # In the driver process the caller's own object is used as it is.
    if multiprocessing.parent_process() is None or not isinstance(fingerprint, str):
        return generator
    key = (f"{type(generator).__module__}.{type(generator).__qualname__}", fingerprint)
    if key not in _WORKER_GENERATOR:
        _WORKER_GENERATOR.clear()
        _WORKER_GENERATOR[key] = generator
    return _WORKER_GENERATOR[key]


def _report_cache_warnings(cache: ImageCache, chunk: dict[str, Any]) -> None:
    """Give a chunk's cache warnings once, from the caller's process."""
    if chunk["write_failed"]:
        # Later chunks skip writing too.
        cache.write_failed = True
    for message in chunk["warnings"]:
        cache._warn(message)


def _collect(
    responses: list[dict[str, Any]],
    totals: dict[str, Any],
    outputs: list[dict[str, Any]],
    stats: dict[str, Any],
    start: int,
    n: int,
) -> None:
    """Store one chunk's predictions and add up its counters."""
    for stored, chunk in zip(responses, outputs):
        for method, output in chunk.items():
            _store(stored, method, output, start, n)
    for key in totals:
        totals[key] += stats[key]


def _store(responses: dict[str, Any], method: str, output: Any, start: int, n: int) -> None:
    if isinstance(output, list):
        stored = responses.setdefault(method, [None] * len(output))
        for k, part in enumerate(output):
            stored[k] = _filled(stored[k], part, start, n)
    else:
        responses[method] = _filled(responses.get(method), output, start, n)


def _filled(stored: np.ndarray | None, part: np.ndarray, start: int, n: int) -> np.ndarray:
    if stored is None:
        stored = np.empty((n, *part.shape[1:]), dtype=part.dtype)
    elif stored.shape[1:] != part.shape[1:]:
        raise ValueError(
            f"Predictions changed shape between chunks: {stored.shape[1:]} then "
            f"{part.shape[1:]}."
        )
    if part.dtype != stored.dtype:
        stored = stored.astype(np.result_type(stored.dtype, part.dtype))
    stored[start : start + len(part)] = part
    return stored
