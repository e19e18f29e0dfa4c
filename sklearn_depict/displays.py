"""Plots of a DEPICT run, in scikit-learn's Display style.

Each display stores the data to draw in ``__init__``, builds itself from a
:func:`~sklearn_depict.depict_importance` result with ``from_result`` (which
also plots), and draws with ``plot(ax=None, ...)``, keeping the matplotlib
artists it made as attributes (``ax_``, ``figure_``, ...), so that they can be
restyled or checked afterwards.

- :class:`ImportanceDisplay`: box plots of the importances, sorted by mean,
  with the confidence interval of each mean and an optional oracle.
- :class:`PermutationExamplesDisplay`: baseline images above the images
  regenerated after permuting one concept, the visual check that only that
  concept changed.
- :class:`IndependenceDisplay`: the heat map of the independence check.

matplotlib is imported only when something is drawn; install it with
``pip install "sklearn-depict[plot]"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .formatting import plot_label
from .results import is_single_metric
from .uncertainty import importance_intervals

__all__ = ["ImportanceDisplay", "IndependenceDisplay", "PermutationExamplesDisplay"]

_INSTALL_HINT = 'pip install "sklearn-depict[plot]"'


def _pyplot(caller: str) -> Any:
    """matplotlib.pyplot, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed. Install it with: "
            f"{_INSTALL_HINT}"
        ) from exc
    return plt


def _check_matplotlib(caller: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, which is not installed. Install it with: "
            f"{_INSTALL_HINT}"
        ) from exc


def _is_single_result(result: Any) -> bool:
    return is_single_metric(result)


def select_metric(result: Any, metric: str | None = None) -> tuple[Bunch, str | None]:
    """One metric's Bunch from a :func:`depict_importance` result.

    Parameters
    ----------
    result : Bunch or dict of Bunch
        What :func:`~sklearn_depict.depict_importance` returned; a dict for
        multi-metric ``scoring``.
    metric : str, default=None
        The metric to pick from a multi-metric result. None picks the first
        one; it must be None (or the name of the only metric) for a
        single-metric result.

    Returns
    -------
    bunch : Bunch
    name : str or None
        The metric's name, None for a single-metric result.
    """
    if _is_single_result(result):
        if metric is not None:
            raise ValueError(
                f"metric={metric!r} was given, but the result holds a single metric; "
                "leave metric=None."
            )
        return result, None
    if isinstance(result, Mapping) and result and all(
        _is_single_result(value) for value in result.values()
    ):
        names = list(result)
        if metric is None:
            return result[names[0]], str(names[0])
        if metric not in result:
            raise ValueError(f"Unknown metric {metric!r}; the result holds {names}.")
        return result[metric], str(metric)
    raise TypeError(
        "Expected the result of depict_importance (a Bunch with 'importances', or a "
        f"dict of them for multi-metric scoring), got {type(result).__name__}."
    )


