"""Pairwise association between concept columns, and the groups it suggests.

Permutation importance assumes that a concept can be shuffled on its own.
When concepts are correlated, shuffling one asks for captions that never
occur (a dining table and no chair) and credits a concept with what a
correlated partner carries. :func:`concept_associations` measures how
strongly each pair of concept columns goes together, with a measure suited to
the columns' kinds; :func:`suggest_concept_groups` clusters them into the
concept groups that ``concepts=`` takes, so that strongly associated concepts
are permuted together.

The kinds are those of :func:`~sklearn_depict.concepts.infer_column_kinds`:
``"binary"`` and ``"count"`` columns are numeric (a 0/1 flag is a number),
``"text"`` columns are categorical.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..concepts import check_concept_table, infer_column_kinds

__all__ = [
    "METHODS",
    "cluster_concepts",
    "concept_associations",
    "correlated_pairs_note",
    "strong_pairs",
    "suggest_concept_groups",
]

METHODS = ("auto", "spearman", "cramers_v", "correlation_ratio")


def concept_associations(
    table: Any, *, method: str = "auto", columns: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Pairwise association between the columns of a concept table.

    With ``method="auto"``, each pair gets the measure suited to its kinds:

    - two numeric columns (binary 0/1 flags or counts): Spearman's rank
      correlation, **signed**, in [-1, 1] (for two binary columns it is the
      phi coefficient);
    - two text (categorical) columns: Cramér's V with the bias correction of
      Bergsma (2013), in [0, 1];
    - a text and a numeric column: the correlation ratio eta of the numeric
      column given the text one, the square root of the share of its variance
      that the categories explain, in [0, 1].

    Only Spearman has a sign; use the absolute value to compare pairs, as
    :func:`suggest_concept_groups` does.

    Parameters
    ----------
    table : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table, validated as by every function of the package.
    method : {"auto", "spearman", "cramers_v", "correlation_ratio"}, default="auto"
        ``"spearman"`` needs every column to be numeric. ``"cramers_v"``
        treats every column as categorical (each distinct value a category),
        so it applies to any table. ``"correlation_ratio"`` needs every pair to
        hold one text and one numeric column.
    columns : sequence, default=None
        The columns to compare, in this order; None compares them all. Leave
        out context columns (report text) that are not concepts.

    Returns
    -------
    associations : DataFrame of shape (n_columns, n_columns)
        Symmetric, indexed by the column names on both axes, with 1 on the
        diagonal. A pair that involves a constant column (one distinct value)
        is NaN: a constant concept varies with nothing, and permuting it
        changes nothing. Its diagonal cell stays 1. The measure of each pair
        is in ``associations.attrs["methods"]``, a dict from ``(a, b)`` (in
        column order) to ``"spearman"``, ``"cramers_v"`` or
        ``"correlation_ratio"``.

    Raises
    ------
    ValueError
        For an unknown ``method``, a column that is not in the table, or a
        ``method`` that cannot apply to a pair of the table's columns.

    See Also
    --------
    suggest_concept_groups : Concept groups from these associations.

    References
    ----------
    Bergsma, W. (2013). A bias-correction for Cramér's V and Tschuprow's T.
    *Journal of the Korean Statistical Society*, 42(3), 323-328.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict import concept_associations
    >>> table = pd.DataFrame({"chair": [1, 1, 0, 0, 1, 0],
    ...                       "table": [1, 1, 0, 0, 0, 0],
    ...                       "room": ["kitchen", "kitchen", "park", "park", "hall", "hall"]})
    >>> concept_associations(table).round(2)
           chair  table  room
    chair   1.00   0.71  0.82
    table   0.71   1.00  1.00
    room    0.82   1.00  1.00
    """
    frame = check_concept_table(table, caller="concept_associations")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    names = _check_columns(frame, columns, "concept_associations")
    frame = frame[names]
    kinds = infer_column_kinds(frame)
    numeric = {name: kinds[name] != "text" for name in names}
    _check_method_applies(method, names, numeric)

    n = len(names)
    values = np.eye(n)
    methods = {}
    # Each column is coded (and ranked, if numeric) once, not once per pair.
    codes = {name: pd.factorize(frame[name], use_na_sentinel=False)[0] for name in names}
    constant = {name: codes[name].max() < 1 for name in names}
    floats = {name: frame[name].to_numpy(dtype=float) for name in names if numeric[name]}
    ranks = {name: frame[name].rank(method="average").to_numpy(dtype=float)
             for name in floats}
    for i in range(n):
        for j in range(i + 1, n):
            a, b = names[i], names[j]
            pair_method = _pair_method(method, numeric[a], numeric[b])
            methods[a, b] = pair_method
            if constant[a] or constant[b]:
                value = np.nan
            elif pair_method == "spearman":
                value = float(np.corrcoef(ranks[a], ranks[b])[0, 1])
            elif pair_method == "cramers_v":
                value = _cramers_v(codes[a], codes[b])
            elif numeric[a]:
                value = _correlation_ratio(codes[b], floats[a])
            else:
                value = _correlation_ratio(codes[a], floats[b])
            values[i, j] = values[j, i] = value
    result = pd.DataFrame(values, index=pd.Index(names), columns=pd.Index(names))
    result.attrs["methods"] = methods
    return result


