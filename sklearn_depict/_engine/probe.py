"""Trying the models on one or two images before the first generated image.

Some mistakes only show on an image: real images at another size than the
estimator takes, a detector whose outputs do not match its concepts, an
estimator that does not take the generator's image size. A run therefore
tries the estimator (and the detector) on probes before it generates its
images:

* on two of the real images, when the diagnostics are given some
  (:func:`predict_probe` with ``argument="X_images"``);
* on one image of the generated size (:func:`probe_images`): a noise image of
  the shape the generator declares (``image_shape``, as
  :class:`~sklearn_depict.ShapesGenerator` has), or else the run's first
  image, generated once and kept by the cache, so that the run reuses it
  (without a cache, nothing is spent on a probe).

A size mismatch is explained in the images' terms (:func:`size_mismatch`).
In the chunked loop, :func:`predict_chunk` notes which model failed, on how
many images.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import effective_n_jobs

from ..cache import ImageCache
from ..generators._base import generator_name
from ..stats.replay import check_prediction_output
from .generate import _add_note, generate_pairs

__all__ = [
    "N_REAL_PROBES",
    "PreflightError",
    "Probe",
    "declared_image_shape",
    "model_name",
    "predict_chunk",
    "predict_probe",
    "probe_images",
    "size_mismatch",
]

# Real images tried before generating: enough to show a size or layout
# mistake, few enough to cost nothing.
N_REAL_PROBES = 2


class PreflightError(ValueError):
    """An argument found wrong on a probe, before any image was generated.

    The message names the argument as the Python API calls it
    (``X_images``); :meth:`render` names it as a caller does, so that the
    command line can say ``--images``.

    Parameters
    ----------
    template : str
        The message, with ``{argument}`` where the argument's name goes.
    argument : str
        The argument at fault.
    """

    def __init__(self, template: str, argument: str) -> None:
        self.template = template
        self.argument = argument
        super().__init__(self.render(argument))

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.template, self.argument)

    def render(self, name: str) -> str:
        """The message with the argument called ``name``."""
        return self.template.replace("{argument}", name)


def model_name(model: Any) -> str:
    """A model's class name; a pipeline's with its steps' names.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> model_name(make_pipeline(StandardScaler(), LogisticRegression()))
    'Pipeline(StandardScaler, LogisticRegression)'
    """
    name = type(model).__name__
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and all(isinstance(s, tuple) and len(s) == 2 for s in steps):
        return f"{name}({', '.join(type(step).__name__ for _, step in steps)})"
    return name


# scikit-learn's message for inputs of the wrong width, and Hugging Face
# vision models' for images of the wrong size.
_FEATURES = re.compile(r"X has (\d+) features, but (\w+) is expecting (\d+) features")
_HF_SIZE = re.compile(r"size \((\d+)\*(\d+)\) doesn't match model \((\d+)\*(\d+)\)")


def size_mismatch(exc: BaseException, images: np.ndarray) -> str | None:
    """What a failure means in the images' terms when it is a size mismatch, else None.

    Recognises scikit-learn's ``X has 12288 features, but ... is expecting
    3072 features`` and Hugging Face's ``Input image size (64*64) doesn't
    match model (32*32)``, anywhere in the exception's chain.

    Examples
    --------
    >>> import numpy as np
    >>> error = ValueError("X has 12288 features, but LogisticRegression is "
    ...                    "expecting 3072 features as input.")
    >>> size_mismatch(error, np.zeros((1, 64, 64, 3)))
    'the images are 64×64×3 = 12,288 values; LogisticRegression expects 3,072 = 32×32×3'
    """
    shape = tuple(int(s) for s in images.shape[1:])
    for error in _chain(exc):
        text = str(error)
        match = _FEATURES.search(text)
        if match:
            given, model, expected = int(match[1]), match[2], int(match[3])
            channels = shape[-1] if len(shape) == 3 else 1
            wanted = f"{model} expects {expected:,}{_as_image(expected, channels)}"
            if given == int(np.prod(shape)):
                return f"the images are {_shape_text(shape)} = {given:,} values; {wanted}"
            return f"the images ({_shape_text(shape)}) give {given:,} features; {wanted}"
        match = _HF_SIZE.search(text)
        if match:
            height, width = match[3], match[4]
            return (
                f"the module gets {match[1]}×{match[2]} images but takes {height}×{width}: "
                f"give the adapter input_size=({height}, {width}), or an image_processor "
                "that resizes to that size"
            )
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _shape_text(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _as_image(n_values: int, channels: int) -> str:
    """``" = 32×32×3"`` when ``n_values`` fills a square image of ``channels`` channels."""
    if channels >= 1 and n_values % channels == 0:
        side = round((n_values // channels) ** 0.5)
        if side * side * channels == n_values:
            return f" = {side}×{side}×{channels}"
    return ""


def predict_probe(
    model: Any,
    methods: Sequence[str],
    images: np.ndarray,
    *,
    role: str,
    source: str,
    argument: str | None = None,
    check_output: bool = True,
) -> dict[str, Any]:
    """Try ``model``'s prediction methods on probe images, before any image is generated.

    Parameters
    ----------
    model : object
    methods : sequence of str
    images : ndarray of shape (n, height, width, channels)
    role : str
        ``"estimator"`` or ``"detector"``, for messages.
    source : str
        What the images are, for messages.
    argument : str, default=None
        The argument the images came from (``"X_images"``): any failure then
        raises a :class:`PreflightError` naming it. None: the images are of
        the generated size; a size mismatch raises a ValueError that says
        how to fix it, and any other failure is raised with a note.
    check_output : bool, default=True
        Check the outputs as the run checks its predictions. False for a
        made-up image, on which only the call itself tells something (a model
        may well give NaN for noise).

    Returns
    -------
    outputs : dict
        Method name -> the checked output.
    """
    name = model_name(model)
    outputs = {}
    for method in methods:
        try:
            output = getattr(model, method)(images)
        except Exception as exc:
            hint = size_mismatch(exc, images)
            if argument is not None:
                reason = hint or " ".join(str(exc).split()) or type(exc).__name__
                raise PreflightError(
                    f"The {role} {name} cannot predict {{argument}} ({source}, shape "
                    f"{images.shape}): {reason}. Give {{argument}} as the {role} takes "
                    "images, like the generated ones: (n, height, width, channels), at "
                    f"the size the {role} was fitted on. Found before generating any image.",
                    argument,
                ) from exc
            if hint is not None:
                raise ValueError(
                    f"The {role} {name} cannot take the generated images: {hint}. Have the "
                    f"generator draw images of the size the {role} was fitted on "
                    "(ShapesGenerator(image_size=...), DiffusersGenerator(height=..., "
                    "width=...)), or let the model resize them (TorchImageClassifier("
                    f"input_size=...)). Found on {source}, before generating the run's images."
                ) from exc
            _add_note(exc, f"while trying the {role} {name}.{method} on {source}, before "
                           "generating the run's images")
            raise
        if check_output:
            output = check_prediction_output(output, method, len(images), model)
        outputs[method] = output
    return outputs


def predict_chunk(
    model: Any, method: str, images: np.ndarray, captions: Sequence[str], seeds: Sequence[int]
) -> Any:
    """``model.<method>(images)`` on one chunk of a run, its failure noted.

    The note names the model, the number of images it was given (the number
    to lower after a GPU out-of-memory error) and the chunk's first pair,
    whose seed follows its row.
    """
    try:
        return getattr(model, method)(images)
    except Exception as exc:
        _add_note(
            exc,
            f"while {model_name(model)}.{method} predicted a chunk of {len(images)} "
            f"image(s), starting with caption {captions[0]!r} and seed {int(seeds[0])}. "
            "After a GPU out-of-memory error, predict fewer images at once: lower "
            "batch_size (CaptionToImage(batch_size=...), or --batch-size on the command "
            f"line){_own_batch_size(model)}.",
        )
        raise


def _own_batch_size(model: Any) -> str:
    """``", or the model's own batch_size=64"`` for a model (or step) that has one."""
    try:
        params = model.get_params(deep=True)
    except Exception:  # noqa: BLE001 - not an estimator, or one that cannot say
        return ""
    own = [f"{key}={value!r}" for key, value in params.items()
           if key == "batch_size" or key.endswith("__batch_size")]
    return f", or the model's own {', '.join(own)}" if own else ""


def declared_image_shape(generator: Any) -> tuple[int, ...] | None:
    """The (height, width, channels) a generator declares as ``image_shape``, or None."""
    shape = getattr(generator, "image_shape", None)
    if shape is None:
        return None
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        return None
    return shape if len(shape) == 3 and min(shape) >= 1 else None


@dataclass(frozen=True)
class Probe:
    """One image of the generated size, to try the models on before a run.

    Attributes
    ----------
    images : ndarray of shape (1, height, width, channels)
    source : str
        What the image is, for messages.
    made_up : bool
        Whether it is noise of the declared shape rather than a generated image.
    generated : int
        Images the generator made for it (0 or 1).
    stored : bool
        Whether the cache kept the image it made, so that the run reads it back.
    seconds : float
        Time spent generating it.
    """

    images: np.ndarray
    source: str
    made_up: bool = False
    generated: int = 0
    stored: bool = False
    seconds: float = 0.0


def probe_images(
    generator: Any,
    captions: Sequence[str],
    seeds: Sequence[int],
    *,
    cache: ImageCache | None,
    fingerprint: str | None,
    n_jobs: int | None = None,
) -> Probe | None:
    """One image of the size the run's generator makes, or None.

    Noise of the shape the generator declares costs nothing (noise rather
    than a blank image, so that a model that normalises each image does not
    divide by zero). Otherwise the run's first (caption, seed) pair is generated, and
    the cache keeps it for the run to read back. Without a cache that would
    keep it, or with several joblib workers (this process would load a model
    that each worker loads too), nothing is generated here: the run's first
    chunk then shows what the probe would have.
    """
    shape = declared_image_shape(generator)
    if shape is not None:
        return Probe(
            np.random.default_rng(0).random((1, *shape), dtype=np.float32),
            f"a noise image of the {_shape_text(shape)} size that "
            f"{generator_name(generator)} declares",
            made_up=True,
        )
    if not captions or cache is None or cache.write_failed or effective_n_jobs(n_jobs) != 1:
        return None
    local = ImageCache(cache.directory, max_bytes=cache.max_bytes)
    start = time.perf_counter()
    images, stats = generate_pairs(
        generator, captions[:1], seeds[:1], cache=local, fingerprint=fingerprint
    )
    stored = stats["generated"] == 1 and not local.write_failed
    if local.write_failed:
        cache.write_failed = True  # warned once already
    return Probe(
        images,
        f"the run's first image ({_shape_text(images.shape[1:])}), generated for this check",
        generated=stats["generated"],
        stored=stored,
        seconds=time.perf_counter() - start,
    )
