"""How often a permutation asks for a combination of concepts never seen.

Permuting one of two correlated concepts builds captions whose combination of
concept values may never occur in the real table ("a dining table and no
chair"). A generator fine-tuned on real captions draws those badly, or draws
the missing concept anyway. The share of such rows, the *off-manifold rate*,
is a proxy for how much a permutation asks of the generator; conditional
permutation, which shuffles a concept within strata of its correlated
partners, should lower it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..concepts import check_concept_table

__all__ = ["off_manifold_rate"]


def off_manifold_rate(
    table: Any, permuted_tables: Any, *, columns: Sequence[Any] | None = None
) -> float:
    """The share of permuted rows whose combination of concepts never occurs.

    Parameters
    ----------
    table : DataFrame
        The real concept table.
    permuted_tables : DataFrame or sequence of DataFrame
        Permuted versions of it (one per concept and repeat, for example),
        each with the columns of ``table``.
    columns : sequence, default=None
        The columns whose combination counts; None uses every column of
        ``table``. Leave out context columns (a report text unique to each
        row would put every changed row off the manifold).

    Returns
    -------
    rate : float
        The number of rows of all the permuted tables whose combination of
        ``columns`` values is not a row of ``table``, divided by their total
        number of rows. 0 when every permuted row is a combination seen in the
        real table.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.stats.manifold import off_manifold_rate
    >>> real = pd.DataFrame({"chair": [1, 1, 0, 0], "table": [1, 1, 0, 0]})
    >>> shuffled = real.assign(table=[0, 1, 1, 0])  # table permuted alone
    >>> off_manifold_rate(real, shuffled)
    0.5
    >>> off_manifold_rate(real, [shuffled, real])
    0.25
    """
    frame = check_concept_table(table, caller="off_manifold_rate")
    names = list(frame.columns) if columns is None else list(columns)
    if isinstance(permuted_tables, pd.DataFrame):
        permuted_tables = [permuted_tables]
    permuted_tables = list(permuted_tables)
    if not permuted_tables:
        raise ValueError("off_manifold_rate needs at least one permuted table.")
    for position, permuted in enumerate([frame, *permuted_tables]):
        if not isinstance(permuted, pd.DataFrame):
            raise TypeError(
                f"off_manifold_rate: permuted table {position - 1} is a "
                f"{type(permuted).__name__}; pass DataFrames with the columns of table."
            )
        missing = [c for c in names if c not in permuted.columns]
        if missing:
            what = "table" if position == 0 else f"permuted table {position - 1}"
            raise ValueError(
                f"off_manifold_rate: {what} lacks the column(s) {missing}."
            )
    seen = set(frame[names].itertuples(index=False, name=None))
    off = total = 0
    for permuted in permuted_tables:
        rows = permuted[names].itertuples(index=False, name=None)
        off += int(np.sum([row not in seen for row in rows], dtype=np.int64))
        total += len(permuted)
    if total == 0:
        raise ValueError("off_manifold_rate: the permuted tables have no rows.")
    return off / total