def suggest_concept_groups(
    table: Any,
    threshold: float = 0.5,
    *,
    method: str = "auto",
    columns: Sequence[Any] | None = None,
) -> dict[Any, list[Any]]:
    """Concept groups of strongly associated concepts, for ``concepts=``.

    Clusters the columns hierarchically on the distance ``1 - |association|`` of
    :func:`concept_associations` with complete linkage, and cuts the tree at
    the distance 1 - ``threshold`` (scipy's ``linkage`` and ``fcluster``, as in
    scikit-learn's example on permutation importance with multicollinear
    features). Complete linkage merges two clusters at the *largest* distance
    between their members, so every two concepts of a group are associated at
    ``threshold`` or more: a group never chains weakly related concepts
    through a common partner, as average or single linkage can. A pair with
    a NaN association (a constant column) counts as unassociated.

    Parameters
    ----------
    table : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table.
    threshold : float in [0, 1], default=0.5
        The absolute association from which concepts are grouped. 1 groups
        only perfectly associated columns; 0 puts every column in one group.
    method : {"auto", "spearman", "cramers_v", "correlation_ratio"}, default="auto"
        The association measure (see :func:`concept_associations`).
    columns : sequence, default=None
        The columns to group; None groups them all. Leave out the context
        columns, which ``concepts=None`` does not permute either.

    Returns
    -------
    groups : dict
        ``{name: [columns]}``, as ``concepts=`` of
        :func:`~sklearn_depict.depict_importance` takes it. A concept that
        joins no group is kept on its own under its column name; a group's
        name joins its columns with ``" + "``, as a tuple in ``concepts=`` is
        named. Columns keep their table order within a group, and groups are
        ordered by their first column.

    See Also
    --------
    concept_associations : The associations clustered here.
    cluster_concepts : The clustering itself, with the linkage matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict import suggest_concept_groups
    >>> table = pd.DataFrame({"chair": [1, 1, 0, 0, 1, 0, 1, 0],
    ...                       "table": [1, 1, 0, 0, 1, 0, 0, 0],
    ...                       "dog":   [0, 1, 0, 1, 1, 0, 0, 1]})
    >>> suggest_concept_groups(table, threshold=0.5)
    {'chair + table': ['chair', 'table'], 'dog': ['dog']}
    """
    associations = concept_associations(table, method=method, columns=columns)
    labels = cluster_concepts(associations, threshold).labels
    names = list(associations.columns)
    groups: dict[Any, list[Any]] = {}
    members: dict[int, list[Any]] = {}
    for name, label in zip(names, labels):
        members.setdefault(int(label), []).append(name)
    for cols in sorted(members.values(), key=lambda cols: names.index(cols[0])):
        key = cols[0] if len(cols) == 1 else " + ".join(map(str, cols))
        groups[key] = cols
    return groups


