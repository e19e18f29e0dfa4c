"""Train or fine-tune a text-to-image diffusion model for a domain.

:func:`fit_text_to_image` trains a small pixel-space model from scratch, or
fine-tunes a diffusers pipeline such as Stable Diffusion (LoRA adapters, or the
whole UNet), on (caption, image) pairs, and returns a
:class:`~sklearn_depict.generators.diffusers.DiffusersGenerator` for the saved
result. Importing this package imports torch and diffusers.
"""

from .pipeline import PixelDiffusionPipeline
from .tokenizer import build_word_tokenizer
from .training import fit_text_to_image, load_generator, make_pixel_pipeline

__all__ = [
    "PixelDiffusionPipeline",
    "build_word_tokenizer",
    "fit_text_to_image",
    "load_generator",
    "make_pixel_pipeline",
]
