"""sklearn-depict: diffusion-enabled permutation importance (DEPICT) for image models.

Shuffle interpretable concepts in captions, regenerate the images with a
text-to-image model and measure how much a fitted classifier's score drops.

Importing this package never imports torch; ``DiffusersGenerator`` and the
torch adapters (``TorchImageClassifier``) load their heavy dependencies on
first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._engine.blocks import AnytimeTrace
from ._engine.plan import ImportancePlan
from .cache import ImageCache
from .caption_to_image import CaptionToImage
from .captioning import ConceptCaptioner
from .cost import CostEstimate, estimate_cost
from .cross_validation import cross_validate_importance
from .datasets.digits import digits_detector, make_digits_dataset
from .datasets.oracle import concept_permutation_importance
from .datasets.shapes import make_concept_labels, make_shapes_dataset, oracle_importance
from .diagnostics import depict_diagnostics
from .digits_diffusion import load_digits_diffusion
from .exceptions import ConditioningWarning, ConstantConceptWarning, DiagnosticWarning
from .generators import ShapesGenerator
from .importance import depict_importance
from .models.bottleneck import ConceptBottleneckClassifier
from .models.image_transforms import ChannelsFirst, FlattenImages
from .shapes_diffusion import load_shapes_diffusion
from .stats.associations import concept_associations, suggest_concept_groups

__version__ = "0.1.0"

__all__ = [
    "AnytimeTrace",
    "AnytimeTraceDisplay",
    "CaptionToImage",
    "ChannelsFirst",
    "ConceptAssociationDisplay",
    "ConceptBottleneckClassifier",
    "ConceptCaptioner",
    "ConditioningWarning",
    "CostEstimate",
    "ConstantConceptWarning",
    "DiagnosticWarning",
    "DiffusersGenerator",
    "FlattenImages",
    "ImageCache",
    "ImportanceDisplay",
    "ImportancePlan",
    "IndependenceDisplay",
    "PermutationExamplesDisplay",
    "ShapesGenerator",
    "TorchImageClassifier",
    "TorchImageRegressor",
    "concept_associations",
    "concept_permutation_importance",
    "cross_validate_importance",
    "depict_diagnostics",
    "depict_importance",
    "digits_detector",
    "estimate_cost",
    "load_digits_diffusion",
    "load_shapes_diffusion",
    "make_concept_labels",
    "make_digits_dataset",
    "make_shapes_dataset",
    "oracle_importance",
    "suggest_concept_groups",
]

_LAZY = {
    "AnytimeTraceDisplay": "sklearn_depict.reporting.displays",
    "ConceptAssociationDisplay": "sklearn_depict.reporting.displays",
    "DiffusersGenerator": "sklearn_depict.generators.diffusers",
    "ImportanceDisplay": "sklearn_depict.reporting.displays",
    "IndependenceDisplay": "sklearn_depict.reporting.displays",
    "PermutationExamplesDisplay": "sklearn_depict.reporting.displays",
    "TorchImageClassifier": "sklearn_depict.models.torch_adapters",
    "TorchImageRegressor": "sklearn_depict.models.torch_adapters",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sklearn_depict' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
