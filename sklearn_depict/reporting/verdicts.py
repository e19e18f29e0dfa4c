"""The verdicts of the paper's two checks, worded once for every output.

The demo and ``sklearn-depict explain`` print :func:`format_checks`; the HTML
report draws its pass/fail badges from :func:`check_verdicts`. Both read the
``checks`` that :func:`~sklearn_depict.depict_importance` stored in a result's
``diagnostics``, so a check reads the same wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..formatting import fixed
from ..stats.chance import at_or_below_chance

__all__ = ["CheckVerdict", "check_verdicts", "format_checks", "verdict_text", "verdict_word"]

# (key in diagnostics.checks, how people call the check)
_CHECKS = (
    ("effective_generation", "Check 1, effective generation"),
    ("independent_permutation", "Check 2, independent permutation"),
)


class CheckVerdict(NamedTuple):
    """One check: its key, its label, its verdict and the figures behind it."""

    key: str
    label: str
    passed: bool | None
    word: str
    detail: str


def verdict_word(passed: bool | None) -> str:
    """``"pass"``, ``"fail"`` or ``"not run"`` (for None).

    Examples
    --------
    >>> from sklearn_depict.reporting.verdicts import verdict_word
    >>> verdict_word(True), verdict_word(False), verdict_word(None)
    ('pass', 'fail', 'not run')
    """
    if passed is None:
        return "not run"
    return "pass" if passed else "fail"


def verdict_text(passed: bool | None) -> str:
    """The verdict as the terminal prints it: ``"PASS"``, ``"FAIL"`` or ``"not run"``.

    Examples
    --------
    >>> from sklearn_depict.reporting.verdicts import verdict_text
    >>> verdict_text(True), verdict_text(False), verdict_text(None)
    ('PASS', 'FAIL', 'not run')
    """
    word = verdict_word(passed)
    return word if passed is None else word.upper()


def check_verdicts(diagnostics: Mapping[str, Any] | None) -> list[CheckVerdict]:
    """Both checks of a result's ``diagnostics``, with the figures they rest on.

    Parameters
    ----------
    diagnostics : mapping or None
        A result's ``diagnostics`` Bunch; None (no check ran) gives no verdict.

    Returns
    -------
    verdicts : list of CheckVerdict
        ``detail`` names the largest detector AUROC gap (check 1, or the
        score gap without a detector, or a score at or below chance, which
        fails check 1 whatever the gaps) and the smallest own drop and
        largest leak of the independence matrix (check 2); empty when the
        check did not run.

    Examples
    --------
    >>> from sklearn_depict.reporting.verdicts import check_verdicts
    >>> diagnostics = {"checks": {"effective_generation": True,
    ...                           "independent_permutation": None},
    ...                "real_score": 0.91, "generated_score": 0.9, "score_gap": 0.01}
    >>> [(v.label, v.word, v.detail) for v in check_verdicts(diagnostics)]
    [('Check 1, effective generation', 'pass', 'score real vs generated, gap 0.010'),
     ('Check 2, independent permutation', 'not run', '')]
    """
    if diagnostics is None:
        return []
    checks = diagnostics.get("checks") or {}
    verdicts = []
    for key, label in _CHECKS:
        passed = checks.get(key)
        detail = "" if passed is None else _detail(key, diagnostics)
        verdicts.append(CheckVerdict(key, label, passed, verdict_word(passed), detail))
    return verdicts


def _detail(key: str, diagnostics: Mapping[str, Any]) -> str:
    if key == "effective_generation":
        chance = diagnostics.get("chance_score")
        for where in ("generated", "real"):
            score = diagnostics.get(f"{where}_score")
            if at_or_below_chance(score, chance):
                return (f"score on {where} images {fixed(score, 3)}, at or below chance "
                        f"{fixed(chance, 3)}")
        gaps = diagnostics.get("detector_gaps")
        if gaps is not None:
            largest = np.nanmax(np.abs(np.asarray(gaps, dtype=float)))
            return f"detector AUROC real vs generated, largest gap {fixed(largest, 3)}"
        if "score_gap" in diagnostics:
            return f"score real vs generated, gap {fixed(diagnostics['score_gap'], 3)}"
        return ""
    matrix = diagnostics.get("independence")
    if matrix is None:
        return ""
    matrix = np.asarray(matrix, dtype=float)
    off_diagonal = matrix[~np.eye(*matrix.shape, dtype=bool)]
    leak = float(np.nanmax(np.abs(off_diagonal))) if off_diagonal.size else 0.0
    return (f"smallest own drop {fixed(np.min(np.diag(matrix)), 3)}, "
            f"largest leak {fixed(leak, 3)}")


def format_checks(diagnostics: Mapping[str, Any] | None) -> list[str]:
    """The checks as terminal lines: one per check, then each failure indented.

    Parameters
    ----------
    diagnostics : mapping or None
        A result's ``diagnostics``; None gives no line.

    Returns
    -------
    lines : list of str

    Examples
    --------
    >>> from sklearn_depict.reporting.verdicts import format_checks
    >>> diagnostics = {"checks": {"effective_generation": False,
    ...                           "independent_permutation": None},
    ...                "score_gap": 0.25, "failures": ["effective generation: gap 0.250."]}
    >>> print("\\n".join(format_checks(diagnostics)))
    Check 1, effective generation: FAIL (score real vs generated, gap 0.250)
    Check 2, independent permutation: not run
      effective generation: gap 0.250.
    """
    lines = []
    for verdict in check_verdicts(diagnostics):
        detail = f" ({verdict.detail})" if verdict.detail else ""
        lines.append(f"{verdict.label}: {verdict_text(verdict.passed)}{detail}")
    failures = [] if diagnostics is None else diagnostics.get("failures") or []
    return lines + [f"  {message}" for message in failures]
