"""The warnings sklearn-depict issues about a run whose numbers may mislead.

A leaf module (it imports nothing from the package), so that the engine, the
checks and the command line can all use these classes without an import
cycle. Both are importable from ``sklearn_depict`` too.
"""

from __future__ import annotations

__all__ = ["ConditioningWarning", "ConstantConceptWarning", "DiagnosticWarning"]


class DiagnosticWarning(UserWarning):
    """A check of the run failed: the ranking may not be trustworthy.

    Issued when one of the paper's two checks fails (see
    :func:`~sklearn_depict.depict_diagnostics`), and by every run whose score
    on the generated images (or on the real ones) is at or below chance.
    """


class ConstantConceptWarning(UserWarning):
    """A concept to permute takes a single value in the concept table.

    Permuting such a column changes no caption and no image, so its
    importance is zero by construction: that is no evidence that the model
    ignores the concept. Issued before any image is generated; the result
    marks the concept in ``constant_concepts`` and the report says "constant
    in this table" instead of its figures.
    """


class ConditioningWarning(UserWarning):
    """Conditional permutation leaves a concept (almost) no room to move.

    Issued before any image is generated when, under ``conditioning=``, a
    concept's value changes in no row (its strata hold one row or one value
    each) or in fewer than 10% of the rows. Its conditional importance is then
    near zero for that reason alone; ``result.conditioning`` gives each
    concept's changed fraction under conditional and marginal permutation.
    """
