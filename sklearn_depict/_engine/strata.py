"""Conditional permutation: the strata a permuted concept moves within.

A concept permuted *conditionally* exchanges its values only among rows of the
same stratum, so every permuted caption keeps the combinations of values that
occur in the table (Strobl et al. 2008; cs-PFI, Molnar et al. 2023). The
strata of a concept are either

- the rows sharing the exact values of named conditioning columns (a dict
  ``{concept: [columns]}``), or
- the leaves of a shallow decision tree that predicts the concept from the
  other concept columns (``"auto"``, cs-PFI).

Whatever the strata, each permuted table is still a permutation of the
concept's column, so the plan's bound on distinct pairs holds unchanged.
:func:`permute_within` is the one within-strata shuffle of the engine.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.utils import check_random_state
from sklearn.utils.random import sample_without_replacement

from .._warnings import external_stacklevel
from ..concepts import ConceptTable
from ..exceptions import ConditioningWarning
from ..formatting import quoted

__all__ = [
    "CONDITIONING_PARAMS",
    "ConditioningSpec",
    "concept_strata",
    "conditional_permutations",
    "permute_within",
    "resolve_conditioning",
    "warn_conditioning",
]

# The keys conditioning_params takes, with their defaults (None: 5% of rows).
CONDITIONING_PARAMS: dict[str, Any] = {"max_depth": 3, "min_samples_leaf": None}


@dataclass(frozen=True)
class ConditioningSpec:
    """How one permuted concept is conditioned: on columns, or by a tree.

    Attributes
    ----------
    columns : tuple
        The conditioning columns (dict conditioning), or the tree's candidate
        features: the other concept columns (``"auto"``).
    auto : bool
        Whether the strata are the leaves of a fitted tree (cs-PFI).
    max_depth, min_samples_leaf : int
        The tree's settings (``"auto"`` only).
    """

    columns: tuple[Any, ...]
    auto: bool = False
    max_depth: int = 3
    min_samples_leaf: int = 1


def permute_within(strata: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """A random permutation of positions that never leaves a stratum.

    The strata are visited in sorted order of their labels; each draws
    ``rng.permutation`` of its size, applied to its positions in increasing
    order. With one stratum this is ``rng.permutation(n)``.

    Parameters
    ----------
    strata : array-like of shape (n,)
        A label per position: positions with equal labels form a stratum.
    rng : RandomState
        Consumed once per stratum, in the order above.

    Returns
    -------
    permutation : ndarray of shape (n,)
        ``permutation[i]`` is the position whose value position ``i`` shows;
        it always shares ``i``'s stratum.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict._engine.strata import permute_within
    >>> strata = np.array([0, 1, 0, 1, 0, 1])
    >>> perm = permute_within(strata, np.random.RandomState(0))
    >>> bool((strata[perm] == strata).all()), sorted(perm.tolist())
    (True, [0, 1, 2, 3, 4, 5])
    """
    strata = np.asarray(strata).ravel()
    labels, inverse = np.unique(strata, return_inverse=True)
    permutation = np.arange(len(strata), dtype=np.intp)
    # A stable sort groups each stratum's positions in increasing order.
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(labels) + 1))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        members = order[start:stop]
        permutation[members] = members[rng.permutation(len(members))]
    return permutation


def conditional_permutations(
    strata: np.ndarray, row_indices: np.ndarray, n_samples: int, n_repeats: int,
    column_seed: int,
) -> np.ndarray:
    """The within-strata permutations of one conditioned concept.

    The documented draw: a ``RandomState(column_seed)`` (the seed sklearn's
    draw starts every column from) first repeats sklearn's subsample of the
    scored rows when ``max_samples`` scores fewer than all, then draws, for
    each repeat in turn, :func:`~.strata.permute_within` of the scored rows'
    strata. Each repeat is a fresh within-strata permutation of the original
    column (sklearn's marginal repeats compose their shuffles instead; for a
    uniform draw the two are alike).

    Returns
    -------
    permutations : ndarray of shape (n_repeats, n_scored)
        ``permutations[r, i]`` is the position (within the scored rows) whose
        value scored row ``i`` shows in repeat ``r``.
    """
    rng = check_random_state(column_seed)
    n_scored = len(row_indices)
    if n_scored < n_samples:
        sample_without_replacement(n_samples, n_scored, random_state=rng)
    scored_strata = np.asarray(strata)[row_indices]
    return np.stack([permute_within(scored_strata, rng) for _ in range(n_repeats)])


def _as_columns(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        return [value]
    return list(value)


def resolve_conditioning(
    table: ConceptTable,
    concept_names: list[Any],
    concept_columns: list[list[Any]],
    conditioning: Any,
    conditioning_params: Any,
) -> list[ConditioningSpec | None] | None:
    """Check ``conditioning`` and ``conditioning_params``; one spec per concept.

    Everything here needs no image, so every mistake surfaces before the first.

    Returns
    -------
    specs : list or None
        None for ``conditioning=None`` (marginal permutation, as sklearn);
        otherwise per permuted concept a :class:`ConditioningSpec`, or None for
        a concept permuted marginally.
    """
    if conditioning is None:
        if conditioning_params is not None:
            raise ValueError(
                "conditioning_params is only read with conditioning='auto'; got "
                "conditioning=None. Pass conditioning='auto', or drop conditioning_params."
            )
        return None
    if isinstance(conditioning, str):
        if conditioning != "auto":
            raise ValueError(
                f"conditioning must be None, 'auto' or a dict; got {conditioning!r}."
            )
        return _resolve_auto(table, concept_names, concept_columns, conditioning_params)
    if not isinstance(conditioning, Mapping):
        raise TypeError(
            "conditioning must be None, 'auto' or a dict from a permuted concept to "
            f"its conditioning columns; got {type(conditioning).__name__}."
        )
    if conditioning_params is not None:
        raise ValueError(
            "conditioning_params is only read with conditioning='auto' (it sets the "
            "tree); with a dict the strata are the conditioning columns' values. "
            "Drop conditioning_params."
        )
    by_name = {repr(name): j for j, name in enumerate(concept_names)}
    # A group given as a tuple in concepts= may be keyed by that tuple too.
    by_name.update({repr(tuple(cols)): j for j, cols in enumerate(concept_columns)
                    if len(cols) > 1})
    specs: list[ConditioningSpec | None] = [None] * len(concept_names)
    for key, value in conditioning.items():
        j = by_name.get(repr(key))
        if j is None:
            groups = [name for name, cols in zip(concept_names, concept_columns)
                      if any(key == c for c in cols if isinstance(c, type(key)))]
            hint = (f" It is a column of the concept group {groups[0]!r}: key the "
                    "group by its name." if groups else "")
            raise ValueError(
                f"conditioning names {key!r}, which is not a permuted concept; the "
                f"permuted concepts are {list(concept_names)}.{hint}"
            )
        columns = _as_columns(value)
        if not columns:
            raise ValueError(
                f"conditioning[{key!r}] names no columns; leave {key!r} out of "
                "conditioning to permute it across all rows."
            )
        unknown = [c for c in columns if not _in_table(table, c)]
        if unknown:
            raise ValueError(
                f"conditioning[{key!r}] names column(s) {unknown} that are not in the "
                f"concept table; its columns are {list(table.columns)}."
            )
        own = [c for c in columns if c in concept_columns[j]]
        if own:
            through = ("" if concept_columns[j] == [key] else
                       f" (a column of the concept group {key!r}, {concept_columns[j]})")
            raise ValueError(
                f"conditioning[{key!r}] conditions the concept on itself: {own}"
                f"{through}. A concept cannot be permuted within strata of its own "
                "values; condition on other columns."
            )
        specs[j] = ConditioningSpec(columns=tuple(dict.fromkeys(columns)))
    return specs


def _in_table(table: ConceptTable, column: Any) -> bool:
    try:
        return column in table.frame.columns
    except TypeError:  # an unhashable entry, such as a nested list
        return False


def _resolve_auto(
    table: ConceptTable,
    concept_names: list[Any],
    concept_columns: list[list[Any]],
    params: Any,
) -> list[ConditioningSpec | None]:
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise TypeError(f"conditioning_params must be a dict or None; got {params!r}.")
    unknown = sorted(map(str, set(params) - set(CONDITIONING_PARAMS)))
    if unknown:
        raise ValueError(
            f"conditioning_params got unknown key(s) {unknown}; it takes "
            f"{sorted(CONDITIONING_PARAMS)}."
        )
    max_depth = params.get("max_depth", CONDITIONING_PARAMS["max_depth"])
    if (not isinstance(max_depth, numbers.Integral) or isinstance(max_depth, bool)
            or max_depth < 1):
        raise ValueError(
            f"conditioning_params['max_depth'] must be an int >= 1; got {max_depth!r}."
        )
    leaf = params.get("min_samples_leaf")
    if leaf is None:
        leaf = max(1, int(0.05 * table.n_rows))
    elif isinstance(leaf, numbers.Integral) and not isinstance(leaf, bool) and leaf >= 1:
        leaf = int(leaf)
    elif isinstance(leaf, numbers.Real) and not isinstance(leaf, bool) and 0 < leaf < 1:
        leaf = max(1, int(np.ceil(leaf * table.n_rows)))
    else:
        raise ValueError(
            "conditioning_params['min_samples_leaf'] must be an int >= 1 or a fraction "
            f"of the rows in (0, 1); got {leaf!r}."
        )
    concept_like = [c for c in table.columns if c not in table.context]
    specs: list[ConditioningSpec | None] = []
    for name, columns in zip(concept_names, concept_columns):
        others = tuple(c for c in concept_like if c not in columns)
        if not others:
            raise ValueError(
                f"conditioning='auto' predicts {name!r} from the other concept columns, "
                f"and the concept table has none besides {columns}. Add concept "
                "columns, or use conditioning=None."
            )
        specs.append(ConditioningSpec(columns=others, auto=True, max_depth=int(max_depth),
                                      min_samples_leaf=leaf))
    return specs


def concept_strata(
    table: ConceptTable,
    spec: ConditioningSpec,
    columns: list[Any],
    random_state: int,
) -> tuple[np.ndarray, list[Any]]:
    """The stratum of every table row for a concept, and what defined the strata.

    Parameters
    ----------
    table : ConceptTable
    spec : ConditioningSpec
    columns : list
        The permuted concept's columns.
    random_state : int
        Seeds the tree (``"auto"``).

    Returns
    -------
    strata : ndarray of shape (n_rows,)
        A label per row.
    features : list
        The conditioning columns, or the columns the tree split on.
    """
    position = {column: k for k, column in enumerate(table.columns)}
    if not spec.auto:
        return _joint_codes(table, [position[c] for c in spec.columns]), list(spec.columns)
    blocks, owners = [], []
    for column in spec.columns:
        k = position[column]
        if table.kinds.get(column) == "count":
            blocks.append(np.asarray(table.frame[column], dtype=float)[:, None])
            owners.append(column)
        else:
            # One-hot on the table's value codes: a binary, categorical or text
            # column never gains an order it does not have.
            blocks.append((table.codes[:, k][:, None] == np.arange(table.n_codes[k]))
                          .astype(float))
            owners.extend([column] * table.n_codes[k])
    features = np.hstack(blocks)
    if len(columns) == 1 and table.kinds.get(columns[0]) == "count":
        target = np.asarray(table.frame[columns[0]], dtype=float)
        tree: Any = DecisionTreeRegressor
    else:
        target = _joint_codes(table, [position[c] for c in columns])
        tree = DecisionTreeClassifier
    fitted = tree(max_depth=spec.max_depth, min_samples_leaf=spec.min_samples_leaf,
                  random_state=random_state).fit(features, target)
    used = fitted.tree_.feature[fitted.tree_.feature >= 0]
    split_on = list(dict.fromkeys(owners[f] for f in sorted(set(used.tolist()))))
    return fitted.apply(features), split_on


def _joint_codes(table: ConceptTable, positions: list[int]) -> np.ndarray:
    """One code per row: rows with equal values in all ``positions`` share it."""
    if not positions:
        return np.zeros(table.n_rows, dtype=np.intp)
    _, codes = np.unique(table.codes[:, positions], axis=0, return_inverse=True)
    return codes.astype(np.intp).ravel()


def warn_conditioning(
    conditioning: Mapping[Any, Mapping[str, Any]] | None,
    concept_names: Sequence[Any],
    constant: Sequence[bool],
) -> None:
    """A :class:`ConditioningWarning` for concepts that conditioning nearly freezes.

    A concept whose strata leave it (almost) no room to move has a conditional
    importance near zero for that reason alone. Constant concepts (``constant``)
    are left to the plan's ``warn_constant_concepts``.

    Parameters
    ----------
    conditioning : mapping or None
        The plan's ``conditioning``; None warns of nothing.
    concept_names : sequence
    constant : sequence of bool
        Per concept, whether it takes a single value.
    """
    if conditioning is None:
        return
    frozen, few = [], []
    for name, is_constant in zip(concept_names, constant):
        info = conditioning[name]
        if is_constant or not info["columns"]:
            continue
        if info["changed_fraction"] == 0:
            frozen.append(name)
        elif info["changed_fraction"] < 0.1:
            few.append(f"{quoted(name)} ({info['changed_fraction']:.1%})")
    parts = []
    if frozen:
        shown = ", ".join(quoted(name) for name in frozen)
        parts.append(
            f"Conditioning leaves {shown} unchanged in every row (changed fraction 0): "
            "each stratum holds a single row or a single value of it, so its "
            "conditional importance is 0 by construction, which is no evidence that "
            "the model ignores it."
        )
    if few:
        parts.append(
            f"Conditioning changes fewer than 10% of the rows of {', '.join(few)}: "
            "a conditional importance near 0 may only mean that the concept cannot "
            "move within its strata."
        )
    if parts:
        warnings.warn(
            " ".join(parts) + " Condition on fewer columns (or a shallower tree with "
            "conditioning_params), or group the correlated concepts with concepts=; "
            "result.conditioning lists the changed fractions.",
            ConditioningWarning,
            stacklevel=external_stacklevel(),
        )
