"""ImportanceDisplay: box plots of the importances, with intervals and an oracle."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._sklearn_compat import release
from ...formatting import plot_label, pvalue_text
from ...stats.ranking import importance_intervals
from ._base import _check_matplotlib, _new_axes, _pyplot, select_metric

__all__ = ["ImportanceDisplay"]


class ImportanceDisplay:
    """Box plots of concept importances, sorted by mean, with intervals.

    One horizontal box per concept shows the spread of the importance over
    the repeated permutations; the most important concept is on top. Over each
    box a thick line marks the confidence interval of the *mean* importance
    (which shrinks with more repeats, unlike the box), and a dot its mean. An
    optional oracle, such as the true reliance of a synthetic model, is drawn
    as hollow diamonds.

    Build it with :meth:`from_result`, or from arrays and then call
    :meth:`plot`.

    Parameters
    ----------
    importances : ndarray of shape (n_concepts, n_repeats)
        Drops in score, one row per concept.
    concept_names : sequence of str of length n_concepts
    importances_ci : ndarray of shape (n_concepts, 2), default=None
        Confidence interval of each concept's mean importance. None computes a
        95% t interval with :func:`~sklearn_depict.stats.ranking.importance_intervals`.
    oracle : array-like of shape (n_concepts,), default=None
        Reference importances, drawn as markers. NaN entries are not drawn.
    metric_name : str, default=None
        Name of the score, used in the axis label.
    confidence : float, default=None
        Coverage of ``importances_ci``, used in the legend.
    pvalues : array-like of shape (n_concepts,), default=None
        One-sided p-values of each concept (``result.pvalues``), written to the
        right of the plot when given.

    Attributes
    ----------
    boxes_ : dict
        What :meth:`matplotlib.axes.Axes.boxplot` returned (``"boxes"``,
        ``"medians"``, ``"whiskers"``, ...), one box per concept.
    ci_lines_ : matplotlib.collections.LineCollection
        The confidence intervals of the means, one segment per concept.
    mean_markers_ : matplotlib.lines.Line2D
        The means.
    oracle_markers_ : matplotlib.lines.Line2D or None
        The oracle; None without an oracle.
    oracle_scale_ : float or None
        The factor the oracle was multiplied by (see ``scale_oracle``).
    pvalue_texts_ : list of matplotlib.text.Text
        The p-values, top down; empty without ``pvalues``.
    concept_order_ : list
        Concept names from the top of the plot down.
    ax_ : matplotlib.axes.Axes
    figure_ : matplotlib.figure.Figure

    See Also
    --------
    PermutationExamplesDisplay : What the permutations did to the images.
    IndependenceDisplay : The independence check.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_depict import (ConceptBottleneckClassifier, ShapesGenerator,
    ...                             depict_importance, make_concept_labels,
    ...                             make_shapes_dataset)
    >>> from sklearn_depict.reporting.displays import ImportanceDisplay
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concept_table=train.concept_table)
    >>> y = make_concept_labels(test.concept_table, train.weights)
    >>> result = depict_importance(clf, test.concept_table, y, generator=ShapesGenerator(),
    ...                            scoring="roc_auc", n_repeats=3, random_state=0)
    >>> display = ImportanceDisplay.from_result(result)
    >>> len(display.boxes_["boxes"])
    6
    >>> display.oracle_markers_ is None
    True
    """

    def __init__(
        self,
        importances: Any,
        concept_names: Sequence[Any],
        *,
        importances_ci: Any = None,
        oracle: Any = None,
        metric_name: str | None = None,
        confidence: float | None = None,
        pvalues: Any = None,
    ) -> None:
        self.importances = importances
        self.concept_names = concept_names
        self.importances_ci = importances_ci
        self.oracle = oracle
        self.metric_name = metric_name
        self.confidence = confidence
        self.pvalues = pvalues

    @classmethod
    def from_result(
        cls,
        result: Any,
        *,
        metric: str | None = None,
        oracle: Any = None,
        confidence: float | None = None,
        ax: Any = None,
        **plot_kwargs: Any,
    ) -> ImportanceDisplay:
        """Plot the importances of a :func:`depict_importance` result.

        Parameters
        ----------
        result : Bunch or dict of Bunch
            What :func:`~sklearn_depict.depict_importance` returned.
        metric : str, default=None
            The metric to show from a multi-metric result; None shows the first.
        oracle : array-like of shape (n_concepts,), default=None
            Reference importances in the order of ``result.concept_names``.
        confidence : float, default=None
            Coverage of ``result.importances_ci`` (for the legend).
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : ImportanceDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_result")
        bunch, name = select_metric(result, metric)
        display = cls(
            bunch.importances,
            list(bunch.concept_names),
            importances_ci=bunch.get("importances_ci"),
            oracle=oracle,
            metric_name=name,
            confidence=confidence,
            pvalues=bunch.get("pvalues"),
        )
        return display.plot(ax=ax, **plot_kwargs)

    def plot(
        self,
        ax: Any = None,
        *,
        max_concepts: int | None = None,
        scale_oracle: bool = True,
        boxplot_kw: dict[str, Any] | None = None,
        ci_kw: dict[str, Any] | None = None,
        oracle_kw: dict[str, Any] | None = None,
        legend: bool = True,
    ) -> ImportanceDisplay:
        """Draw the box plots.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure sized to the concepts.
        max_concepts : int, default=None
            Show only this many of the most important concepts.
        scale_oracle : bool, default=True
            Multiply the oracle so that its largest absolute value equals the
            largest absolute mean importance. An oracle is often in other units
            (the paper's is weight × concept spread) and is compared by rank or
            correlation, so only its shape matters. False draws it as given.
        boxplot_kw, ci_kw, oracle_kw : dict, default=None
            Passed to ``Axes.boxplot``, ``Axes.hlines`` and ``Axes.plot``.
        legend : bool, default=True
            Add a legend.

        Returns
        -------
        display : ImportanceDisplay
            Self, with the artists stored.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        import matplotlib
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        importances = np.asarray(self.importances, dtype=float)
        if importances.ndim != 2:
            raise ValueError(
                f"importances must be 2-D (n_concepts, n_repeats), got {importances.shape}."
            )
        names = list(self.concept_names)
        if len(names) != len(importances):
            raise ValueError(
                f"{len(names)} concept names for {len(importances)} rows of importances."
            )
        ci = (
            importance_intervals(importances)
            if self.importances_ci is None
            else np.asarray(self.importances_ci, dtype=float)
        )
        means = importances.mean(axis=1)
        order = np.argsort(-means, kind="stable")
        if max_concepts is not None:
            order = order[:max_concepts]
        k = len(order)
        positions = np.arange(k, 0, -1, dtype=float)  # most important on top

        ax = _new_axes(plt, ax, (6.4, max(2.4, 0.42 * k + 1.3)))
        box_style = {
            "widths": 0.55,
            "patch_artist": True,
            "manage_ticks": False,
            "boxprops": {"facecolor": "#dbe6f3", "edgecolor": "#4c6a8c"},
            "medianprops": {"color": "#4c6a8c"},
            "whiskerprops": {"color": "#4c6a8c"},
            "capprops": {"color": "#4c6a8c"},
            "flierprops": {"marker": ".", "markersize": 4, "markeredgecolor": "#4c6a8c"},
        }
        horizontal = (
            {"orientation": "horizontal"}
            if release(matplotlib.__version__) >= (3, 10)
            else {"vert": False}
        )
        box_style.update(boxplot_kw or {})
        self.boxes_ = ax.boxplot(
            importances[order].T, positions=positions, **horizontal, **box_style
        )
        self.zero_line_ = ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle="--", zorder=0)

        level = "" if self.confidence is None else f"{self.confidence:.0%} "
        ci_style = {"colors": "#c0392b", "linewidth": 3.0, "zorder": 3}
        ci_style.update(ci_kw or {})
        self.ci_lines_ = ax.hlines(positions, ci[order, 0], ci[order, 1], **ci_style)
        (self.mean_markers_,) = ax.plot(
            means[order], positions, "o", color="#c0392b", markeredgecolor="white",
            markersize=5, zorder=4,
        )

        handles = [
            Patch(facecolor=box_style["boxprops"].get("facecolor", "C0"),
                  edgecolor="#4c6a8c", label="single permutations"),
            Line2D([], [], color="#c0392b", linewidth=3, marker="o",
                   markeredgecolor="white", label=f"mean and {level}CI of the mean"),
        ]
        self.oracle_markers_ = None
        self.oracle_scale_ = None
        if self.oracle is not None:
            oracle = np.asarray(self.oracle, dtype=float).ravel()
            if len(oracle) != len(names):
                raise ValueError(f"oracle has {len(oracle)} values for {len(names)} concepts.")
            scale = 1.0
            if scale_oracle:
                top_oracle = np.nanmax(np.abs(oracle)) if np.isfinite(oracle).any() else 0.0
                top_mean = np.nanmax(np.abs(means)) if np.isfinite(means).any() else 0.0
                if top_oracle > 0 and top_mean > 0:
                    scale = float(top_mean / top_oracle)
            self.oracle_scale_ = scale
            oracle_style = {
                "marker": "D", "linestyle": "none", "markerfacecolor": "none",
                "markeredgecolor": "black", "markersize": 7, "zorder": 5,
            }
            oracle_style.update(oracle_kw or {})
            (self.oracle_markers_,) = ax.plot(oracle[order] * scale, positions, **oracle_style)
            label = "oracle (scaled)" if scale_oracle else "oracle"
            handles.append(Line2D([], [], label=label, **{
                key: value for key, value in oracle_style.items() if key != "zorder"
            }))

        ax.set_yticks(positions, labels=[plot_label(names[i]) for i in order])
        self.pvalue_texts_ = []
        if self.pvalues is not None:
            pvalues = np.asarray(self.pvalues, dtype=float)
            # Just right of the axes, level with each box.
            self.pvalue_texts_ = [
                ax.text(1.01, y, pvalue_text(pvalues[i], prefix=True), fontsize="small",
                        va="center", transform=ax.get_yaxis_transform())
                for y, i in zip(positions, order)
            ]
        ax.set_ylim(0.4, k + 0.6)
        metric = self.metric_name or "score"
        ax.set_xlabel(f"Drop in {metric} when the concept is permuted")
        ax.grid(axis="x", color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        if legend:
            ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.9)
        self.concept_order_ = [names[i] for i in order]
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

