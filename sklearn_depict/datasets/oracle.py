"""The exact oracle of (conditional) DEPICT: permutation importance on the concepts.

A model that reads the concept table itself (no images) has a permutation
importance that needs no generator. Computed with DEPICT's own permutations
(:func:`~sklearn_depict._engine.plan.draw_permutations`), marginal or within
the same strata, it is what DEPICT should recover from images when the
generator draws each caption faithfully and the image model reads the concepts
back exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.utils import Bunch, check_array

from .._engine.plan import draw_permutations, permuted_frame, resolve_concepts, resolve_max_samples
from .._engine.strata import resolve_conditioning, warn_conditioning
from ..captioning import ConceptCaptioner
from ..concepts import make_concept_table

__all__ = ["concept_permutation_importance"]


def concept_permutation_importance(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    scoring: Any = None,
    n_repeats: int = 5,
    random_state: Any = None,
    max_samples: float | int = 1.0,
    concepts: Any = None,
    conditioning: Any = None,
    conditioning_params: Any = None,
    captioner: ConceptCaptioner | None = None,
) -> Bunch:
    """Permutation importance of a concept-level model, with DEPICT's permutations.

    The ground truth for :func:`~sklearn_depict.depict_importance`: for the
    same ``random_state``, ``concepts``, ``conditioning`` and
    ``conditioning_params`` it permutes exactly the rows DEPICT permutes (the
    same sklearn draw, the same strata and within-strata draws), but scores
    ``estimator`` on the permuted concept tables themselves instead of on
    generated images. With ``conditioning=None`` it equals
    :func:`sklearn.inspection.permutation_importance` on ``X``.

    Parameters
    ----------
    estimator : object
        A fitted model whose input is the concept table (a DataFrame), for
        example the head of a concept-bottleneck model applied to the true
        concepts.
    X : DataFrame
        The concept table.
    y : array-like of shape (n_samples,)
        Targets.
    scoring : str or callable, default=None
        One metric, as in :func:`sklearn.metrics.check_scoring`.
    n_repeats, random_state, max_samples, concepts, conditioning, \
conditioning_params : object
        As in :func:`~sklearn_depict.depict_importance`.
    captioner : ConceptCaptioner, default=None
        Gives the column kinds and context columns, as in DEPICT's run (the
        ``"auto"`` trees read the kinds); None uses ``ConceptCaptioner()``.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``importances_mean``, ``importances_std``, ``importances`` (n_concepts,
        n_repeats), ``baseline_score``, ``concept_names`` and, with
        ``conditioning``, ``conditioning`` (as in DEPICT's result).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_depict import concept_permutation_importance
    >>> rng = np.random.RandomState(0)
    >>> a = rng.randint(0, 2, 200)
    >>> table = pd.DataFrame({"a": a, "b": np.where(rng.uniform(size=200) < 0.9, a, 1 - a),
    ...                       "c": rng.randint(0, 2, 200)})
    >>> model = LogisticRegression().fit(table, table["a"])
    >>> marginal = concept_permutation_importance(model, table, table["a"], random_state=0)
    >>> conditional = concept_permutation_importance(
    ...     model, table, table["a"], random_state=0, conditioning={"a": ["b"]})
    >>> bool(conditional.importances_mean[0] < marginal.importances_mean[0])
    True
    """
    captioner = captioner or ConceptCaptioner()
    table = make_concept_table(X, captioner=captioner,
                               caller="concept_permutation_importance")
    y_array = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    names, columns = resolve_concepts(table, concepts)
    specs = resolve_conditioning(table, names, columns, conditioning, conditioning_params)
    draws = draw_permutations(
        table, concept_names=names, concept_columns=columns, n_repeats=n_repeats,
        n_scored=resolve_max_samples(max_samples, table.n_rows), random_state=random_state,
        conditioning=specs,
    )  # fmt: skip
    constant = [len(np.unique(table.codes[:, [table.columns.index(c) for c in cols]],
                              axis=0)) == 1 for cols in columns]
    warn_conditioning(draws.conditioning, names, constant)
    scorer = check_scoring(estimator, scoring=scoring)
    baseline = scorer(estimator, table.frame, y_array)
    y_scored = y_array[draws.row_indices]
    importances = np.empty((len(names), n_repeats))
    for j, cols in enumerate(columns):
        for r in range(n_repeats):
            permuted = permuted_frame(table.frame, draws.row_indices, draws.sources[j, r],
                                      cols)
            importances[j, r] = baseline - scorer(estimator, permuted, y_scored)
    result = Bunch(
        importances_mean=importances.mean(axis=1),
        importances_std=importances.std(axis=1),
        importances=importances,
        baseline_score=baseline,
        concept_names=np.asarray(names, dtype=object),
    )
    if draws.conditioning is not None:
        result.conditioning = draws.conditioning
    return result
