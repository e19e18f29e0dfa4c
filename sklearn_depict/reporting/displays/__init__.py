"""Plots of a DEPICT run, in scikit-learn's Display style.

Each display stores the data to draw in ``__init__``, builds itself from a
:func:`~sklearn_depict.depict_importance` result with ``from_result`` (which
also plots), and draws with ``plot(ax=None, ...)``, keeping the matplotlib
artists it made as attributes (``ax_``, ``figure_``, ...), so that they can be
restyled or checked afterwards.

- :class:`ImportanceDisplay`: box plots of the importances, sorted by mean,
  with the confidence interval of each mean and an optional oracle.
- :class:`PermutationExamplesDisplay`: baseline images above the images
  regenerated after permuting one concept, the visual check that only that
  concept changed.
- :class:`IndependenceDisplay`: the heat map of the independence check.
- :class:`ConceptAssociationDisplay`: the clustered heat map of the concept
  table's pairwise associations, with the suggested concept groups outlined.
- :class:`AnytimeTraceDisplay`: each concept's interval half-width after
  each block of an anytime run (``tol=``), against ``tol``.

matplotlib is imported only when something is drawn; install it with
``pip install "sklearn-depict[plot]"``.
"""

# The report shares these: the install hint when matplotlib is missing, which
# metric of a result to draw, and which rows a permutation changed.
from ._anytime import AnytimeTraceDisplay
from ._associations import ConceptAssociationDisplay
from ._base import _check_matplotlib as _check_matplotlib
from ._base import select_metric as select_metric
from ._examples import PermutationExamplesDisplay
from ._examples import changed_rows as changed_rows
from ._importance import ImportanceDisplay
from ._independence import IndependenceDisplay

__all__ = [
    "AnytimeTraceDisplay",
    "ConceptAssociationDisplay",
    "ImportanceDisplay",
    "IndependenceDisplay",
    "PermutationExamplesDisplay",
]

