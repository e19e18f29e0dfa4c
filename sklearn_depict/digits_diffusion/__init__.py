"""A small text-to-image diffusion model of handwritten digits, shipped with the package.

Trained by ``scripts/train_digits_diffusion.py`` with
:func:`sklearn_depict.text_to_image.fit_text_to_image` on the training split of
:func:`sklearn_depict.datasets.digits.make_digits_dataset` at 16 pixels: real digits
with captions such as ``"seven, thick, slanted"``. Its settings, training time
and measured quality (the paper's Check 1 on held-out captions, judged by
:func:`~sklearn_depict.datasets.digits.digits_detector`) are in ``training.json`` next
to the ``weights`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["IMAGE_SIZE", "WEIGHTS", "load_digits_diffusion", "training_report"]

#: Folder of the shipped pipeline (``save_pretrained`` layout, safetensors).
WEIGHTS = Path(__file__).resolve().parent / "weights"

#: Height and width of the images it draws (grey, one channel).
IMAGE_SIZE = 16

#: Default sampling settings: DPM-Solver++ with 3 steps and guidance 5. It draws
#: the held-out captions as well as the former default, 10 steps, at 2.9 times
#: the images per second (``training.json``, ``few_step``; docs/cost.rst);
#: ``num_inference_steps=10`` still gives the former images.
NUM_INFERENCE_STEPS = 3
GUIDANCE_SCALE = 5.0


def training_report() -> dict[str, Any]:
    """How the shipped digits model was trained, and how well it draws.

    Returns
    -------
    report : dict
        Settings, seed, wall time, model size, the training ``history`` and
        ``final_metrics``: per concept, the share of images generated from
        held-out captions in which :func:`~sklearn_depict.datasets.digits.digits_detector`
        finds what the caption says.

    Examples
    --------
    >>> from sklearn_depict.digits_diffusion import training_report
    >>> sorted(training_report()["final_metrics"]["per_concept"])
    ['digit', 'slanted', 'thick']
    """
    from ..generators.shipped import read_training_report

    return read_training_report(WEIGHTS.parent)


def load_digits_diffusion(**generator_kwargs: Any) -> Any:
    """A :class:`DiffusersGenerator` for the shipped digits diffusion model.

    The model draws 16×16 grey handwritten digits, light ink on black, from
    captions such as ``"seven"`` or ``"two, thick, slanted"``: the words of
    :data:`sklearn_depict.datasets.digits.DIGIT_WORDS` and the style concepts
    ``thick`` and ``slanted`` of :func:`~sklearn_depict.datasets.digits.make_digits_dataset`.
    It runs offline, on the CPU unless told otherwise.

    Parameters
    ----------
    **generator_kwargs
        Override the generator's settings, such as ``num_inference_steps``
        (default 3; the former default, 10, gives the earlier images),
        ``guidance_scale`` (default 5.0), ``scheduler`` (default
        DPM-Solver++), ``batch_size`` (default 64) or ``device``.

    Returns
    -------
    generator : DiffusersGenerator

    See Also
    --------
    sklearn_depict.datasets.digits.make_digits_dataset : The real digits it learned from.

    Examples
    --------
    >>> from sklearn_depict.digits_diffusion import load_digits_diffusion
    >>> gen = load_digits_diffusion()
    >>> images = gen.generate(["seven, thick", "two, slanted"], [0, 1])
    >>> images.shape, images.dtype
    ((2, 16, 16, 1), dtype('float32'))
    """
    from ..generators.shipped import load_shipped_generator

    return load_shipped_generator(
        WEIGHTS.parent,
        script="scripts/train_digits_diffusion.py",
        defaults={"num_inference_steps": NUM_INFERENCE_STEPS, "guidance_scale": GUIDANCE_SCALE},
        **generator_kwargs,
    )
