"""Text-to-image generators: one module per kind.

``DiffusersGenerator`` lives in :mod:`sklearn_depict.generators.diffusers` and is
imported lazily, so that importing this package never imports torch.
"""

from ._base import ImageGenerator, check_generator
from .shapes import ShapesGenerator

__all__ = ["ImageGenerator", "ShapesGenerator", "check_generator"]
