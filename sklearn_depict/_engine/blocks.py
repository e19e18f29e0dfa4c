"""Anytime DEPICT's draws: rows in random blocks, each concept permuted within them.

An anytime run (``depict_importance(..., tol=...)``) takes the rows in blocks
of ``block_size``, in an order drawn from ``random_state``, and permutes every
concept *within* each block: conditional permutation with block membership as
the strata (with ``conditioning``, the strata are block x conditioning
stratum). A permutation of all rows would redraw every row's partner when a
block is added; within blocks, the images made for earlier blocks stay valid.

Everything is drawn here up front, for every block, so the plan (and its
distinct pairs) is that of the whole table; each block draws from its own
stream, derived from ``random_state``'s integer and the block's index, so
adding a block never changes an earlier one. :func:`plan_for_rows` cuts the
plan of the rows used so far out of the whole plan. Nothing here generates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ..concepts import ConceptTable
from .plan import Draws, ImportancePlan, changed_summary
from .strata import ConditioningSpec, concept_strata, permute_within

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_MIN_BLOCKS",
    "AnytimeSettings",
    "AnytimeTrace",
    "BlockDraws",
    "check_blocks",
    "draw_blocks",
    "plan_for_rows",
    "row_blocks",
]

DEFAULT_BLOCK_SIZE = 256
DEFAULT_MIN_BLOCKS = 2


@dataclass(frozen=True)
class AnytimeSettings:
    """When an anytime run stops: ``tol``, ``block_size`` and ``min_blocks``.

    Attributes
    ----------
    tol : float
        The run stops once every interval's half-width is at most ``tol``.
    block_size : int
        Rows per block.
    min_blocks : int
        Blocks processed before the run may stop.
    """

    tol: float
    block_size: int = DEFAULT_BLOCK_SIZE
    min_blocks: int = DEFAULT_MIN_BLOCKS

    @classmethod
    def from_params(cls, tol: float | None, block_size: int | None, min_blocks: int | None,
                    *, ci_method: str, max_samples: Any) -> AnytimeSettings | None:
        """Check the anytime parameters against the others; None without ``tol``.

        Only what needs no table is checked here (see :func:`check_blocks`).
        """
        if tol is None:
            given = [f"{name}={value!r}" for name, value in
                     (("block_size", block_size), ("min_blocks", min_blocks))
                     if value is not None]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} only apply to an anytime run; got tol=None. "
                    "Pass tol (the interval half-width to stop at), or drop them."
                )
            return None
        if ci_method != "bootstrap":
            raise ValueError(
                f"tol stops the run on the bootstrap intervals over the rows used, but "
                f"ci_method={ci_method!r} gives intervals over the repeats, which do not "
                "narrow as rows are added. Use ci_method='bootstrap' with tol."
            )
        if not isinstance(max_samples, (int, np.integer)) and max_samples != 1.0:
            raise ValueError(
                f"tol chooses how many rows to score by itself, block by block; "
                f"max_samples={max_samples!r} would subsample them as well. Leave "
                "max_samples=1.0 with tol (or pass fewer rows)."
            )
        return cls(tol=float(tol),
                   block_size=DEFAULT_BLOCK_SIZE if block_size is None else int(block_size),
                   min_blocks=DEFAULT_MIN_BLOCKS if min_blocks is None else int(min_blocks))


def check_blocks(settings: AnytimeSettings, n_rows: int, n_scored: int) -> None:
    """Raise, before any image, when the table cannot be cut into the blocks asked."""
    if settings.block_size > n_rows:
        raise ValueError(
            f"block_size={settings.block_size} is larger than the concept table's "
            f"{n_rows} rows: an anytime run needs at least one block of block_size rows. "
            f"Pass block_size <= {n_rows} (or drop tol to explain all rows at once)."
        )
    if n_scored != n_rows:
        raise ValueError(
            f"tol chooses how many rows to score by itself, block by block; "
            f"max_samples={n_scored} would subsample them as well. Leave "
            "max_samples=1.0 with tol (or pass fewer rows)."
        )


@dataclass
class AnytimeTrace:
    """What an anytime run saw after each block: rows, images and half-widths.

    Attributes
    ----------
    concept_names : list
        One name per permuted concept.
    tol : float
        The half-width the run stopped at (or would have).
    n_samples : ndarray of shape (n_steps,)
        Rows used after each block.
    n_images : ndarray of shape (n_steps,)
        Distinct images (caption, seed pairs) of those rows.
    half_widths : ndarray of shape (n_steps, n_concepts)
        Half the width of each concept's interval after each block; NaN for a
        block after which the rows could not be scored yet (a single class).
    importances_mean : ndarray of shape (n_steps, n_concepts)
        The mean importances after each block (NaN where not scored).
    importances_ci : ndarray of shape (n_steps, n_concepts, 2)
        The intervals after each block: the run stopped with a larger ``tol``
        returns those of the first block whose half-widths are all within it
        (and ``min_blocks`` reached).
    n_samples_total, n_images_total : int
        Rows of the table, and distinct images of a run on all of them.
    """

    concept_names: list[Any]
    tol: float
    n_samples: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    n_images: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    half_widths: np.ndarray | None = None
    importances_mean: np.ndarray | None = None
    importances_ci: np.ndarray | None = None
    n_samples_total: int = 0
    n_images_total: int = 0

    def __post_init__(self) -> None:
        self.n_samples = np.asarray(self.n_samples, dtype=int)
        self.n_images = np.asarray(self.n_images, dtype=int)
        shape = (len(self.n_samples), len(self.concept_names))
        for name, tail in (("half_widths", ()), ("importances_mean", ()),
                           ("importances_ci", (2,))):
            value = getattr(self, name)
            value = np.full(shape + tail, np.nan) if value is None else value
            # NaN (a block not scored yet) comes back from JSON as None.
            value = np.array(value, dtype=object)
            value[np.equal(value, None)] = np.nan
            setattr(self, name, value.astype(float).reshape(shape + tail))

    @property
    def max_half_widths(self) -> np.ndarray:
        """The widest half-width after each block, the one compared with ``tol``."""
        widths = self.half_widths
        return np.full(len(widths), np.nan) if widths.shape[1] == 0 else widths.max(axis=1)

    def to_frame(self) -> Any:
        """The trace as a DataFrame: one row per block, one column per concept.

        Returns
        -------
        frame : DataFrame
            Indexed by ``n_samples``, with ``n_images`` and each concept's
            half-width as columns.
        """
        import pandas as pd

        frame = pd.DataFrame(self.half_widths, columns=list(self.concept_names),
                             index=pd.Index(self.n_samples, name="n_samples"))
        frame.insert(0, "n_images", self.n_images)
        return frame


@dataclass(frozen=True)
class BlockDraws:
    """Every block's rows and permutations, drawn before the first image.

    Attributes
    ----------
    blocks : list of ndarray
        The table rows (positions, sorted) of each block, in processing order.
    sources : ndarray of shape (n_concepts, n_repeats, n_rows)
        The table row whose values of concept ``j`` row ``i`` shows in repeat ``r``.
    marginal : ndarray of shape (n_repeats, n_rows)
        The same for a concept permuted within blocks only (every concept
        without ``conditioning`` uses it, as sklearn shares one draw).
    strata : list
        Per concept, the conditioning stratum of every row, or None.
    features : list
        Per concept, the conditioning columns (or the tree's), or [].
    """

    blocks: list[np.ndarray]
    sources: np.ndarray
    marginal: np.ndarray
    strata: list[np.ndarray | None]
    features: list[list[Any]]

    def as_draws(self, table: ConceptTable, concept_columns: list[list[Any]],
                 concept_names: list[Any], conditioned: bool) -> Draws:
        """The draws of all rows, as :func:`~.plan.make_plan` takes them."""
        rows = np.arange(self.sources.shape[-1])
        return Draws(row_indices=rows, sources=self.sources,
                     conditioning=self.summary(table, concept_columns, concept_names, rows)
                     if conditioned else None)

    def summary(self, table: ConceptTable, concept_columns: list[list[Any]],
                concept_names: list[Any], rows: np.ndarray) -> dict[Any, dict[str, Any]]:
        """:attr:`~.plan.ImportancePlan.conditioning` over ``rows``."""
        return {
            name: changed_summary(table, columns, self.features[j], self.strata[j],
                                  self.sources[j][:, rows], self.marginal[:, rows], rows)
            for j, (name, columns) in enumerate(zip(concept_names, concept_columns))
        }


def _stream(seed: int, index: int) -> np.random.RandomState:
    """The random stream ``index`` of ``seed``: independent of every other index."""
    return np.random.RandomState(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def row_blocks(n_rows: int, block_size: int, seed: int) -> list[np.ndarray]:
    """The rows of each block: a random order of the rows, cut every ``block_size``.

    The order comes from stream 0 of ``seed``. A last block of a single row
    (which no permutation can change) joins the block before it.

    Examples
    --------
    >>> from sklearn_depict._engine.blocks import row_blocks
    >>> [len(block) for block in row_blocks(10, 4, seed=0)]
    [4, 4, 2]
    >>> [len(block) for block in row_blocks(9, 4, seed=0)]
    [4, 5]
    """
    order = _stream(seed, 0).permutation(n_rows)
    bounds = list(range(0, n_rows, block_size)) + [n_rows]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < 2:
        del bounds[-2]
    return [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def draw_blocks(
    table: ConceptTable,
    *,
    concept_columns: list[list[Any]],
    n_repeats: int,
    block_size: int,
    random_state: Any,
    conditioning: list[ConditioningSpec | None] | None = None,
) -> BlockDraws:
    """Draw the blocks and every within-block permutation of an anytime run.

    One integer is drawn from ``random_state`` as sklearn draws it (it also
    seeds the ``"auto"`` trees, fitted on the whole table). Block ``b`` then
    draws from its own stream ``b + 1``: first, per repeat, the within-block
    permutation every unconditioned concept shares, then, per conditioned
    concept and repeat, :func:`~.strata.permute_within` of the block's rows
    with their conditioning strata.

    Returns
    -------
    draws : BlockDraws
    """
    n = table.n_rows
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max + 1))
    blocks = row_blocks(n, block_size, seed)
    strata: list[np.ndarray | None] = []
    features: list[list[Any]] = []
    for j, columns in enumerate(concept_columns):
        spec = None if conditioning is None else conditioning[j]
        labels, used = (None, []) if spec is None else concept_strata(table, spec, columns, seed)
        strata.append(labels)
        features.append(list(used))
    marginal = np.empty((n_repeats, n), dtype=np.intp)
    sources = np.empty((len(concept_columns), n_repeats, n), dtype=np.intp)
    for b, rows in enumerate(blocks):
        rng = _stream(seed, b + 1)
        for r in range(n_repeats):
            marginal[r, rows] = rows[permute_within(np.zeros(len(rows)), rng)]
        for j, labels in enumerate(strata):
            for r in range(n_repeats):
                sources[j, r, rows] = (marginal[r, rows] if labels is None
                                       else rows[permute_within(labels[rows], rng)])
    return BlockDraws(blocks=blocks, sources=sources, marginal=marginal, strata=strata,
                      features=features)


def plan_for_rows(plan: ImportancePlan, rows: np.ndarray,
                  conditioning: dict[Any, dict[str, Any]] | None
                  ) -> tuple[ImportancePlan, np.ndarray]:
    """The plan of the table's ``rows`` alone, cut out of an anytime run's plan.

    The rows must be whole blocks, so that every row's permuted partner is
    among them. Pair ids are renumbered in order, so the baseline's still
    come first.

    Parameters
    ----------
    plan : ImportancePlan
        The plan of every row (``row_indices`` all of them, in table order).
    rows : ndarray
        The rows used so far, sorted.
    conditioning : dict or None
        The plan's ``conditioning`` over these rows.

    Returns
    -------
    plan : ImportancePlan
        With ``table_rows=rows``; positions count among ``rows``.
    pair_ids : ndarray
        For each of its pairs, the pair's id in the whole plan.
    """
    position = np.full(len(plan.baseline_ids), -1, dtype=np.intp)
    position[rows] = np.arange(len(rows))
    sources = plan.permuted_rows[:, :, rows]
    if (position[sources] < 0).any():
        raise ValueError("plan_for_rows needs whole blocks: a row's partner is missing.")
    baseline = plan.baseline_ids[rows]
    permuted = plan.permuted_ids[:, :, rows]
    pair_ids = np.unique(np.concatenate([baseline, permuted.ravel()]))
    n_values = list(plan.n_values)
    cut = ImportancePlan(
        concept_names=list(plan.concept_names),
        concept_columns=[list(c) for c in plan.concept_columns],
        captions=[plan.captions[i] for i in pair_ids],
        seeds=[plan.seeds[i] for i in pair_ids],
        baseline_ids=np.searchsorted(pair_ids, baseline),
        row_indices=np.arange(len(rows)),
        permuted_ids=np.searchsorted(pair_ids, permuted),
        n_bound=len(rows) * (1 + sum(k - 1 for k in n_values)),
        n_values=n_values,
        permuted_rows=position[sources],
        conditioning=conditioning,
        table_rows=np.asarray(rows, dtype=np.intp),
    )
    return cut, pair_ids
