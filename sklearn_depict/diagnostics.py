"""The paper's two checks before trusting a ranking.

1. **Effective generation**: the target model scores about the same on real and
   on generated images, and a concept detector finds each concept about equally
   well in both.
2. **Independent permutation**: permuting concept j lowers the detector's score
   for j and leaves every other concept's score alone (scored against the
   original labels).

Both reuse the images the importance run generated: the detector predicts each
distinct image in the same streamed chunks as the estimator.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.utils import Bunch

from ._replay import make_replay
from .formatting import quoted
from .planning import ImportancePlan
from .results import is_single_metric

__all__ = ["DiagnosticWarning", "DEFAULT_TOLERANCES", "depict_diagnostics", "auroc"]

DEFAULT_TOLERANCES = {"generation_gap": 0.1, "min_drop": 0.1, "max_leak": 0.05}


class DiagnosticWarning(UserWarning):
    """A check of the generator failed: the ranking may not be trustworthy."""


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
    >>> from sklearn_depict.diagnostics import auroc
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


def diagnose(
    results: Bunch | dict[str, Bunch],
    *,
    plan: ImportancePlan,
    table: pd.DataFrame,
    estimator: Any,
    available: tuple[str, ...],
    methods: list[str],
    scorer: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    X_images: Any,
    detector: Any,
    detector_proba: Any,
    detector_concepts: Any,
    tolerances: dict[str, float] | None,
) -> None:
    """Compute both checks and store them as ``diagnostics`` in each result."""
    tol = dict(DEFAULT_TOLERANCES)
    unknown = set(tolerances or {}) - set(tol)
    if unknown:
        raise ValueError(f"Unknown tolerance(s) {sorted(unknown)}; use {sorted(tol)}.")
    tol.update(tolerances or {})
    if X_images is not None:
        X_images = np.asarray(X_images)
        if X_images.ndim < 2 or len(X_images) != len(table):
            raise ValueError(
                f"X_images must hold one real image per row of the concept table "
                f"({len(table)}), got an array of shape {X_images.shape}."
            )

    shared = Bunch(tolerances=tol)
    failures: list[str] = []
    if detector is not None:
        failures += _detector_checks(
            shared, plan, table, detector, detector_proba, detector_concepts, X_images, tol
        )

    bunches = results if not is_single_metric(results) else {None: results}
    real_scores: Any = None
    if X_images is not None:
        real = make_replay(estimator, available)
        real.responses_ = {m: getattr(estimator, m)(X_images) for m in methods}
        ids = np.arange(len(X_images))
        if sample_weight is None:
            real_scores = scorer(real, ids, y)
        else:
            real_scores = scorer(real, ids, y, sample_weight=sample_weight)

    for name, bunch in bunches.items():
        diagnostics = Bunch(**shared)
        own_failures = list(failures)
        diagnostics.generated_score = bunch.baseline_score
        if real_scores is not None:
            real = real_scores[name] if isinstance(real_scores, dict) else real_scores
            diagnostics.real_score = real
            diagnostics.score_gap = real - bunch.baseline_score
            if abs(diagnostics.score_gap) > tol["generation_gap"]:
                label = "score" if name is None else name
                own_failures.append(
                    f"effective generation: the estimator's {label} is {real:.3f} on real "
                    f"images but {bunch.baseline_score:.3f} on generated ones (gap "
                    f"{diagnostics.score_gap:+.3f}, tolerance {tol['generation_gap']})."
                )
        diagnostics.checks = {
            "effective_generation": _verdict(
                own_failures, "effective generation", X_images is not None
            ),
            "independent_permutation": _verdict(
                own_failures, "independent permutation", detector is not None
            ),
        }
        diagnostics.failures = own_failures
        bunch.diagnostics = diagnostics
    seen: set[str] = set()
    for bunch in bunches.values():
        for message in bunch.diagnostics.failures:
            if message not in seen:
                seen.add(message)
                warnings.warn(message, DiagnosticWarning, stacklevel=4)


def _verdict(failures: list[str], check: str, ran: bool) -> bool | None:
    if not ran:
        return None
    return not any(message.startswith(check) for message in failures)


def _detector_checks(
    out: Bunch,
    plan: ImportancePlan,
    table: pd.DataFrame,
    detector: Any,
    detector_proba: Any,
    detector_concepts: Any,
    X_images: Any,
    tol: dict[str, float],
) -> list[str]:
    if detector_concepts is None:
        detector_concepts = [c for columns in plan.concept_columns for c in columns]
    detector_concepts = list(detector_concepts)
    missing = [c for c in detector_concepts if c not in table.columns]
    if missing:
        raise ValueError(
            f"detector_concepts names column(s) {missing} that are not in the concept "
            f"table; its columns are {list(table.columns)}."
        )
    n_concepts = len(detector_concepts)
    categories = _categories(
        table, detector_concepts, _outputs(detector_proba, n_concepts, "detector"), detector
    )
    proba = concept_probabilities(detector_proba, n_concepts, categories=categories)
    labels = _presence(table, detector_concepts, categories)
    groups = np.repeat(
        np.arange(n_concepts), [1 if c is None else len(c) for c in categories]
    )
    failures = []

    generated = _concept_auroc(labels, proba[plan.baseline_ids], groups)
    out.detector_concepts = detector_concepts
    out.detector_generated_auc = generated
    if X_images is not None:
        real_proba = concept_probabilities(
            detector.predict_proba(X_images), n_concepts, categories=categories
        )
        real = _concept_auroc(labels, real_proba, groups)
        out.detector_real_auc = real
        out.detector_gaps = real - generated
        for k, gap in enumerate(out.detector_gaps):
            if np.isfinite(gap) and abs(gap) > tol["generation_gap"]:
                failures.append(
                    f"effective generation: the detector finds {quoted(detector_concepts[k])} "
                    f"with AUROC {real[k]:.3f} in real images but {generated[k]:.3f} in "
                    f"generated ones (tolerance {tol['generation_gap']})."
                )

    rows = plan.row_indices
    scored_labels = labels[rows]
    base = _concept_auroc(scored_labels, proba[plan.baseline_ids[rows]], groups)
    n_entries, n_repeats, _ = plan.permuted_ids.shape
    drops = np.empty((n_entries, n_repeats, len(detector_concepts)))
    for j in range(n_entries):
        for r in range(n_repeats):
            drops[j, r] = base - _concept_auroc(
                scored_labels, proba[plan.permuted_ids[j, r]], groups
            )
    matrix = drops.mean(axis=1)
    out.independence = pd.DataFrame(
        matrix,
        index=pd.Index(plan.concept_names, name="permuted"),
        columns=pd.Index(detector_concepts, name="detected"),
    )
    for j, name in enumerate(plan.concept_names):
        own = [k for k, c in enumerate(detector_concepts) if c in plan.concept_columns[j]]
        others = [k for k in range(len(detector_concepts)) if k not in own]
        if own:
            drop = np.nanmean(matrix[j, own])
            if not drop >= tol["min_drop"]:
                failures.append(
                    f"independent permutation: permuting {quoted(name)} lowers the detector's "
                    f"AUROC for it by only {drop:.3f} (expected at least "
                    f"{tol['min_drop']}): the generator may ignore this concept."
                )
        leaks = {
            detector_concepts[k]: matrix[j, k]
            for k in others
            if np.isfinite(matrix[j, k]) and abs(matrix[j, k]) > tol["max_leak"]
        }
        if leaks:
            shown = ", ".join(f"{quoted(c)} ({v:+.3f})" for c, v in leaks.items())
            failures.append(
                f"independent permutation: permuting {quoted(name)} also changes the "
                f"detector's AUROC for {shown} (tolerance {tol['max_leak']}): the "
                "concepts are entangled in generation."
            )
    return failures


def depict_diagnostics(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: Any = None,
    detector: Any,
    X_images: Any = None,
    scoring: Any = "roc_auc",
    **kwargs: Any,
) -> Bunch:
    """Run the paper's two checks for a generator, estimator and detector.

    A shortcut for ``depict_importance(..., detector=detector,
    X_images=X_images).diagnostics``; the importances come for free, since
    the checks reuse the generated images. Failing checks raise a
    :class:`DiagnosticWarning`.

    Parameters
    ----------
    estimator : object
        The fitted target model.
    X_captions : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table.
    y : array-like of shape (n_samples,)
        Targets.
    generator : object, default=None
        The text-to-image generator; optional when ``estimator`` is a pipeline
        that begins with :class:`~sklearn_depict.CaptionToImage`.
    detector : object
        A fitted multi-label concept detector with ``predict_proba``.
    X_images : array-like of shape (n_samples, H, W, C), default=None
        The real images, for check 1.
    scoring : str, callable, list or dict, default="roc_auc"
        The target model's metric.
    **kwargs
        Passed on to :func:`depict_importance` (n_repeats, random_state,
        cache, tolerances, detector_concepts, ...).

    Returns
    -------
    diagnostics : :class:`~sklearn.utils.Bunch`
        checks : dict
            ``{"effective_generation": bool or None, "independent_permutation":
            bool}``; None when a check could not run (no real images).
        real_score, generated_score, score_gap : float
            The target model on real and generated images (with ``X_images``).
        detector_concepts : list
            The table columns the detector's outputs stand for.
        detector_real_auc, detector_generated_auc, detector_gaps : ndarray
            Per detector concept. For a categorical concept (the detector gives
            a probability per class, such as the digit of
            :class:`~sklearn_depict.digits.DigitsConceptDetector`) the AUROC is
            the macro mean of the one-vs-rest AUROCs of its classes.
        independence : DataFrame of shape (n_permuted, n_detector_concepts)
            M[j, k]: mean drop of the detector's AUROC for concept k after
            permuting concept j (macro one-vs-rest for a categorical k). Large
            on the diagonal, near 0 elsewhere.
        failures : list of str
            One message per failed check, also issued as warnings.
        tolerances : dict
            The tolerances used.
        result : Bunch
            The full :func:`depict_importance` result.

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator, make_shapes_dataset
    >>> from sklearn_depict.bottleneck import (ConceptBottleneckClassifier,
    ...                                        make_shapes_detector)
    >>> from sklearn_depict.diagnostics import depict_diagnostics
    >>> train = make_shapes_dataset(600, random_state=0)
    >>> test = make_shapes_dataset(100, random_state=1)
    >>> detector = make_shapes_detector().fit(train.images, train.concepts)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concepts=train.concepts)
    >>> checks = depict_diagnostics(clf, test.concepts, test.target,
    ...                             generator=ShapesGenerator(), detector=detector,
    ...                             X_images=test.images, n_repeats=3, random_state=0)
    >>> checks.checks
    {'effective_generation': True, 'independent_permutation': True}
    """
    from .importance import depict_importance

    result = depict_importance(
        estimator,
        X_captions,
        y,
        generator=generator,
        detector=detector,
        X_images=X_images,
        scoring=scoring,
        **kwargs,
    )
    bunch = result if is_single_metric(result) else next(iter(result.values()))
    diagnostics = Bunch(**bunch.diagnostics)
    diagnostics.result = result
    return diagnostics
