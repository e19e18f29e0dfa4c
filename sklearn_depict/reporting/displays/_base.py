"""What the displays share: matplotlib on demand and metric selection."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import Bunch

from ...stats.results import is_single_metric, metric_items

__all__ = ["annotate_cells", "select_metric"]

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
    if is_single_metric(result):
        if metric is not None:
            raise ValueError(
                f"metric={metric!r} was given, but the result holds a single metric; "
                "leave metric=None."
            )
        return result, None
    names = [name for name, _ in metric_items(result)]  # a TypeError for anything else
    if metric is None:
        return next(iter(result.values())), names[0]
    if metric not in result:
        raise ValueError(f"Unknown metric {metric!r}; the result holds {list(result)}.")
    return result[metric], str(metric)


def _new_axes(plt: Any, ax: Any, figsize: tuple[float, float]) -> Any:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def annotate_cells(ax: Any, image: Any, matrix: np.ndarray, values_format: str,
                   text_kw: dict[str, Any] | None) -> np.ndarray:
    """Write each cell's value on a heat map, in black or white for contrast.

    NaN cells read "n/a" in grey. Shared by the heat-map displays.

    Returns
    -------
    text : ndarray of matplotlib Text, the shape of ``matrix``
    """
    n_rows, n_cols = matrix.shape
    text = np.empty((n_rows, n_cols), dtype=object)
    colormap = image.cmap
    for j in range(n_rows):
        for k in range(n_cols):
            value = matrix[j, k]
            if np.isfinite(value):
                label = format(value, values_format)
                shade = colormap(image.norm(value))
                light = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
                color = "white" if light < 0.5 else "black"
            else:
                label, color = "n/a", "0.4"
            style = {"ha": "center", "va": "center", "color": color, "fontsize": 8}
            style.update(text_kw or {})
            text[j, k] = ax.text(k, j, label, **style)
    return text
