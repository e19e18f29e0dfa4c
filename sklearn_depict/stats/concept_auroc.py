"""Concept labels and detector scores, per concept, for the two checks.

A binary concept gives one 0/1 label column (present or not) and one score
column (the detector's positive-class probability). A categorical concept,
such as the digit word of :func:`~sklearn_depict.datasets.digits.make_digits_dataset`,
gives one one-vs-rest column per class, and its AUROC is the macro mean over
its classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..formatting import quoted

__all__ = ["auroc", "concept_probabilities"]


def auroc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Area under the ROC curve, column by column, with ties counted as half.

    Equal to :func:`sklearn.metrics.roc_auc_score` on each column, but
    vectorised, since the independence check needs thousands of them.

    Parameters
    ----------
    labels : ndarray of shape (n_samples, n_outputs)
        Binary labels.
    scores : ndarray of shape (n_samples, n_outputs)

    Returns
    -------
    auc : ndarray of shape (n_outputs,)
        NaN for a column whose labels hold a single class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.stats.concept_auroc import auroc
    >>> auroc(np.array([[0], [0], [1], [1]]), np.array([[0.1], [0.4], [0.35], [0.8]]))
    array([0.75])
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    ranks = rankdata(scores, axis=0)
    n_pos = labels.sum(axis=0)
    n_neg = labels.shape[0] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * labels).sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos == 0) | (n_neg == 0), np.nan, auc)


def _presence(
    table: pd.DataFrame, columns: list[Any], classes: list[Any] | None = None
) -> np.ndarray:
    """0/1 label columns: one per binary concept, one per class of a categorical one.

    A binary concept is present when its value is a non-zero number or a
    non-empty phrase. A categorical concept (``classes[k]`` not None) gets one
    one-vs-rest column per class: the row's value equals that class.
    """
    classes = [None] * len(columns) if classes is None else classes
    parts = []
    for column, values_classes in zip(columns, classes):
        values = table[column]
        if values_classes is not None:
            wanted = np.asarray(values_classes, dtype=object)
            parts.append(values.to_numpy(dtype=object)[:, None] == wanted[None, :])
        elif pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype
        ):
            parts.append((values.to_numpy() != 0)[:, None])
        else:
            parts.append(
                np.array([isinstance(v, str) and v.strip() != "" for v in values])[:, None]
            )
    if not parts:
        return np.empty((len(table), 0), dtype=bool)
    return np.hstack(parts).astype(bool)


def _outputs(proba: Any, n_concepts: int, name: str) -> list[np.ndarray]:
    """A detector's output as one (n, n_columns) array per concept."""
    if isinstance(proba, list) and len(proba) == n_concepts:
        arrays = [np.asarray(p, dtype=float) for p in proba]
        if all(p.ndim in (1, 2) for p in arrays):
            return [p[:, None] if p.ndim == 1 else p for p in arrays]
    if not isinstance(proba, list):
        proba = np.asarray(proba, dtype=float)
        # One output with a column per class: a single binary or categorical concept.
        if proba.ndim == 2 and n_concepts == 1 and proba.shape[1] >= 2:
            return [proba]
        if proba.ndim == 2 and proba.shape[1] == n_concepts:
            return [proba[:, [k]] for k in range(n_concepts)]
    shape = [np.shape(p) for p in proba] if isinstance(proba, list) else np.shape(proba)
    raise ValueError(
        f"The {name} must give one output per detector concept: expected "
        f"{n_concepts} columns (or a list of {n_concepts} (n, n_classes) arrays), got "
        f"shape {shape}. Set detector_concepts= to name its outputs."
    )


def _categories(
    table: pd.DataFrame, columns: list[Any], outputs: list[np.ndarray], detector: Any
) -> list[np.ndarray | None]:
    """The classes of each categorical concept, in its output's column order; None if binary.

    A concept is categorical when the detector gives a probability per class and
    either there are more than two classes, or the column holds text with no
    absent (empty) value, so that presence would be the same for every row
    (a word such as the digit "seven", or "male"/"female"). The class labels are
    the detector's ``classes_`` entry, else the column's sorted distinct values
    (what a scikit-learn classifier fitted on the column would hold).
    """
    fitted = getattr(detector, "classes_", None)
    out: list[np.ndarray | None] = []
    for k, (column, output) in enumerate(zip(columns, outputs)):
        values = table[column]
        text = not (
            pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
        )
        no_blank = text and all(isinstance(v, str) and v.strip() != "" for v in values)
        if output.shape[1] < 2 or (output.shape[1] == 2 and not no_blank):
            out.append(None)
            continue
        if isinstance(fitted, list) and len(fitted) == len(outputs):
            classes = np.asarray(fitted[k], dtype=object)
        elif fitted is not None and not isinstance(fitted, list) and len(outputs) == 1:
            classes = np.asarray(fitted, dtype=object)
        else:
            classes = np.asarray(sorted(pd.unique(values)), dtype=object)
        if len(classes) != output.shape[1]:
            raise ValueError(
                f"The detector gives {output.shape[1]} class probabilities for the "
                f"categorical concept {quoted(column)}, but its classes are "
                f"{classes.tolist()} ({len(classes)}). Give the detector a classes_ "
                "attribute listing each output's classes in column order."
            )
        out.append(classes)
    return out


def concept_probabilities(
    proba: Any,
    n_concepts: int,
    name: str = "detector",
    *,
    categories: list[Any] | None = None,
) -> np.ndarray:
    """A detector's output as an (n, n_columns) array of scores.

    One column per binary concept (its positive-class probability), and one
    per class of a categorical concept (``categories[k]`` not None), in the
    order of :func:`_presence`'s label columns.
    """
    outputs = _outputs(proba, n_concepts, name)
    categories = [None] * n_concepts if categories is None else categories
    return np.column_stack(
        [p if classes is not None else p[:, -1:] for p, classes in zip(outputs, categories)]
    )


def _concept_auroc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """AUROC per concept from per-column AUROCs.

    A categorical concept's is the macro mean of its classes' one-vs-rest
    AUROCs, skipping classes that are absent from (or make up all of) the
    labels; NaN when no class is scorable.
    """
    per_column = auroc(labels, scores)
    out = np.full(int(groups.max()) + 1 if groups.size else 0, np.nan)
    for k in range(len(out)):
        values = per_column[groups == k]
        values = values[np.isfinite(values)]
        if values.size:
            out[k] = values.mean()
    return out
