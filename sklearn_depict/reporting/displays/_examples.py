"""PermutationExamplesDisplay: baseline images above their regenerations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...formatting import plot_label
from ._base import _check_matplotlib, _pyplot, select_metric

__all__ = ["PermutationExamplesDisplay", "changed_rows"]


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
    >>> from sklearn_depict.reporting.displays import PermutationExamplesDisplay
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concept_table=train.concept_table)
    >>> y = make_concept_labels(test.concept_table, train.weights)
    >>> result = depict_importance(clf, test.concept_table, y, generator=ShapesGenerator(),
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
        from ..._engine.generate import generate_pairs, resolve_fingerprint
        from ...cache import check_cache
        from ...generators._base import check_generator

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
        imshow_kw: dict[str, Any] | None = None,
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
        imshow_kw : dict, default=None
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
                style.update(imshow_kw or {})
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
