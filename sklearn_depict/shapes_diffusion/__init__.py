"""A small text-to-image diffusion model of the shapes domain, shipped with the package.

Trained by ``scripts/train_shapes_diffusion.py`` with
:func:`sklearn_depict.text_to_image.fit_text_to_image` on renders of
:func:`sklearn_depict.make_shapes_dataset`. Its settings, training time and
measured quality are in ``training.json`` next to the ``weights`` folder.

A second model, ``weights_distilled``, is that model distilled by
``scripts/distill_shapes_diffusion.py``
(:func:`sklearn_depict.text_to_image.fit_distilled`) into a student that
samples in a few steps without guidance; its record is under ``"distilled"``
in ``training.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["WEIGHTS", "WEIGHTS_DISTILLED", "load_shapes_diffusion", "training_report"]

#: Folder of the shipped pipeline, the teacher (``save_pretrained`` layout, safetensors).
WEIGHTS = Path(__file__).resolve().parent / "weights"
#: Folder of its distilled few-step student.
WEIGHTS_DISTILLED = Path(__file__).resolve().parent / "weights_distilled"

#: The teacher's sampling settings: DPM-Solver++ with 10 steps and guidance 5.
#: No setting of it with 2.5 times fewer UNet passes keeps every concept under
#: 5% (``training.json``, ``few_step``; docs/cost.rst).
NUM_INFERENCE_STEPS = 10
GUIDANCE_SCALE = 5.0

#: Each shipped variant: its weights folder and its sampling settings.
VARIANTS = {
    "teacher": {
        "weights": "weights",
        "num_inference_steps": NUM_INFERENCE_STEPS,
        "guidance_scale": GUIDANCE_SCALE,
    },
    # 8 steps, not 5: at 5 the morphology judge's worst rate was 0.041 on the
    # 600 images the checkpoint was chosen on but 0.057 on 1,200 fresh ones.
    "distilled": {"weights": "weights_distilled", "num_inference_steps": 8, "guidance_scale": 1.0},
}
#: The variant :func:`load_shapes_diffusion` loads unless told otherwise.
DEFAULT_VARIANT = "distilled"


def training_report() -> dict[str, Any]:
    """How the shipped model was trained, and how well it draws.

    Returns
    -------
    report : dict
        Settings, seed, wall time, model size and ``final_metrics``: the
        per-concept accuracy of generated images judged by
        :func:`~sklearn_depict.models.bottleneck.shapes_detector`;
        ``final_metrics_rates``: its false-alarm and miss rates on the same
        images; ``final_metrics_other_judges``: the same images judged by
        other detectors, among them the CNN judge of
        :mod:`sklearn_depict.datasets.shapes_judge`.

    Examples
    --------
    >>> from sklearn_depict.shapes_diffusion import training_report
    >>> sorted(training_report()["final_metrics"]["per_concept"])[:2]
    ['blue circle', 'blue square']
    """
    from ..generators.shipped import read_training_report

    return read_training_report(WEIGHTS.parent)


def load_shapes_diffusion(variant: str | None = None, **generator_kwargs: Any) -> Any:
    """A :class:`DiffusersGenerator` for the shipped shapes diffusion model.

    The model draws 32×32 shapes scenes from captions such as
    ``"red circle, blue square"``; an empty caption draws an empty scene. It
    runs offline, on the CPU unless told otherwise.

    Parameters
    ----------
    variant : {"teacher", "distilled"}, default=None
        ``"teacher"``: the trained model, sampled with DPM-Solver++ in 10
        steps at guidance 5 (20 UNet passes per image). ``"distilled"``: its
        student, sampled without guidance in a few steps (one UNet pass per
        step; steps in ``VARIANTS``). None means ``DEFAULT_VARIANT``.
    **generator_kwargs
        Override the generator's settings, such as ``num_inference_steps``,
        ``guidance_scale``, ``batch_size`` (default 64) or ``device``.

    Returns
    -------
    generator : DiffusersGenerator

    See Also
    --------
    sklearn_depict.text_to_image.fit_text_to_image : Train such a model.

    Examples
    --------
    >>> from sklearn_depict.shapes_diffusion import load_shapes_diffusion
    >>> gen = load_shapes_diffusion()
    >>> images = gen.generate(["red circle, blue square", ""], [0, 1])
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('float32'))
    """
    from ..generators.shipped import load_shipped_generator

    variant = DEFAULT_VARIANT if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)} or None, got {variant!r}.")
    defaults = dict(VARIANTS[variant])
    weights = defaults.pop("weights")
    script = (
        "scripts/distill_shapes_diffusion.py"
        if variant == "distilled"
        else "scripts/train_shapes_diffusion.py"
    )
    return load_shipped_generator(
        WEIGHTS.parent, script=script, defaults=defaults, weights=weights, **generator_kwargs
    )
