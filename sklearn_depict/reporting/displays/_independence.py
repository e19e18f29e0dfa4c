"""IndependenceDisplay: the heat map of the independence check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ...formatting import plot_label
from ._base import _check_matplotlib, _new_axes, _pyplot, annotate_cells, select_metric

__all__ = ["IndependenceDisplay"]


class IndependenceDisplay:
    """Heat map of the independence check: permuted × detected concepts.

    Cell (j, k) is the mean drop of a concept detector's AUROC for concept k
    after permuting concept j (see
    :func:`~sklearn_depict.diagnostics.depict_diagnostics`). A generator that
    permutes concepts independently gives large values on the diagonal and
    values near zero elsewhere. The colour map is diverging and centred at 0,
    so leaks of either sign stand out.

    Parameters
    ----------
    independence : DataFrame or array-like of shape (n_permuted, n_detected)
        The matrix, as in ``diagnostics.independence``.
    permuted_names, detected_names : sequence of str, default=None
        Row and column names; taken from a DataFrame's index and columns when
        None.

    Attributes
    ----------
    im_ : matplotlib.image.AxesImage
    text_ : ndarray of matplotlib Text of shape (n_permuted, n_detected)
        The annotated values; None with ``values_format=None``.
    colorbar_ : matplotlib.colorbar.Colorbar or None
    ax_ : matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    See Also
    --------
    ImportanceDisplay : The importances the check vouches for.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from sklearn_depict.reporting.displays import IndependenceDisplay
    >>> matrix = pd.DataFrame([[0.45, 0.01], [-0.02, 0.38]],
    ...                       index=["cat", "dog"], columns=["cat", "dog"])
    >>> display = IndependenceDisplay(matrix).plot()
    >>> display.im_.get_array().shape, display.text_[0, 1].get_text()
    ((2, 2), '0.01')
    """

    def __init__(
        self,
        independence: Any,
        *,
        permuted_names: Sequence[Any] | None = None,
        detected_names: Sequence[Any] | None = None,
    ) -> None:
        self.independence = independence
        self.permuted_names = permuted_names
        self.detected_names = detected_names

    @classmethod
    def from_diagnostics(
        cls, diagnostics: Any, *, ax: Any = None, **plot_kwargs: Any
    ) -> IndependenceDisplay:
        """Plot ``diagnostics.independence``.

        Parameters
        ----------
        diagnostics : Bunch
            ``result.diagnostics`` of a run with a ``detector``, or what
            :func:`~sklearn_depict.diagnostics.depict_diagnostics` returned.
        ax : matplotlib Axes, default=None
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : IndependenceDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_diagnostics")
        matrix = diagnostics.get("independence") if isinstance(diagnostics, Mapping) else None
        if matrix is None:
            raise ValueError(
                "These diagnostics hold no independence matrix: it needs a concept "
                "detector. Pass detector= to depict_importance."
            )
        return cls(matrix).plot(ax=ax, **plot_kwargs)

    @classmethod
    def from_result(
        cls, result: Any, *, metric: str | None = None, ax: Any = None, **plot_kwargs: Any
    ) -> IndependenceDisplay:
        """Plot the independence matrix of a :func:`depict_importance` result.

        Parameters
        ----------
        result : Bunch or dict of Bunch
            A result computed with ``detector=``.
        metric : str, default=None
            For a multi-metric result; every metric shares the matrix.
        ax : matplotlib Axes, default=None
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : IndependenceDisplay
        """
        bunch, _ = select_metric(result, metric)
        diagnostics = bunch.get("diagnostics")
        if diagnostics is None:
            raise ValueError(
                "The result holds no diagnostics: run depict_importance with detector=."
            )
        return cls.from_diagnostics(diagnostics, ax=ax, **plot_kwargs)

    def plot(
        self,
        ax: Any = None,
        *,
        cmap: Any = "RdBu_r",
        vmax: float | None = None,
        values_format: str | None = ".2f",
        colorbar: bool = True,
        imshow_kw: dict[str, Any] | None = None,
        text_kw: dict[str, Any] | None = None,
    ) -> IndependenceDisplay:
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure sized to the matrix.
        cmap : str or Colormap, default="RdBu_r"
            A diverging colour map; 0 sits at its centre.
        vmax : float, default=None
            The colour range is [-vmax, vmax]; None uses the largest absolute
            value.
        values_format : str or None, default=".2f"
            Format of the annotations; None writes none.
        colorbar : bool, default=True
        imshow_kw, text_kw : dict, default=None
            Passed to ``Axes.imshow`` and ``Axes.text``.

        Returns
        -------
        display : IndependenceDisplay
            Self, with the artists stored.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        if isinstance(self.independence, pd.DataFrame):
            matrix = self.independence.to_numpy(dtype=float)
            permuted = list(self.independence.index)
            detected = list(self.independence.columns)
        else:
            matrix = np.asarray(self.independence, dtype=float)
            permuted = list(range(matrix.shape[0])) if matrix.ndim == 2 else []
            detected = list(range(matrix.shape[1])) if matrix.ndim == 2 else []
        if matrix.ndim != 2:
            raise ValueError(f"The independence matrix must be 2-D, got {matrix.shape}.")
        if self.permuted_names is not None:
            permuted = list(self.permuted_names)
        if self.detected_names is not None:
            detected = list(self.detected_names)
        n_rows, n_cols = matrix.shape
        if len(permuted) != n_rows or len(detected) != n_cols:
            raise ValueError(
                f"{len(permuted)} x {len(detected)} names for a {n_rows} x {n_cols} matrix."
            )
        finite = np.isfinite(matrix)
        if vmax is None:
            vmax = float(np.abs(matrix[finite]).max()) if finite.any() else 1.0
            vmax = vmax if vmax > 0 else 1.0

        ax = _new_axes(plt, ax, (1.0 + 0.75 * n_cols + 1.5, 0.9 + 0.6 * n_rows + 1.0))
        style = {"cmap": cmap, "vmin": -vmax, "vmax": vmax, "interpolation": "nearest"}
        style.update(imshow_kw or {})
        self.im_ = ax.imshow(matrix, **style)
        self.text_ = None
        if values_format is not None:
            self.text_ = annotate_cells(ax, self.im_, matrix, values_format, text_kw)
        ax.set_xticks(np.arange(n_cols), labels=[plot_label(c, 20) for c in detected],
                      rotation=40, ha="right", rotation_mode="anchor")
        ax.set_yticks(np.arange(n_rows), labels=[plot_label(c) for c in permuted])
        ax.set_xlabel("detected concept")
        ax.set_ylabel("permuted concept")
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = ax.figure.colorbar(self.im_, ax=ax, shrink=0.85)
            self.colorbar_.set_label("drop in the detector's AUROC")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
