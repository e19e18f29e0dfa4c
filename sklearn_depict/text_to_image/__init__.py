"""Train or fine-tune a text-to-image diffusion model for a domain.

:func:`fit_text_to_image` trains a small pixel-space model from scratch, or
fine-tunes a diffusers pipeline such as Stable Diffusion (LoRA adapters, or the
whole UNet), on (caption, image) pairs, and returns a
:class:`~sklearn_depict.generators.diffusers.DiffusersGenerator` for the saved
result; :func:`teacher_pairs` and :func:`fit_distilled` distil a trained
pixel-space model into a few-step student. Its names are imported on first
use: importing one module of this package (the pixel pipeline, say, to load a
saved model) does not import the training code. They import torch and diffusers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "PixelDiffusionPipeline",
    "build_word_tokenizer",
    "fit_distilled",
    "fit_text_to_image",
    "load_generator",
    "make_pixel_pipeline",
    "teacher_pairs",
]

_MODULES = {
    "PixelDiffusionPipeline": ".pipeline",
    "build_word_tokenizer": ".tokenizer",
    "fit_distilled": ".distillation",
    "fit_text_to_image": ".training",
    "load_generator": ".models",
    "make_pixel_pipeline": ".models",
    "teacher_pairs": ".distillation",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
