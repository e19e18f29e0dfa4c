"""Data with known concepts: rendered shapes and real handwritten digits.

:mod:`.shapes` is the paper's synthetic data (concept table, captions, renders,
weights and the oracle), :mod:`.oracle` the exact permutation importance of
a concept-level model with DEPICT's permutations, :mod:`.digits` scikit-learn's ``load_digits`` with
concepts measured from each image, and :mod:`.shapes_judge` a CNN that reads
shapes from images, to judge a generator.
"""

from .digits import digits_detector, make_digits_dataset
from .oracle import concept_permutation_importance
from .shapes import make_concept_labels, make_shapes_dataset, oracle_importance

__all__ = [
    "concept_permutation_importance",
    "digits_detector",
    "make_concept_labels",
    "make_digits_dataset",
    "make_shapes_dataset",
    "oracle_importance",
]