def cluster_concepts(associations: pd.DataFrame, threshold: float = 0.5) -> Bunch:
    """Hierarchical clustering of concepts on ``1 - |association|``.

    The clustering behind :func:`suggest_concept_groups` and
    :class:`~sklearn_depict.reporting.displays.ConceptAssociationDisplay`:
    complete linkage, cut at the distance 1 - ``threshold``.

    Parameters
    ----------
    associations : DataFrame of shape (n_columns, n_columns)
        What :func:`concept_associations` returned (any symmetric matrix of
        associations in [-1, 1]; NaN counts as 0).
    threshold : float in [0, 1], default=0.5
        The absolute association from which concepts are grouped.

    Returns
    -------
    clusters : Bunch
        ``linkage``: scipy's linkage matrix (None for a single column);
        ``labels``: the flat cluster of each column, in the matrix's order;
        ``order``: the columns' positions in the dendrogram's leaf order, in
        which every cluster is contiguous.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.stats.associations import cluster_concepts
    >>> a = pd.DataFrame([[1, 0.1, 0.9], [0.1, 1, 0.0], [0.9, 0.0, 1]],
    ...                  index=list("abc"), columns=list("abc"))
    >>> clusters = cluster_concepts(a, threshold=0.5)
    >>> clusters.labels.tolist(), clusters.order.tolist()
    ([1, 2, 1], [1, 0, 2])
    """
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    _check_threshold(threshold)
    matrix = np.asarray(associations, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"associations must be a square matrix, got shape {matrix.shape}.")
    n = matrix.shape[0]
    if n < 2:
        return Bunch(linkage=None, labels=np.ones(n, dtype=int), order=np.arange(n))
    distance = 1.0 - np.abs(np.nan_to_num(matrix, nan=0.0))
    distance = np.clip((distance + distance.T) / 2, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="complete")
    # A tolerance, so that a pair associated at exactly the threshold is grouped
    # despite the rounding of 1 - threshold.
    labels = fcluster(tree, t=1.0 - threshold + 1e-12, criterion="distance")
    return Bunch(linkage=tree, labels=labels, order=leaves_list(tree))


def strong_pairs(
    associations: pd.DataFrame, threshold: float = 0.5
) -> list[tuple[Any, Any, float]]:
    """The pairs of concepts whose absolute association exceeds ``threshold``.

    What the report and the command line warn about when concepts were
    permuted marginally: such a pair makes a permuted caption describe a
    combination the data rarely holds, and makes each concept's importance
    include what its partner tells the model.

    Parameters
    ----------
    associations : DataFrame of shape (n_columns, n_columns)
        What :func:`concept_associations` returned.
    threshold : float in [0, 1], default=0.5

    Returns
    -------
    pairs : list of (column, column, association)
        Each pair once, the strongest first; NaN is no association.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.stats.associations import strong_pairs
    >>> a = pd.DataFrame([[1, -0.8, 0.2], [-0.8, 1, 0.6], [0.2, 0.6, 1]],
    ...                  index=list("abc"), columns=list("abc"))
    >>> strong_pairs(a)
    [('a', 'b', -0.8), ('b', 'c', 0.6)]
    """
    _check_threshold(threshold)
    names = list(associations.columns)
    values = np.asarray(associations, dtype=float)
    pairs = [
        (names[i], names[j], float(values[i, j]))
        for i in range(len(names)) for j in range(i + 1, len(names))
        if np.isfinite(values[i, j]) and abs(values[i, j]) > threshold
    ]
    return sorted(pairs, key=lambda pair: -abs(pair[2]))


