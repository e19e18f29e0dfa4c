"""What a :func:`~sklearn_depict.depict_importance` result is: one metric or several.

A single-metric result is a Bunch holding ``importances``; a multi-metric
result is a dict mapping each metric's name to such a Bunch. Every module that
needs to tell them apart asks :func:`is_single_metric`, so the rule lives in
one place. This module imports nothing from the package, so any module may
use it without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_single_metric", "metric_items"]


def is_single_metric(result: Any) -> bool:
    """Whether ``result`` is one metric's Bunch rather than a dict of them.

    Parameters
    ----------
    result : object
        What :func:`~sklearn_depict.depict_importance` returned (or a part
        of it).

    Returns
    -------
    single : bool
        True for a mapping that holds ``importances``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.stats.results import is_single_metric
    >>> one = Bunch(importances=np.zeros((2, 3)))
    >>> is_single_metric(one), is_single_metric({"roc_auc": one, "accuracy": one})
    (True, False)
    """
    return isinstance(result, Mapping) and "importances" in result


def metric_items(result: Any, metric_name: str | None = None) -> list[tuple[str, Any]]:
    """``(name, bunch)`` for every metric of a result, in order.

    Parameters
    ----------
    result : Bunch or dict of Bunch
        What :func:`~sklearn_depict.depict_importance` returned.
    metric_name : str, default=None
        The name given to a single-metric result's score; None calls it
        ``"score"``. Ignored for a multi-metric result, whose keys are the
        names.

    Returns
    -------
    items : list of (str, Bunch)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.stats.results import metric_items
    >>> one = Bunch(importances=np.zeros((2, 3)))
    >>> [name for name, _ in metric_items(one)], [name for name, _ in metric_items(one, "f1")]
    (['score'], ['f1'])
    >>> [name for name, _ in metric_items({"roc_auc": one, "accuracy": one})]
    ['roc_auc', 'accuracy']
    """
    if is_single_metric(result):
        return [(metric_name or "score", result)]
    if isinstance(result, Mapping) and result and all(
        is_single_metric(value) for value in result.values()
    ):
        return [(str(key), value) for key, value in result.items()]
    raise TypeError(
        "Expected the result of depict_importance (a Bunch with 'importances', or a "
        f"dict of them for multi-metric scoring), got {type(result).__name__}."
    )
