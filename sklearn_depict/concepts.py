"""Concept tables: validation, column kinds and per-row noise seeds.

A *concept table* has one row per image and one column per concept (or per
context, such as report text). It is the ``X_captions`` of every public
function in this package. A run validates it once, at its entry, into a
:class:`ConceptTable` that holds everything derived from it (column kinds,
context columns, value codes, row identities and seeds); captioning,
planning and the checks read that and recompute none of it.
"""

from __future__ import annotations

import hashlib
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ._warnings import external_stacklevel

__all__ = [
    "ConceptTable",
    "DuplicateIndexWarning",
    "check_concept_table",
    "check_fitted_columns",
    "infer_column_kinds",
    "make_concept_table",
    "row_seeds",
]

COLUMN_KINDS = ("binary", "count", "text")


def check_concept_table(
    X: Any,
    *,
    concept_names: Sequence[Any] | None = None,
    caller: str = "depict_importance",
) -> pd.DataFrame:
    """Validate a concept table and return it as a DataFrame.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table. A DataFrame keeps its index, whose labels become the
        rows' identities (and so their noise seeds). An array's rows are
        identified by their position.
    concept_names : sequence of str, default=None
        Column names for an array. Required for a numeric array, whose cells
        carry no words to put in a caption. Not allowed with a DataFrame.
    caller : str, default="depict_importance"
        Name used in error messages.

    Returns
    -------
    table : DataFrame
        The table. A DataFrame input is returned as is (not copied); an array
        gets a default ``RangeIndex``, so that row ``i`` is identified by ``i``.

    Raises
    ------
    ValueError
        If the table is not 2-D, is empty, has duplicated column names, holds
        NaN or infinite numbers, or is a numeric array without names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.concepts import check_concept_table
    >>> check_concept_table(np.array([[1, 0], [0, 1]]), concept_names=["cat", "dog"])
       cat  dog
    0    1    0
    1    0    1
    """
    if isinstance(X, pd.DataFrame):
        if concept_names is not None:
            raise ValueError(
                f"{caller} got concept_names together with a DataFrame; the "
                "DataFrame's columns already name the concepts. Rename its "
                "columns instead."
            )
        table = X
    else:
        table = _array_to_frame(X, concept_names, caller)

    if table.ndim != 2 or table.shape[1] == 0:
        raise ValueError(
            f"{caller} needs a concept table with at least one column; got shape "
            f"{table.shape}."
        )
    if table.shape[0] == 0:
        raise ValueError(
            f"Found a concept table with 0 rows (shape={table.shape}) while a "
            f"minimum of 1 is required by {caller}."
        )
    duplicated = table.columns[table.columns.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(
            f"The concept table has duplicated column names {duplicated}; each "
            "concept must have exactly one column."
        )
    _check_finite(table)
    if not table.index.is_unique:
        repeated = table.index[table.index.duplicated()].unique().tolist()[:5]
        warnings.warn(
            f"The concept table's index has duplicated labels (for example "
            f"{repeated}). Noise seeds follow index labels, so rows sharing a label "
            "share their noise, and rows that also share a caption get the same "
            "image. Use table.reset_index(drop=True) to give every row its own "
            "noise.",
            DuplicateIndexWarning,
            stacklevel=external_stacklevel(),
        )
    return table


def check_fitted_columns(table: pd.DataFrame, feature_names_in: Sequence[Any]) -> None:
    """The table must have the columns a fitted :class:`CaptionToImage` saw.

    Parameters
    ----------
    table : DataFrame
        A validated concept table.
    feature_names_in : sequence
        The ``feature_names_in_`` of the fitted transformer.
    """
    expected = list(feature_names_in)
    if table.shape[1] != len(expected):
        raise ValueError(
            f"X has {table.shape[1]} columns, but CaptionToImage was fitted with "
            f"{len(expected)}."
        )
    if list(table.columns) != expected:
        raise ValueError(
            "The concept table's columns differ from those CaptionToImage was fitted "
            f"on: {list(table.columns)} != {expected}."
        )


@dataclass(frozen=True)
class ConceptTable:
    """A validated concept table and everything a run derives from it, once.

    Built by :func:`make_concept_table` at the entry of a run (and once per
    call of :class:`~sklearn_depict.CaptionToImage`'s ``fit`` and
    ``transform``). Captioning, planning and the checks read it; none of them
    validates the table again or recomputes a field.

    Attributes
    ----------
    frame : DataFrame
        The validated table; a DataFrame input as it is (not copied).
    columns : tuple
        Its column names, in order.
    kinds : mapping
        Each column's kind, ``"binary"``, ``"count"`` or ``"text"``, as the
        captioner reads it (context columns are text).
    context : tuple
        The captioner's context columns, in table order: captioned, and left
        out of the permuted concepts by default.
    codes : ndarray of shape (n_rows, n_columns), read-only
        Per column, a code per row: rows with equal values share it. The
        plan finds a permuted concept's distinct values with them.
    n_codes : tuple of int
        The number of distinct values of each column.
    identities : tuple
        Each row's identity: its index label (its position for an array).
    seed : int
        The base of the noise seeds.
    seeds : ndarray of shape (n_rows,), read-only
        Each row's noise seed, from its identity and ``seed`` (see
        :func:`row_seeds`).
    n_rows : int
        The number of rows.
    """

    frame: pd.DataFrame
    columns: tuple[Any, ...]
    kinds: Mapping[Any, str]
    context: tuple[Any, ...]
    codes: np.ndarray
    n_codes: tuple[int, ...]
    identities: tuple[Any, ...]
    seed: int
    seeds: np.ndarray
    n_rows: int


def make_concept_table(
    X: Any,
    *,
    captioner: Any,
    seed: int = 0,
    concept_names: Sequence[Any] | None = None,
    kinds: Mapping[Any, str] | None = None,
    feature_names_in: Sequence[Any] | None = None,
    caller: str = "depict_importance",
) -> ConceptTable:
    """Validate a concept table once and derive what every later step reads.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table.
    captioner : ConceptCaptioner
        Checked against the table (its template, context columns and pinned
        kinds); it gives the column kinds and the context columns.
    seed : int, default=0
        The base of the per-row noise seeds.
    concept_names : sequence, default=None
        Column names for an array (see :func:`check_concept_table`).
    kinds : mapping, default=None
        Kinds learned by a fitted :class:`~sklearn_depict.CaptionToImage`
        (its ``kinds_``); they replace the kinds inferred from this table, so
        that a subset is captioned as the whole table was.
    feature_names_in : sequence, default=None
        The columns a fitted :class:`~sklearn_depict.CaptionToImage` saw; the
        table must have the same.
    caller : str, default="depict_importance"
        Name used in error messages.

    Returns
    -------
    table : ConceptTable

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict import ConceptCaptioner
    >>> from sklearn_depict.concepts import make_concept_table
    >>> table = make_concept_table(
    ...     pd.DataFrame({"cat": [0, 1, 1], "person": [0, 3, 1], "note": ["", "a", "b"]}),
    ...     captioner=ConceptCaptioner(context=["note"]))
    >>> dict(table.kinds), table.context, table.n_codes
    ({'cat': 'binary', 'person': 'count', 'note': 'text'}, ('note',), (2, 3, 3))
    """
    frame = check_concept_table(X, concept_names=concept_names, caller=caller)
    if feature_names_in is not None:
        check_fitted_columns(frame, feature_names_in)
    # The captioner's own check always runs: it rejects a template or context
    # column that the table lacks, whatever kinds are pinned.
    inferred = captioner.check(frame)
    identities = tuple(row_identities(frame))
    codes, n_codes = _column_codes(frame)
    return ConceptTable(
        frame=frame,
        columns=tuple(frame.columns),
        kinds=MappingProxyType(dict(inferred if kinds is None else kinds)),
        context=tuple(captioner.context_columns(frame)),
        codes=codes,
        n_codes=n_codes,
        identities=identities,
        seed=seed,
        seeds=_read_only(row_seeds(identities, seed)),
        n_rows=len(frame),
    )


def _column_codes(frame: pd.DataFrame) -> tuple[np.ndarray, tuple[int, ...]]:
    """Code each column's values; missing values get a code of their own."""
    codes = np.empty(frame.shape, dtype=np.int64)
    n_codes = []
    for k in range(frame.shape[1]):
        column_codes, uniques = pd.factorize(frame.iloc[:, k], use_na_sentinel=False)
        codes[:, k] = column_codes
        n_codes.append(len(uniques))
    return _read_only(codes), tuple(n_codes)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class DuplicateIndexWarning(UserWarning):
    """Rows of a concept table share an index label, and so their noise seed."""


def _array_to_frame(
    X: Any, concept_names: Sequence[Any] | None, caller: str
) -> pd.DataFrame:
    if isinstance(X, pd.Series):
        raise ValueError(
            f"{caller} expects a 2-D concept table, got a Series. Use "
            "series.to_frame() for a single concept."
        )
    array = np.asarray(X, dtype=object if _has_strings(X) else None)
    if array.ndim != 2:
        raise ValueError(
            f"{caller} expects a 2-D concept table (n_samples, n_columns), got "
            f"an array with {array.ndim} dimension(s) and shape {array.shape}. "
            "Reshape a single concept with X.reshape(-1, 1)."
        )
    is_text = array.dtype.kind in "OUS"
    if concept_names is None:
        if not is_text:
            raise ValueError(
                f"A numeric concept table needs concept names to build captions: "
                f"pass a pandas DataFrame, or concept_names= to {caller}."
            )
        names: list[Any] = [f"x{j}" for j in range(array.shape[1])]
    else:
        names = list(concept_names)
        if len(names) != array.shape[1]:
            raise ValueError(
                f"concept_names has {len(names)} names but the concept table has "
                f"{array.shape[1]} columns."
            )
    if array.dtype.kind in "US":
        array = array.astype(object)
    return pd.DataFrame(array, columns=names)


def _has_strings(X: Any) -> bool:
    """Whether an array-like holds strings, so numpy must not coerce it."""
    if isinstance(X, np.ndarray):
        return X.dtype.kind in "OUS"
    try:
        first_row = next(iter(X))
        return any(isinstance(v, str) for v in first_row)
    except (StopIteration, TypeError):
        return False


def _check_finite(table: pd.DataFrame) -> None:
    bad = []
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_bool_dtype(column.dtype):
            continue
        if pd.api.types.is_numeric_dtype(column.dtype):
            values = column.to_numpy(dtype=float, na_value=np.nan)
            if not np.isfinite(values).all():
                bad.append(name)
    if bad:
        raise ValueError(
            f"The concept table contains NaN or infinite values in numeric "
            f"column(s) {bad}. Concept cells must be finite presence flags, "
            "counts or text phrases; fill or drop the missing values first."
        )


def infer_column_kinds(
    table: pd.DataFrame, overrides: dict[Any, str] | None = None
) -> dict[Any, str]:
    """Decide how each column contributes to a caption.

    A boolean column, or a numeric one holding only 0 and 1, is ``"binary"``;
    any other numeric column is ``"count"``; everything else is ``"text"``.

    Parameters
    ----------
    table : DataFrame
        A validated concept table.
    overrides : dict, default=None
        Kinds to force for some columns, for example ``{"person": "count"}``
        for a count column that happens to hold only 0 and 1.

    Returns
    -------
    kinds : dict
        Mapping from column name to one of ``"binary"``, ``"count"``, ``"text"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.concepts import infer_column_kinds
    >>> table = pd.DataFrame({"cat": [0, 1], "person": [0, 3], "place": ["", "park"]})
    >>> infer_column_kinds(table)
    {'cat': 'binary', 'person': 'count', 'place': 'text'}
    """
    overrides = dict(overrides or {})
    unknown = [name for name in overrides if name not in table.columns]
    if unknown:
        raise ValueError(
            f"kinds names column(s) {unknown} that are not in the concept table; "
            f"its columns are {list(table.columns)}."
        )
    bad = {k: v for k, v in overrides.items() if v not in COLUMN_KINDS}
    if bad:
        raise ValueError(f"Unknown column kind(s) {bad}; use one of {COLUMN_KINDS}.")
    kinds = {}
    for name in table.columns:
        if name in overrides:
            kinds[name] = overrides[name]
            continue
        dtype = table[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            kinds[name] = "binary"
        elif pd.api.types.is_numeric_dtype(dtype):
            values = pd.unique(table[name].to_numpy())
            kinds[name] = "binary" if set(values.tolist()) <= {0, 1} else "count"
        else:
            kinds[name] = "text"
    return kinds


def row_identities(table: pd.DataFrame) -> list[Any]:
    """The identity of each row: its index label, as a plain Python object."""
    return table.index.tolist()


def row_seeds(identities: Sequence[Any], seed: int = 0) -> np.ndarray:
    """Derive one noise seed per row from the row's identity.

    Seeds follow the row, not its position in a batch or its caption: the
    baseline and every permutation of a row share one seed, so that a changed
    image is due to the changed caption alone (common random numbers).

    Parameters
    ----------
    identities : sequence
        Row identities: DataFrame index labels, or positions for arrays.
    seed : int, default=0
        Base seed; changing it redraws the noise of every row.

    Returns
    -------
    seeds : ndarray of shape (n_rows,), dtype int64
        Seeds in ``[0, 2**32)``, stable across processes and platforms.

    Examples
    --------
    >>> from sklearn_depict.concepts import row_seeds
    >>> s = row_seeds([0, 1, "a"], seed=0)
    >>> bool(s[0] != s[1]), bool((row_seeds([0, 1, "a"]) == s).all())
    (True, True)
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}.")
    seeds = np.empty(len(identities), dtype=np.int64)
    prefix = f"{int(seed)}\x1f"
    for i, identity in enumerate(identities):
        digest = hashlib.blake2b(
            (prefix + _identity_token(identity)).encode(), digest_size=4
        ).digest()
        seeds[i] = int.from_bytes(digest, "little")
    return seeds


def _identity_token(identity: Any) -> str:
    # Integers of any flavour (Python, numpy) must give the same seed, so that an
    # array's row i and a DataFrame's RangeIndex label i share their noise.
    if isinstance(identity, numbers.Integral) and not isinstance(identity, bool):
        return f"i{int(identity)}"
    return f"{type(identity).__name__}:{identity!r}"