def correlated_pairs_note(table: Any, columns: Sequence[Any]) -> str | None:
    """A sentence naming the ``columns`` associated above |0.5|, or None.

    Said before the first image of a run that permutes them marginally
    (``sklearn-depict explain``), since such a run pulls the pairs apart.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.stats.associations import correlated_pairs_note
    >>> table = pd.DataFrame({"a": [0, 1, 0, 1, 1, 0], "b": [0, 1, 0, 1, 1, 1],
    ...                       "c": [1, 1, 0, 0, 1, 0]})
    >>> print(correlated_pairs_note(table, ["a", "b", "c"]).split(". They")[0])
    concepts associated above |0.5|: a ~ b (+0.71)
    """
    if len(columns) < 2:
        return None
    pairs = strong_pairs(concept_associations(table, columns=list(columns)))
    if not pairs:
        return None
    shown = ", ".join(f"{a} ~ {b} ({value:+.2f})" for a, b, value in pairs[:8])
    more = f" and {len(pairs) - 8} more" if len(pairs) > 8 else ""
    return (
        f"concepts associated above |0.5|: {shown}{more}. They are permuted marginally, so "
        "each one's importance includes what its partner tells the model; group them "
        "(suggest_concept_groups) or see docs/correlated.rst."
    )


def _check_threshold(threshold: Any) -> None:
    if (
        not isinstance(threshold, numbers.Real)
        or isinstance(threshold, bool)
        or not 0.0 <= float(threshold) <= 1.0
    ):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}.")


def _check_columns(frame: pd.DataFrame, columns: Any, caller: str) -> list[Any]:
    if columns is None:
        return list(frame.columns)
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
        raise TypeError(f"{caller}: columns must be a list of column names, got {columns!r}.")
    names = list(columns)
    unknown = [c for c in names if c not in frame.columns]
    if unknown:
        raise ValueError(
            f"{caller}: column(s) {unknown} are not in the concept table; its columns "
            f"are {list(frame.columns)}."
        )
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"{caller}: columns must name distinct columns, got {names}.")
    return names


def _pair_method(method: str, numeric_a: bool, numeric_b: bool) -> str:
    if method != "auto":
        return method
    if numeric_a and numeric_b:
        return "spearman"
    if not numeric_a and not numeric_b:
        return "cramers_v"
    return "correlation_ratio"


def _check_method_applies(method: str, names: list[Any], numeric: dict[Any, bool]) -> None:
    text = [name for name in names if not numeric[name]]
    if method == "spearman" and text:
        raise ValueError(
            f"method='spearman' needs numeric columns, but {text} hold text. Use "
            "method='auto' (the correlation ratio or Cramér's V for those), or pass "
            "columns= without them."
        )
    if method == "correlation_ratio":
        number = [name for name in names if numeric[name]]
        if len(text) > 1 or len(number) > 1:
            raise ValueError(
                "method='correlation_ratio' compares a text column with a numeric one, "
                f"so every pair needs one of each; the table has text column(s) {text} "
                f"and numeric column(s) {number}. Use method='auto', or pass columns= "
                "with one text and one numeric column."
            )


def _cramers_v(codes_a: np.ndarray, codes_b: np.ndarray) -> float:
    """Cramér's V with the bias correction of Bergsma (2013), from value codes."""
    r, k = int(codes_a.max()) + 1, int(codes_b.max()) + 1
    n = len(codes_a)
    observed = np.zeros((r, k))
    np.add.at(observed, (codes_a, codes_b), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (r - 1) * (k - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    denominator = min(r_corrected - 1, k_corrected - 1)
    if denominator <= 0:  # too few rows for the correction to say anything
        return np.nan
    return float(np.sqrt(phi2 / denominator))


def _correlation_ratio(codes: np.ndarray, y: np.ndarray) -> float:
    """Eta: the square root of the share of the variance the categories explain."""
    total = float(((y - y.mean()) ** 2).sum())
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=y) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    return float(np.sqrt(min(1.0, between / total)))