def _new_axes(plt: Any, ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


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
        95% t interval with :func:`~sklearn_depict.uncertainty.importance_intervals`.
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
    >>> from sklearn_depict.displays import ImportanceDisplay
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concepts=train.concepts)
    >>> y = make_concept_labels(test.concepts, train.weights)
    >>> result = depict_importance(clf, test.concepts, y, generator=ShapesGenerator(),
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
        boxplot_kwargs: dict[str, Any] | None = None,
        ci_kwargs: dict[str, Any] | None = None,
        oracle_kwargs: dict[str, Any] | None = None,
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
        boxplot_kwargs, ci_kwargs, oracle_kwargs : dict, default=None
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
            if _version(matplotlib.__version__) >= (3, 10)
            else {"vert": False}
        )
        box_style.update(boxplot_kwargs or {})
        self.boxes_ = ax.boxplot(
            importances[order].T, positions=positions, **horizontal, **box_style
        )
        self.zero_line_ = ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle="--", zorder=0)

        level = "" if self.confidence is None else f"{self.confidence:.0%} "
        ci_style = {"colors": "#c0392b", "linewidth": 3.0, "zorder": 3}
        ci_style.update(ci_kwargs or {})
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
            oracle_style.update(oracle_kwargs or {})
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
                ax.text(1.01, y, f"p={_pvalue_text(pvalues[i])}", fontsize="small",
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


def _pvalue_text(p: float) -> str:
    if not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _caption_title(caption: str, width: int, max_lines: int) -> str:
    """A caption wrapped to ``width`` characters, cut after ``max_lines`` lines."""
    if not caption.strip():
        return "(empty caption)"
    return plot_label(caption, width, max_lines)


def _as_image(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if np.issubdtype(image.dtype, np.floating):
        image = np.clip(image, 0.0, 1.0)
    return image, ("gray" if image.ndim == 2 else None)


class PermutationExamplesDisplay:
    """Baseline images above their regenerations after permuting one concept.

    The paper's visual check: with one noise seed per row, an image made after
    permuting a concept should differ from the baseline image of the same row
    only in that concept. The top row shows baseline images, the bottom row the
    same rows after the permutation, each titled with its caption.

    Build it with :meth:`from_result`, which picks rows whose caption the
    permutation changed and regenerates their images (free with the run's
    cache), or from arrays and then call :meth:`plot`.

    Parameters
    ----------
    baseline_images, permuted_images : ndarray of shape (n_examples, H, W, C)
        Images in [0, 1] (or (H, W) / (H, W, 1) grey images).
    baseline_captions, permuted_captions : sequence of str of length n_examples
    concept : str, default=None
        The permuted concept, for the row label.
    rows : array-like of int of shape (n_examples,), default=None
        Positions of the examples in the concept table.
    repeat : int, default=None
        The repeat the permuted images come from.

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes of shape (2, n_examples)
        Top row: baseline; bottom row: after permuting.
    images_ : ndarray of matplotlib AxesImage of shape (2, n_examples)
    captions_ : ndarray of str of shape (2, n_examples)
        The full caption shown (shortened) above each image.
    rows_ : ndarray of int of shape (n_examples,)
        Positions of the examples in the concept table (``-1`` when unknown).
    figure_ : matplotlib.figure.Figure

    See Also
    --------
    ImportanceDisplay : The importances themselves.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_depict import (ConceptBottleneckClassifier, ShapesGenerator,
    ...                             depict_importance, make_concept_labels,
    ...                             make_shapes_dataset)
    >>> from sklearn_depict.displays import PermutationExamplesDisplay
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concepts=train.concepts)
    >>> y = make_concept_labels(test.concepts, train.weights)
    >>> result = depict_importance(clf, test.concepts, y, generator=ShapesGenerator(),
    ...                            scoring="roc_auc", n_repeats=2, random_state=0)
    >>> display = PermutationExamplesDisplay.from_result(
    ...     result, "red circle", generator=ShapesGenerator(), n_examples=3)
    >>> display.axes_.shape
    (2, 3)
    """

    def __init__(
        self,
        baseline_images: Any,
        permuted_images: Any,
        *,
        baseline_captions: Sequence[str],
        permuted_captions: Sequence[str],
        concept: Any = None,
        rows: Any = None,
        repeat: int | None = None,
    ) -> None:
        self.baseline_images = baseline_images
        self.permuted_images = permuted_images
        self.baseline_captions = baseline_captions
        self.permuted_captions = permuted_captions
        self.concept = concept
        self.rows = rows
        self.repeat = repeat

    @classmethod
    def from_result(
        cls,
        result: Any,
        concept: Any,
        *,
        generator: Any,
        cache: Any = None,
        repeat: int = 0,
        n_examples: int = 4,
        metric: str | None = None,
        ax: Any = None,
        **plot_kwargs: Any,
    ) -> PermutationExamplesDisplay:
        """Show rows whose image changed when ``concept`` was permuted.

        The first ``n_examples`` scored rows (in table order) whose caption
        changed in repeat ``repeat`` are shown. Their baseline and permuted
        images are regenerated from the run's plan with the same seeds, so
        they are exactly the images the classifier was scored on; with the
        run's ``cache`` nothing is generated.

        Parameters
        ----------
        result : Bunch or dict of Bunch
            What :func:`~sklearn_depict.depict_importance` returned.
        concept : str
            A name from ``result.concept_names``.
        generator : object
            The generator the run used.
        cache : str, path-like or ImageCache, default=None
            The run's cache, to read the images instead of generating them.
        repeat : int, default=0
            Which permutation of the concept to show.
        n_examples : int, default=4
            Most examples (columns) to show.
        metric : str, default=None
            Ignored apart from validation: every metric shares one plan.
        ax : ndarray of matplotlib Axes of shape (2, n), default=None
            Where to draw; None makes a new figure.
        **plot_kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : PermutationExamplesDisplay
        """
        _check_matplotlib(f"{cls.__name__}.from_result")
        from ._engine.generate import generate_pairs, resolve_fingerprint
        from .cache import check_cache
        from .generators._base import check_generator

        bunch, _ = select_metric(result, metric)
        plan = bunch.get("plan")
        if plan is None:
            raise ValueError(
                "The result holds no 'plan'; use the result of depict_importance."
            )
        names = list(plan.concept_names)
        matches = [j for j, name in enumerate(names) if name == concept]
        if not matches:
            raise ValueError(f"Unknown concept {concept!r}; the result explains {names}.")
        j = matches[0]
        n_repeats = plan.permuted_ids.shape[1]
        if not 0 <= repeat < n_repeats:
            raise ValueError(f"repeat must lie in [0, {n_repeats}), got {repeat}.")
        if n_examples < 1:
            raise ValueError(f"n_examples must be at least 1, got {n_examples}.")
        rows, base_ids, perm_ids = changed_rows(plan, j, repeat)
        if len(rows) == 0:
            raise ValueError(
                f"Permuting {concept!r} in repeat {repeat} changed no row's caption "
                "(the concept may take a single value), so there is nothing to show."
            )
        rows, base_ids, perm_ids = rows[:n_examples], base_ids[:n_examples], perm_ids[:n_examples]

        generator = check_generator(generator, caller=f"{cls.__name__}.from_result")
        cache = check_cache(cache)
        fingerprint = resolve_fingerprint(generator, cache)
        ids, inverse = np.unique(np.concatenate([base_ids, perm_ids]), return_inverse=True)
        images, _ = generate_pairs(
            generator,
            [plan.captions[i] for i in ids],
            [int(plan.seeds[i]) for i in ids],
            cache=cache,
            fingerprint=fingerprint,
        )
        images = images[inverse]
        n = len(rows)
        display = cls(
            images[:n],
            images[n:],
            baseline_captions=[plan.captions[i] for i in base_ids],
            permuted_captions=[plan.captions[i] for i in perm_ids],
            concept=concept,
            rows=rows,
            repeat=repeat,
        )
        return display.plot(ax=ax, **plot_kwargs)

    def plot(
        self,
        ax: Any = None,
        *,
        caption_width: int = 26,
        max_caption_lines: int = 4,
        fontsize: float = 7.5,
        imshow_kwargs: dict[str, Any] | None = None,
    ) -> PermutationExamplesDisplay:
        """Draw the grid.

        Parameters
        ----------
        ax : ndarray of matplotlib Axes of shape (2, n_examples), default=None
            Where to draw; None makes a new figure.
        caption_width : int, default=26
            Characters per line of a title.
        max_caption_lines : int, default=4
            Lines of a title; longer captions are cut and end in "…".
        fontsize : float, default=7.5
            Font size of the titles.
        imshow_kwargs : dict, default=None
            Passed to ``Axes.imshow``.

        Returns
        -------
        display : PermutationExamplesDisplay
            Self, with the artists stored.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        baseline = list(self.baseline_images)
        permuted = list(self.permuted_images)
        n = len(baseline)
        if n == 0 or len(permuted) != n:
            raise ValueError(
                f"Expected as many permuted as baseline images (at least one), got "
                f"{n} and {len(permuted)}."
            )
        captions = np.empty((2, n), dtype=object)
        captions[0] = [str(c) for c in self.baseline_captions]
        captions[1] = [str(c) for c in self.permuted_captions]
        if ax is None:
            figure, ax = plt.subplots(
                2, n, figsize=(1.9 * n + 0.6, 5.0), squeeze=False, layout="constrained"
            )
        axes = np.asarray(ax, dtype=object).reshape(2, n) if np.size(ax) == 2 * n else None
        if axes is None:
            raise ValueError(f"ax must hold 2 x {n} Axes, got {np.shape(ax)}.")
        artists = np.empty((2, n), dtype=object)
        for i, row_images in enumerate((baseline, permuted)):
            for k, image in enumerate(row_images):
                pixels, cmap = _as_image(image)
                style = {"cmap": cmap, "interpolation": "nearest"}
                if cmap is not None:
                    style.update(vmin=0.0, vmax=1.0)
                style.update(imshow_kwargs or {})
                artists[i, k] = axes[i, k].imshow(pixels, **style)
                axes[i, k].set_title(
                    _caption_title(captions[i, k], caption_width, max_caption_lines),
                    fontsize=fontsize,
                )
                axes[i, k].set_xticks([])
                axes[i, k].set_yticks([])
        concept = "" if self.concept is None else f" {plot_label(self.concept, 40, 1)}"
        axes[0, 0].set_ylabel("baseline", fontsize=fontsize + 1.5)
        axes[1, 0].set_ylabel(f"after permuting{concept}", fontsize=fontsize + 1.5)
        self.axes_ = axes
        self.images_ = artists
        self.captions_ = captions
        self.rows_ = (
            np.full(n, -1, dtype=np.intp) if self.rows is None else np.asarray(self.rows)
        )
        self.figure_ = axes[0, 0].figure
        return self


def changed_rows(plan: Any, concept_index: int, repeat: int) -> tuple[np.ndarray, ...]:
    """Scored rows whose image a permutation changed, in table order.

    Parameters
    ----------
    plan : ImportancePlan
    concept_index : int
        Position of the concept in ``plan.concept_names``.
    repeat : int

    Returns
    -------
    rows : ndarray of int
        Positions in the concept table.
    baseline_ids, permuted_ids : ndarray of int
        The pair ids each of those rows shows before and after.
    """
    rows = np.asarray(plan.row_indices)
    permuted = np.asarray(plan.permuted_ids)[concept_index, repeat]
    baseline = np.asarray(plan.baseline_ids)[rows]
    changed = np.flatnonzero(baseline != permuted)
    changed = changed[np.argsort(rows[changed], kind="stable")]
    return rows[changed], baseline[changed], permuted[changed]


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
    >>> from sklearn_depict.displays import IndependenceDisplay
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
        imshow_kwargs: dict[str, Any] | None = None,
        text_kwargs: dict[str, Any] | None = None,
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
        imshow_kwargs, text_kwargs : dict, default=None
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
        style.update(imshow_kwargs or {})
        self.im_ = ax.imshow(matrix, **style)
        self.text_ = None
        if values_format is not None:
            colormap = self.im_.cmap
            text = np.empty((n_rows, n_cols), dtype=object)
            for j in range(n_rows):
                for k in range(n_cols):
                    value = matrix[j, k]
                    if np.isfinite(value):
                        label = format(value, values_format)
                        shade = colormap(self.im_.norm(value))
                        light = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
                        color = "white" if light < 0.5 else "black"
                    else:
                        label, color = "n/a", "0.4"
                    text_style = {"ha": "center", "va": "center", "color": color,
                                  "fontsize": 8}
                    text_style.update(text_kwargs or {})
                    text[j, k] = ax.text(k, j, label, **text_style)
            self.text_ = text
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
