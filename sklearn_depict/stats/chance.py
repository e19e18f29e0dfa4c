"""The score a model gets by chance, and the check that a baseline beats it.

A score at or below chance on the generated images means that the importances
mean nothing: every permutation can only move the score around the level of
guessing. The usual causes are a class order or ``pos_label`` that makes the
scorer read the wrong column, a generator that does not draw the model's
domain, and a model fitted on other data.

:func:`chance_level` is the one definition of chance used by the engine (for
every result's ``chance_score``), by the checks of
:func:`~sklearn_depict.depict_diagnostics`, by the command line and by the
report. It imports nothing from the package but :mod:`.exceptions` and
:mod:`.formatting`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.utils import Bunch

from .._warnings import external_stacklevel
from ..exceptions import DiagnosticWarning
from ..formatting import fixed

__all__ = [
    "CHANCE_METRICS",
    "at_or_below_chance",
    "below_chance_message",
    "chance_failures",
    "chance_level",
    "check_baselines",
]

_AUC = ("roc_auc", "roc_auc_ovr", "roc_auc_ovo", "roc_auc_ovr_weighted",
        "roc_auc_ovo_weighted")
#: The named scorers whose chance level is known.
CHANCE_METRICS = (*_AUC, "accuracy", "balanced_accuracy", "neg_log_loss", "r2")

# Scores within this relative distance of chance count as at chance: a
# majority-class predictor's accuracy and the class rate it is compared with
# are sums of the same weights taken in different orders.
_RTOL = 1e-9


def chance_level(metric: str | None, y: Any, sample_weight: Any = None) -> float:
    """The score of a model that knows only the class rates of ``y``.

    Parameters
    ----------
    metric : str or None
        A scorer name of :func:`sklearn.metrics.get_scorer`; None for a
        scorer object or callable.
    y : array-like of shape (n_samples,)
        The targets the score is computed against.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    chance : float
        0.5 for ROC AUC (every form), the (weighted) majority-class rate for
        ``accuracy``, 1/K for ``balanced_accuracy`` with K classes in ``y``,
        0 for ``r2``, and for ``neg_log_loss`` minus the log loss of
        predicting the class rates (minus their entropy). NaN for other
        metrics, and where chance is not defined (fewer than two classes, a
        constant regression target, a 2-D ``y``).

    Examples
    --------
    >>> from sklearn_depict.stats.chance import chance_level
    >>> chance_level("roc_auc", [0, 1, 1, 1]), chance_level("accuracy", [0, 1, 1, 1])
    (0.5, 0.75)
    >>> chance_level("balanced_accuracy", ["a", "b", "c"]), chance_level("r2", [1.0, 2.5])
    (0.3333333333333333, 0.0)
    >>> round(chance_level("neg_log_loss", [0, 1]), 4), chance_level("f1", [0, 1])
    (-0.6931, nan)
    """
    if metric not in CHANCE_METRICS:
        return math.nan
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        return math.nan
    if metric == "r2":
        if y.dtype.kind not in "biuf" or np.ptp(y) == 0:
            return math.nan
        return 0.0
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    _, inverse = np.unique(y, return_inverse=True)
    rates = np.bincount(inverse.ravel(), weights=weights)
    if rates.sum() <= 0:
        return math.nan
    rates = rates[rates > 0] / rates.sum()
    if len(rates) < 2:
        return math.nan
    if metric in _AUC:
        return 0.5
    if metric == "accuracy":
        return float(rates.max())
    if metric == "balanced_accuracy":
        return 1.0 / len(rates)
    return float(np.sum(rates * np.log(rates)))  # neg_log_loss


def at_or_below_chance(score: Any, chance: Any) -> bool:
    """Whether ``score`` is at or below ``chance`` (False when either is unknown).

    Examples
    --------
    >>> from sklearn_depict.stats.chance import at_or_below_chance
    >>> at_or_below_chance(0.5, 0.5), at_or_below_chance(0.51, 0.5)
    (True, False)
    >>> at_or_below_chance(0.2, float("nan")), at_or_below_chance(None, 0.5)
    (False, False)
    """
    try:
        score, chance = float(score), float(chance)
    except (TypeError, ValueError):
        return False
    if not (math.isfinite(score) and math.isfinite(chance)):
        return False
    return score <= chance + _RTOL * max(1.0, abs(chance))


def below_chance_message(label: str, score: float, chance: float, *, real: bool) -> str:
    """The failure of check 1 for a score at or below chance, with likely causes.

    Parameters
    ----------
    label : str
        The metric's name as the user knows it.
    score, chance : float
    real : bool
        True for the score on the real images, False for the baseline on the
        generated ones.

    Returns
    -------
    message : str
        Starts with ``"effective generation:"``, the check it fails.
    """
    where = "real" if real else "generated"
    causes = [
        "the class order or pos_label (a binary scorer takes classes_[1], the last of "
        "the sorted labels, as the positive class)",
        "an estimator fitted on other data or labels that do not belong to these rows",
    ]
    if not real:
        causes.insert(1, "a generator that does not draw this domain (look at the images)")
    return (
        f"effective generation: the estimator's {label} on the {where} images is "
        f"{fixed(score, 3)}, at or below chance ({fixed(chance, 3)}), so the importances "
        f"mean nothing. Likely causes: {'; '.join(causes)}."
    )


def chance_failures(label: str, bunch: Any, real_score: Any = None) -> list[str]:
    """Check 1's failures for a result's baseline (and real score) against chance.

    Parameters
    ----------
    label : str
        The metric's name in messages.
    bunch : Bunch
        One metric's result, with ``baseline_score`` and ``chance_score``.
    real_score : float, default=None
        The estimator's score on the real images, when they were given.

    Returns
    -------
    failures : list of str
    """
    chance = bunch.get("chance_score", math.nan)
    failures = []
    if at_or_below_chance(bunch.baseline_score, chance):
        failures.append(below_chance_message(label, bunch.baseline_score, chance, real=False))
    if real_score is not None and at_or_below_chance(real_score, chance):
        failures.append(below_chance_message(label, real_score, chance, real=True))
    return failures


def check_baselines(results: dict[Any, Bunch]) -> None:
    """Fail check 1 of every result whose baseline is at or below chance, and warn.

    For a run without the paper's checks (plain ``depict_importance``): such
    a result gets ``diagnostics`` with check 1 failed and check 2 not run, so
    that the command line and the report show the failure as any other.

    Parameters
    ----------
    results : dict
        From the metric's label to its result (with ``chance_score``).
    """
    for label, bunch in results.items():
        failures = chance_failures(label, bunch)
        if not failures:
            continue
        bunch.diagnostics = Bunch(
            checks={"effective_generation": False, "independent_permutation": None},
            generated_score=bunch.baseline_score,
            chance_score=bunch.chance_score,
            failures=failures,
        )
        for message in failures:
            warnings.warn(message, DiagnosticWarning, stacklevel=external_stacklevel())
