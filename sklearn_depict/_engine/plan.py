"""Planning a DEPICT run: every permuted table, reduced to distinct image ids.

With seeds fixed per row, row ``i`` can only ever show its own caption or that
caption with one concept's value replaced by another value of the same column.
The plan enumerates exactly the (caption, seed) pairs that the baseline and the
permutations use, assigns each an id, and records, for every (concept, repeat),
which id each row shows. Nothing here generates or predicts.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils.random import sample_without_replacement

from .._warnings import external_stacklevel
from ..captioning import ConceptCaptioner
from ..concepts import ConceptTable
from ..exceptions import ConstantConceptWarning
from ..formatting import quoted
from .strata import ConditioningSpec, concept_strata, conditional_permutations

__all__ = [
    "Draws",
    "ImportancePlan",
    "changed_summary",
    "constant_concepts",
    "draw_permutations",
    "make_plan",
    "permuted_frame",
    "resolve_concepts",
    "resolve_max_samples",
    "warn_constant_concepts",
]


@dataclass(frozen=True)
class ImportancePlan:
    """The plan of a DEPICT run: distinct (caption, seed) pairs and who shows which.

    Every image a run needs is one distinct (caption, seed) pair, identified
    by its position (its id). The plan records the id each row shows in the
    unpermuted table and after each permutation of each concept, so that
    every score is a gather of stored predictions. It is the ``plan`` key of
    a :func:`~sklearn_depict.depict_importance` result; displays and reports
    regenerate examples from it. Nothing in it is an image.

    Attributes
    ----------
    concept_names : list
        One name per permuted concept (a column, or a concept group).
    concept_columns : list of list
        The columns of each permuted concept (several for a concept group).
    captions, seeds : list
        The distinct (caption, seed) pairs; a pair's id is its position.
    baseline_ids : ndarray of shape (n_samples,)
        The id each row shows in the unpermuted table.
    row_indices : ndarray of shape (n_scored,)
        The rows scored after permutation (all rows unless max_samples < 1).
    permuted_ids : ndarray of shape (n_concepts, n_repeats, n_scored)
        The id each scored row shows after permuting a concept.
    n_bound : int
        The most distinct pairs any number of repeats could need,
        N * (1 + sum_j (K_j - 1)).
    n_values : list of int
        K_j, the number of distinct values of each permuted concept.
    permuted_rows : ndarray of shape (n_concepts, n_repeats, n_scored) or None
        The table row whose values of the concept each scored row shows after
        permutation (:meth:`permuted_table` builds the permuted tables from it).
    conditioning : dict or None
        None for marginal permutation; otherwise, per concept name, a dict with
        ``columns`` (the conditioning columns, or the columns the ``"auto"``
        tree split on; empty for a concept permuted marginally), ``n_strata``
        (among the scored rows), ``changed_fraction`` (the share of scored rows
        whose value of the concept differs from their own, averaged over the
        repeats) and ``marginal_changed_fraction`` (the same under the marginal
        draw of the same ``random_state``, for comparison).
    table_rows : ndarray or None
        The concept table's rows (positions) this plan covers, in table order,
        when it covers only some of them (an anytime run stopped before its
        last block); ``baseline_ids``, ``row_indices`` and ``permuted_rows``
        then count positions among these rows. None: every row of the table.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn_depict import ShapesGenerator, depict_importance
    >>> table = pd.DataFrame({"red circle": [1, 0, 1, 0], "blue square": [0, 0, 1, 1]})
    >>> y = np.array([1, 0, 1, 0])
    >>> clf = DummyClassifier().fit(np.zeros((4, 32, 32, 3)), y)
    >>> plan = depict_importance(clf, table, y, generator=ShapesGenerator(), n_repeats=2,
    ...                          random_state=0).plan
    >>> plan.permuted_ids.shape
    (2, 2, 4)
    >>> plan.n_baseline, plan.n_bound
    (4, 12)
    """

    concept_names: list[Any]
    concept_columns: list[list[Any]]
    captions: list[str]
    seeds: list[int]
    baseline_ids: np.ndarray
    row_indices: np.ndarray
    permuted_ids: np.ndarray
    n_bound: int
    n_values: list[int] = field(default_factory=list)
    permuted_rows: np.ndarray | None = None
    conditioning: dict[Any, dict[str, Any]] | None = None
    table_rows: np.ndarray | None = None

    @property
    def n_distinct(self) -> int:
        """Number of distinct (caption, seed) pairs, the images the run needs."""
        return len(self.captions)

    @property
    def n_baseline(self) -> int:
        """Distinct pairs of the unpermuted table: ids ``0 .. n_baseline - 1``."""
        return int(self.baseline_ids.max()) + 1 if len(self.baseline_ids) else 0

    def permuted_table(self, X: Any, concept: Any, repeat: int) -> Any:
        """The concept table as the run permuted it for one (concept, repeat).

        Its rows are the scored rows (``row_indices``, among ``table_rows``
        when the plan covers only some rows), each keeping its index
        label (and so its noise seed); the concept's columns hold the values
        the plan gave them. Feeding it through ``make_pipeline(CaptionToImage(g),
        estimator)`` and scoring against ``y[plan.row_indices]`` (with
        ``table_rows``, ``y[plan.table_rows][plan.row_indices]``) reproduces
        the run's permuted score, conditional, within blocks or not.

        Parameters
        ----------
        X : DataFrame
            The concept table the run explained (an array as a DataFrame with
            the run's column names).
        concept : object
            A name of ``concept_names``.
        repeat : int
            The repeat, in ``range(n_repeats)``.

        Returns
        -------
        X_permuted : DataFrame
            With ``len(row_indices)`` rows.

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> from sklearn.dummy import DummyClassifier
        >>> from sklearn_depict import ShapesGenerator, depict_importance
        >>> table = pd.DataFrame({"red circle": [1, 0, 1, 0, 1, 0],
        ...                       "blue square": [1, 1, 1, 0, 0, 0]})
        >>> y = np.array([1, 0, 1, 0, 1, 0])
        >>> clf = DummyClassifier().fit(np.zeros((6, 32, 32, 3)), y)
        >>> result = depict_importance(clf, table, y, generator=ShapesGenerator(),
        ...                            n_repeats=2, random_state=0,
        ...                            conditioning={"red circle": ["blue square"]})
        >>> permuted = result.plan.permuted_table(table, "red circle", 0)
        >>> permuted["blue square"].tolist() == table["blue square"].tolist()
        True
        >>> sorted(permuted["red circle"][:3]) == sorted(table["red circle"][:3])
        True
        """
        if self.permuted_rows is None:
            raise ValueError("This plan does not record its permuted rows.")
        names = [repr(name) for name in self.concept_names]
        if repr(concept) not in names:
            raise ValueError(f"Unknown concept {concept!r}; the plan permutes "
                             f"{list(self.concept_names)}.")
        j = names.index(repr(concept))
        if self.table_rows is not None and isinstance(X, pd.DataFrame):
            X = X.iloc[self.table_rows]
        return permuted_frame(X, self.row_indices, self.permuted_rows[j, repeat],
                              self.concept_columns[j])

    @property
    def n_naive(self) -> int:
        """Images a literal run of the method generates: one set per score."""
        n_concepts, n_repeats, n_scored = self.permuted_ids.shape
        return len(self.baseline_ids) + n_concepts * n_repeats * n_scored


def permuted_frame(X: Any, row_indices: np.ndarray, sources: np.ndarray,
                   columns: list[Any]) -> Any:
    """The scored rows of ``X`` with ``columns`` taken from the rows ``sources``.

    Each row keeps its index label (and so its noise seed).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(
            "permuted tables are built from a DataFrame with the run's column names; "
            f"got {type(X).__name__}. Pass pd.DataFrame(X, columns=concept_names)."
        )
    out = X.iloc[row_indices].copy()
    for column in columns:
        k = X.columns.get_loc(column)
        out.iloc[:, k] = X.iloc[sources, k].to_numpy()
    return out


def resolve_concepts(table: ConceptTable, concepts: Any) -> tuple[list[Any], list[list[Any]]]:
    """Names and columns of the permuted concepts.

    ``concepts`` may be None (every column except the table's context
    columns), a list of column names, or concept groups: a dict from a name
    to a list of columns, or tuples of columns inside the list, each group
    permuted together.
    """
    if concepts is None:
        names = [c for c in table.columns if c not in table.context]
        return names, [[c] for c in names]
    if isinstance(concepts, Mapping):
        items = list(concepts.items())
    elif isinstance(concepts, (str, bytes)) or not isinstance(concepts, Sequence):
        raise TypeError(
            "The 'concepts' parameter must be a list of column names, a dict of "
            f"groups, or None. Got {concepts!r} instead."
        )
    else:
        items = []
        for entry in concepts:
            if _is_column(table, entry):
                items.append((entry, [entry]))
            elif isinstance(entry, (tuple, list)):
                items.append((" + ".join(map(str, entry)), list(entry)))
            else:
                items.append((entry, [entry]))
    if not items:
        raise ValueError("The 'concepts' parameter must name at least one concept.")
    names, columns = [], []
    for name, cols in items:
        cols = [cols] if _is_column(table, cols) or isinstance(cols, str) else list(cols)
        unknown = [c for c in cols if not _is_column(table, c)]
        if unknown:
            raise ValueError(
                f"Unknown concept column(s) {unknown}; the concept table has "
                f"columns {list(table.columns)}."
            )
        if not cols:
            raise ValueError(f"Concept group {name!r} names no columns.")
        names.append(name)
        columns.append(cols)
    if len(set(map(repr, names))) != len(names):
        raise ValueError(f"Concept names must be unique, got {names}.")
    return names, columns


def _is_column(table: ConceptTable, key: Any) -> bool:
    try:
        return key in table.frame.columns
    except TypeError:
        return False


def resolve_max_samples(max_samples: Any, n_samples: int) -> int:
    """Number of rows scored per repeat, as sklearn's permutation_importance."""
    if not isinstance(max_samples, numbers.Integral):
        n_scored = int(max_samples * n_samples)
        if n_scored < 1:
            raise ValueError(
                f"max_samples={max_samples} selects {n_scored} of the {n_samples} "
                "rows; at least one row must be scored."
            )
        return n_scored
    if max_samples > n_samples:
        raise ValueError(
            f"max_samples must be <= n_samples: got max_samples={max_samples} for "
            f"a concept table of {n_samples} rows."
        )
    return int(max_samples)


def permutation_indices(
    random_state: Any, n_samples: int, n_scored: int, n_repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and row permutations, drawn exactly as sklearn draws them.

    sklearn's permutation_importance draws one integer seed, then for every
    column starts a fresh RandomState from it, optionally subsamples rows, and
    shuffles an index array in place once per repeat, applying each shuffle to
    the already permuted column. Every column therefore sees the same sequence,
    which is computed here once.

    Returns
    -------
    row_indices : ndarray of shape (n_scored,)
    permutations : ndarray of shape (n_repeats, n_scored)
        ``permutations[r, i]`` is the position (within the scored rows) whose
        value row ``i`` shows in repeat ``r``.
    """
    random_state = check_random_state(random_state)
    column_seed = random_state.randint(np.iinfo(np.int32).max + 1)
    return _draws_from_seed(column_seed, n_samples, n_scored, n_repeats)


def _draws_from_seed(
    column_seed: int, n_samples: int, n_scored: int, n_repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`permutation_indices` after its one draw from ``random_state``."""
    column_state = check_random_state(column_seed)
    if n_scored < n_samples:
        row_indices = sample_without_replacement(
            n_samples, n_scored, random_state=column_state
        )
    else:
        row_indices = np.arange(n_samples)
    shuffling_idx = np.arange(n_scored)
    composed = np.arange(n_scored)
    permutations = np.empty((n_repeats, n_scored), dtype=np.intp)
    for r in range(n_repeats):
        column_state.shuffle(shuffling_idx)
        composed = composed[shuffling_idx]
        permutations[r] = composed
    return np.asarray(row_indices, dtype=np.intp), permutations


@dataclass(frozen=True)
class Draws:
    """Which table row each scored row takes a permuted concept's values from.

    Attributes
    ----------
    row_indices : ndarray of shape (n_scored,)
        The scored rows.
    sources : ndarray of shape (n_concepts, n_repeats, n_scored)
        The table row whose values of concept ``j`` scored row ``i`` shows in
        repeat ``r``.
    conditioning : dict or None
        :attr:`ImportancePlan.conditioning`.
    """

    row_indices: np.ndarray
    sources: np.ndarray
    conditioning: dict[Any, dict[str, Any]] | None


def draw_permutations(
    table: ConceptTable,
    *,
    concept_names: list[Any],
    concept_columns: list[list[Any]],
    n_repeats: int,
    n_scored: int,
    random_state: Any,
    conditioning: list[ConditioningSpec | None] | None = None,
) -> Draws:
    """Every permutation of a run, with no caption: sklearn's draws, or within strata.

    One integer is drawn from ``random_state`` as sklearn draws it; every
    unconditioned concept uses sklearn's sequence from it, every conditioned
    one :func:`conditional_permutations` from the same integer (which also
    seeds the ``"auto"`` trees). :func:`make_plan` and
    :func:`~sklearn_depict.concept_permutation_importance` share it, so the
    oracle sees DEPICT's permutations exactly.
    """
    n = table.n_rows
    column_seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    row_indices, permutations = _draws_from_seed(column_seed, n, n_scored, n_repeats)
    # marginal[r, i]: the table row whose concept value scored row i shows
    # under sklearn's draw, which every unconditioned concept uses.
    marginal = row_indices[permutations]
    all_sources = np.empty((len(concept_columns),) + marginal.shape, dtype=np.intp)
    summary: dict[Any, dict[str, Any]] = {}
    for j, columns in enumerate(concept_columns):
        spec = None if conditioning is None else conditioning[j]
        source_rows, strata, features = marginal, None, []
        if spec is not None:
            strata, features = concept_strata(table, spec, columns, column_seed)
            source_rows = row_indices[
                conditional_permutations(strata, row_indices, n, n_repeats, column_seed)
            ]
        all_sources[j] = source_rows
        if conditioning is not None:
            summary[concept_names[j]] = changed_summary(table, columns, features, strata,
                                                        source_rows, marginal, row_indices)
    return Draws(row_indices=row_indices, sources=all_sources,
                 conditioning=None if conditioning is None else summary)


def changed_summary(table: ConceptTable, columns: list[Any], features: list[Any],
                    strata: np.ndarray | None, sources: np.ndarray, marginal: np.ndarray,
                    rows: np.ndarray) -> dict[str, Any]:
    """One concept's entry of :attr:`ImportancePlan.conditioning`, over ``rows``.

    ``sources`` and ``marginal`` (n_repeats, len(rows)) are the table rows
    whose values ``rows`` show under the concept's draw and the marginal one;
    ``strata`` (one label per table row) is None for a marginal concept.
    """
    position = {column: k for k, column in enumerate(table.columns)}
    codes, _ = _value_codes(table, [position[c] for c in columns])
    return {
        "columns": list(features),
        "n_strata": 1 if strata is None else int(len(np.unique(strata[rows]))),
        "changed_fraction": float(np.mean(codes[sources] != codes[rows])),
        "marginal_changed_fraction": float(np.mean(codes[marginal] != codes[rows])),
    }


def make_plan(
    table: ConceptTable,
    *,
    concept_names: list[Any],
    concept_columns: list[list[Any]],
    captioner: ConceptCaptioner,
    n_repeats: int,
    n_scored: int,
    random_state: Any,
    conditioning: list[ConditioningSpec | None] | None = None,
    draws: Draws | None = None,
) -> ImportancePlan:
    """Enumerate the distinct (caption, seed) pairs of a run.

    Every caption the run needs (each row's own, and each row with a permuted
    concept's value replaced by another value of its columns) is made in one
    call of the captioner, with the table's kinds.

    Parameters
    ----------
    table : ConceptTable
        The run's concept table, with its kinds, value codes and row seeds.
    concept_names, concept_columns : list
        From :func:`resolve_concepts`.
    captioner : ConceptCaptioner
    n_repeats, n_scored : int
    random_state : int, RandomState or None
    conditioning : list or None, default=None
        From :func:`~.strata.resolve_conditioning`: None permutes every concept
        as sklearn does; otherwise a concept with a spec is permuted within
        its strata (see :func:`conditional_permutations`).
    draws : Draws, default=None
        Permutations drawn elsewhere (an anytime run's, within blocks); None
        draws them with :func:`draw_permutations`.

    Returns
    -------
    plan : ImportancePlan
    """
    n = table.n_rows
    position = {column: k for k, column in enumerate(table.columns)}
    if draws is None:
        draws = draw_permutations(table, concept_names=concept_names,
                                  concept_columns=concept_columns, n_repeats=n_repeats,
                                  n_scored=n_scored, random_state=random_state,
                                  conditioning=conditioning)
    row_indices = draws.row_indices
    target_rows = np.broadcast_to(row_indices, draws.sources.shape[1:])

    # The rows to caption, as the table row each cell's value comes from:
    # first every row as it is, then each (row, new value) of each permuted
    # concept once, however many repeats use it.
    sources = [np.repeat(np.arange(n)[:, None], len(table.columns), axis=1)]
    changes = []
    n_values = []
    for j, columns in enumerate(concept_columns):
        codes, representatives = _value_codes(table, [position[c] for c in columns])
        n_values.append(len(representatives))
        source_rows = draws.sources[j]
        changed = codes[source_rows] != codes[target_rows]
        n_codes = len(representatives)
        cells = target_rows[changed] * n_codes + codes[source_rows[changed]]
        unique_cells, inverse = np.unique(cells, return_inverse=True)
        rows, new_codes = np.divmod(unique_cells, n_codes)
        block = np.repeat(rows[:, None], len(table.columns), axis=1)
        for column in columns:
            block[:, position[column]] = representatives[new_codes]
        sources.append(block)
        changes.append((changed, inverse.ravel(), rows))
    captions = captioner.captions(_take_cells(table, np.concatenate(sources)),
                                  kinds=table.kinds)

    ids: dict[tuple[str, int], int] = {}

    def assign(first: int, rows: np.ndarray) -> np.ndarray:
        out = np.empty(len(rows), dtype=np.intp)
        for k, row in enumerate(rows):
            out[k] = ids.setdefault((captions[first + k], int(table.seeds[row])), len(ids))
        return out

    baseline_ids = assign(0, np.arange(n))
    permuted_ids = np.empty((len(concept_columns), n_repeats, n_scored), dtype=np.intp)
    first = n
    for j, (changed, inverse, rows) in enumerate(changes):
        permuted_ids[j] = baseline_ids[target_rows]
        cell_ids = assign(first, rows)
        first += len(rows)
        permuted_ids[j][changed] = cell_ids[inverse]

    n_bound = n * (1 + sum(k - 1 for k in n_values))
    return ImportancePlan(
        concept_names=list(concept_names),
        concept_columns=[list(c) for c in concept_columns],
        captions=[c for c, _ in ids],
        seeds=[s for _, s in ids],
        baseline_ids=baseline_ids,
        row_indices=row_indices,
        permuted_ids=permuted_ids,
        n_bound=n_bound,
        n_values=n_values,
        permuted_rows=draws.sources,
        conditioning=draws.conditioning,
    )


def _take_cells(table: ConceptTable, sources: np.ndarray) -> pd.DataFrame:
    """Rows whose cell in column k is that of table row ``sources[:, k]``.

    Each column keeps its dtype, so every row is captioned as the table's own.
    """
    frame = table.frame
    cells = pd.DataFrame({
        k: frame.iloc[:, k].take(sources[:, k]).reset_index(drop=True)
        for k in range(len(table.columns))
    })
    cells.columns = frame.columns
    return cells


def _value_codes(table: ConceptTable, positions: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Code each row by its values in the columns at ``positions``.

    Returns
    -------
    codes : ndarray of shape (n_samples,)
        Rows with equal values in all of those columns share a code.
    representatives : ndarray
        For each code, one row that has it.
    """
    combined = np.zeros(table.n_rows, dtype=np.int64)
    for k in positions:
        combined = combined * max(table.n_codes[k], 1) + table.codes[:, k]
    _, representatives, codes = np.unique(combined, return_index=True, return_inverse=True)
    return codes.astype(np.intp).ravel(), representatives.astype(np.intp)


def constant_concepts(plan: ImportancePlan) -> np.ndarray:
    """Which permuted concepts (or groups) take a single value in the table.

    Permuting such a concept changes no caption: its importance is exactly 0
    by construction, which says nothing about the model.

    Returns
    -------
    constant : ndarray of bool, shape (n_concepts,)
    """
    return np.asarray(plan.n_values, dtype=int) == 1


def warn_constant_concepts(plan: ImportancePlan) -> None:
    """A :class:`ConstantConceptWarning` naming the constant concepts, if any."""
    names = [name for name, flag in zip(plan.concept_names, constant_concepts(plan)) if flag]
    if not names:
        return
    shown = ", ".join(quoted(name) for name in names)
    warnings.warn(
        f"{shown} take{'s' if len(names) == 1 else ''} a single value in the concept table: "
        "permuting a constant column changes no caption and no image, so its importance "
        "is zero by construction, which is no evidence that the model ignores it. The "
        "result marks it in constant_concepts and the report says 'constant in this "
        "table' instead of its figures. Add rows where it varies, or leave it out with "
        "concepts=[...].",
        ConstantConceptWarning,
        stacklevel=external_stacklevel(),
    )
