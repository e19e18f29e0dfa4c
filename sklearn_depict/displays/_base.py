"""What the displays share: matplotlib on demand, metric selection, renamed parameters."""

from __future__ import annotations

import sys
import warnings
from typing import Any

from sklearn.utils import Bunch

from ..results import is_single_metric, metric_items

__all__ = ["DEPRECATED", "renamed_kw", "select_metric"]

_INSTALL_HINT = 'pip install "sklearn-depict[plot]"'

DEPRECATED: Any = "deprecated"
"""Default of a parameter's former name: tells "not passed" from any value."""


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


def renamed_kw(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of the ``*_kw`` parameter ``new``, also accepted under its former name.

    The displays' style dictionaries were called ``*_kwargs``; scikit-learn's
    displays call them ``*_kw``. The former name still works for two releases,
    with a FutureWarning.

    Parameters
    ----------
    value : dict or None
        What was passed as ``new``.
    old_value : dict, None or DEPRECATED
        What was passed as ``old``; :data:`DEPRECATED` when it was not passed.
    old, new : str
        The former and the current name.

    Returns
    -------
    value : dict or None

    Examples
    --------
    >>> import warnings
    >>> from sklearn_depict.displays._base import DEPRECATED, renamed_kw
    >>> renamed_kw({"color": "red"}, DEPRECATED, "text_kwargs", "text_kw")
    {'color': 'red'}
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_kw(None, {"color": "red"}, "text_kwargs", "text_kw")
    {'color': 'red'}
    >>> print(caught[0].message)
    'text_kwargs' was renamed 'text_kw' in 0.2 and will be removed in 0.4; pass text_kw= instead.
    """
    if isinstance(old_value, str) and old_value == DEPRECATED:
        return value
    if value is not None:
        raise TypeError(
            f"Got both {new}= and its former name {old}=; pass {new}= only."
        )
    warnings.warn(
        f"{old!r} was renamed {new!r} in 0.2 and will be removed in 0.4; pass {new}= "
        "instead.",
        FutureWarning,
        stacklevel=_caller_level(),
    )
    return old_value


def _caller_level() -> int:
    """The stack level of the first caller outside this package.

    ``from_result`` passes style dictionaries on to ``plot``, so the number
    of frames between the user and the warning varies.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "sklearn_depict."
    ):
        frame, level = frame.f_back, level + 1
    return level
