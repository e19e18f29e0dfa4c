"""AnytimeTraceDisplay: how the intervals of an anytime run narrowed, block by block."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...formatting import plot_label
from ._base import _check_matplotlib, _new_axes, _pyplot, select_metric

__all__ = ["AnytimeTraceDisplay"]


class AnytimeTraceDisplay:
    """Each concept's interval half-width against the rows used, with ``tol``.

    An anytime run (``depict_importance(..., tol=...)``) stops once every
    half-width is at most ``tol``; this draws one line per concept, its
    half-width after each block, and ``tol`` as a dashed horizontal line.

    Parameters
    ----------
    n_samples : array-like of shape (n_steps,)
        Rows used after each block.
    half_widths : array-like of shape (n_steps, n_concepts)
        Each concept's half-width after each block (NaN: not scored yet).
    concept_names : sequence of str
    tol : float
        The half-width the run stops at.
    n_samples_total : int, default=None
        Rows of the table: the x axis ends there when given.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One per concept.
    tol_line_ : matplotlib Line2D
    ax_ : matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    See Also
    --------
    ImportanceDisplay : The importances and intervals at the stopping time.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_depict.reporting.displays import AnytimeTraceDisplay
    >>> display = AnytimeTraceDisplay([256, 512], [[0.06, 0.03], [0.02, 0.015]],
    ...                               ["cat", "dog"], tol=0.02).plot()
    >>> len(display.lines_), display.tol_line_.get_ydata()[0]
    (2, 0.02)
    """

    def __init__(
        self,
        n_samples: Any,
        half_widths: Any,
        concept_names: Sequence[Any],
        tol: float,
        *,
        n_samples_total: int | None = None,
    ) -> None:
        self.n_samples = n_samples
        self.half_widths = half_widths
        self.concept_names = concept_names
        self.tol = tol
        self.n_samples_total = n_samples_total

    @classmethod
    def from_result(
        cls, result: Any, *, metric: str | None = None, ax: Any = None, **plot_kwargs: Any
    ) -> AnytimeTraceDisplay:
        """Plot the ``anytime_trace`` of a :func:`depict_importance` result.

        Parameters
        ----------
        result : Bunch or dict of Bunch
            A result computed with ``tol=``.
        metric : str, default=None
            For a multi-metric result.
        ax : matplotlib Axes, default=None
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : AnytimeTraceDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_result")
        bunch, _ = select_metric(result, metric)
        trace = bunch.get("anytime_trace")
        if trace is None:
            raise ValueError(
                "This result holds no anytime_trace: it comes from a run with tol=. "
                "Pass tol to depict_importance."
            )
        return cls(trace.n_samples, trace.half_widths, trace.concept_names, trace.tol,
                   n_samples_total=trace.n_samples_total).plot(ax=ax, **plot_kwargs)

    def plot(self, ax: Any = None, *, line_kw: dict[str, Any] | None = None
             ) -> AnytimeTraceDisplay:
        """Draw the trace.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            New axes when None.
        line_kw : dict, default=None
            Passed to each concept's ``ax.plot``.

        Returns
        -------
        display : AnytimeTraceDisplay
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        ax = _new_axes(plt, ax, (6.0, 3.5))
        n_samples = np.asarray(self.n_samples)
        widths = np.asarray(self.half_widths, dtype=float).reshape(len(n_samples), -1)
        self.lines_ = []
        for j, name in enumerate(self.concept_names):
            style = {"marker": "o", "markersize": 3, "label": plot_label(name)}
            style.update(line_kw or {})
            (line,) = ax.plot(n_samples, widths[:, j], **style)
            self.lines_.append(line)
        self.tol_line_ = ax.axhline(self.tol, color="0.3", linestyle="--", linewidth=1,
                                    label=f"tol = {self.tol:g}")
        if self.n_samples_total:
            ax.set_xlim(0, self.n_samples_total)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("rows used")
        ax.set_ylabel("interval half-width")
        ax.legend(fontsize=7, loc="upper right")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
