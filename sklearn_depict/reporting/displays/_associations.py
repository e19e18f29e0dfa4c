"""ConceptAssociationDisplay: the clustered heat map of concept associations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...formatting import plot_label
from ...stats.associations import cluster_concepts, concept_associations
from ._base import _check_matplotlib, _new_axes, _pyplot, annotate_cells

__all__ = ["ConceptAssociationDisplay"]


class ConceptAssociationDisplay:
    """Heat map of the pairwise associations of concepts, clustered.

    Rows and columns are reordered by the hierarchical clustering of
    :func:`~sklearn_depict.suggest_concept_groups` (the dendrogram's leaf
    order), so that associated concepts sit side by side, and the groups it
    suggests at ``threshold`` are outlined. Look at it before trusting a
    ranking: two strongly associated concepts share their importance in ways
    that marginal permutation cannot separate.

    Parameters
    ----------
    associations : DataFrame of shape (n_columns, n_columns)
        What :func:`~sklearn_depict.concept_associations` returned.
    threshold : float in [0, 1], default=0.5
        The absolute association from which concepts are grouped and
        outlined; None outlines nothing.

    Attributes
    ----------
    order_ : list
        The column names in the order drawn.
    im_ : matplotlib.image.AxesImage
    text_ : ndarray of matplotlib Text of shape (n_columns, n_columns)
        The annotated values, in the order drawn; None with
        ``values_format=None``.
    groups_ : list of matplotlib.patches.Rectangle
        The outlines of the groups of two or more concepts.
    colorbar_ : matplotlib.colorbar.Colorbar or None
    ax_ : matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    See Also
    --------
    IndependenceDisplay : Whether the generator permuted concepts independently.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn_depict.reporting.displays import ConceptAssociationDisplay
    >>> table = pd.DataFrame({"chair": [1, 1, 0, 0, 1, 0, 1, 0],
    ...                       "dog":   [0, 1, 0, 1, 1, 0, 0, 1],
    ...                       "table": [1, 1, 0, 0, 1, 0, 0, 0]})
    >>> display = ConceptAssociationDisplay.from_table(table)
    >>> display.order_, len(display.groups_)
    (['dog', 'chair', 'table'], 1)
    """

    def __init__(self, associations: pd.DataFrame, *, threshold: float | None = 0.5) -> None:
        self.associations = associations
        self.threshold = threshold

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        method: str = "auto",
        columns: Sequence[Any] | None = None,
        threshold: float | None = 0.5,
        ax: Any = None,
        **plot_kwargs: Any,
    ) -> ConceptAssociationDisplay:
        """Compute the associations of a concept table and plot them.

        Parameters
        ----------
        table : DataFrame or array-like of shape (n_samples, n_columns)
            The concept table.
        method : {"auto", "spearman", "cramers_v", "correlation_ratio"}, default="auto"
            See :func:`~sklearn_depict.concept_associations`.
        columns : sequence, default=None
            The columns to compare; None compares them all.
        threshold : float in [0, 1] or None, default=0.5
            The groups to outline, as :func:`~sklearn_depict.suggest_concept_groups`
            forms them; None outlines nothing.
        ax : matplotlib Axes, default=None
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ConceptAssociationDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_table")
        associations = concept_associations(table, method=method, columns=columns)
        return cls(associations, threshold=threshold).plot(ax=ax, **plot_kwargs)

    def plot(
        self,
        ax: Any = None,
        *,
        cmap: Any = "RdBu_r",
        values_format: str | None = ".2f",
        colorbar: bool = True,
        imshow_kw: dict[str, Any] | None = None,
        text_kw: dict[str, Any] | None = None,
        outline_kw: dict[str, Any] | None = None,
    ) -> ConceptAssociationDisplay:
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure sized to the matrix.
        cmap : str or Colormap, default="RdBu_r"
            A diverging colour map over [-1, 1]: Spearman correlations have a
            sign, Cramér's V and the correlation ratio lie in [0, 1].
        values_format : str or None, default=".2f"
            Format of the annotations; None writes none.
        colorbar : bool, default=True
        imshow_kw, text_kw, outline_kw : dict, default=None
            Passed to ``Axes.imshow``, ``Axes.text`` and the outlines'
            ``matplotlib.patches.Rectangle``.

        Returns
        -------
        display : ConceptAssociationDisplay
            Self, with the artists stored.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.patches import Rectangle

        if not isinstance(self.associations, pd.DataFrame):
            raise TypeError(
                "associations must be the DataFrame that concept_associations returned, "
                f"got {type(self.associations).__name__}."
            )
        clusters = cluster_concepts(
            self.associations, 0.5 if self.threshold is None else self.threshold
        )
        order = list(clusters.order)
        names = [self.associations.columns[k] for k in order]
        matrix = self.associations.to_numpy(dtype=float)[np.ix_(order, order)]
        labels = clusters.labels[order]
        n = len(names)

        ax = _new_axes(plt, ax, (2.5 + 0.7 * n, 1.9 + 0.6 * n))
        style = {"cmap": cmap, "vmin": -1.0, "vmax": 1.0, "interpolation": "nearest"}
        style.update(imshow_kw or {})
        self.im_ = ax.imshow(matrix, **style)
        self.text_ = None
        if values_format is not None:
            # NaN cells: a constant column, associated with nothing.
            self.text_ = annotate_cells(ax, self.im_, matrix, values_format, text_kw)
        self.groups_ = []
        if self.threshold is not None:
            start = 0
            for end in range(1, n + 1):
                if end == n or labels[end] != labels[start]:
                    if end - start > 1:  # clusters are contiguous in leaf order
                        outline = {"fill": False, "edgecolor": "black", "linewidth": 2.0}
                        outline.update(outline_kw or {})
                        patch = Rectangle((start - 0.5, start - 0.5), end - start,
                                          end - start, **outline)
                        self.groups_.append(ax.add_patch(patch))
                    start = end
        ticks = [plot_label(c, 20) for c in names]
        ax.set_xticks(np.arange(n), labels=ticks, rotation=40, ha="right",
                      rotation_mode="anchor")
        ax.set_yticks(np.arange(n), labels=[plot_label(c) for c in names])
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = ax.figure.colorbar(self.im_, ax=ax, shrink=0.85)
            self.colorbar_.set_label("association")
        self.order_ = names
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
