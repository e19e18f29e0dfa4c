"""Numbers and labels as people read them: in tables, messages and plots."""

from __future__ import annotations

import math
import textwrap
from typing import Any

__all__ = [
    "escape_mathtext",
    "fixed",
    "format_seconds",
    "plot_label",
    "pvalue_text",
    "quoted",
    "wrap_text",
]


def fixed(value: Any, digits: int = 4) -> str:
    """Fixed-point text of a number, never ``-0.0000``.

    A tiny negative importance that rounds to zero is shown as ``0.0000``:
    the sign of a value that is not there reads as a finding.

    Parameters
    ----------
    value : float
    digits : int, default=4

    Returns
    -------
    text : str
        ``"n/a"`` for NaN or infinite values.

    Examples
    --------
    >>> from sklearn_depict.formatting import fixed
    >>> fixed(-0.00001), fixed(-0.5, 2), fixed(float("nan"))
    ('0.0000', '-0.50', 'n/a')
    """
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    text = f"{number:.{digits}f}"
    if text.startswith("-") and float(text) == 0.0:
        text = text[1:]
    return text


def pvalue_text(value: Any, *, prefix: bool = False) -> str:
    """A p-value as every table, report and plot of the package shows it.

    Three decimals, and ``"< 0.001"`` below that: the bootstrap's smallest
    p-value is ``1 / (1 + n_bootstraps)``, so more digits would only show
    the number of resamples. One formatter keeps the report's table and the
    plot's labels in step.

    Parameters
    ----------
    value : float
    prefix : bool, default=False
        Start with ``"p = "`` (or ``"p "`` before ``"< 0.001"``), as a label.

    Returns
    -------
    text : str
        ``"n/a"`` for NaN or infinite values.

    Examples
    --------
    >>> from sklearn_depict.formatting import pvalue_text
    >>> pvalue_text(0.000999), pvalue_text(0.0312), pvalue_text(1.0)
    ('< 0.001', '0.031', '1.000')
    >>> pvalue_text(0.0004, prefix=True), pvalue_text(0.25, prefix=True)
    ('p < 0.001', 'p = 0.250')
    """
    number = float(value)
    if not math.isfinite(number):
        text = "n/a"
    elif number < 0.001:
        text = "< 0.001"
    else:
        text = f"{number:.3f}"
    if not prefix:
        return text
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def quoted(name: Any) -> str:
    """A name set off in prose with typographic quotes, not Python's repr.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.formatting import quoted
    >>> quoted(np.str_("red circle"))
    '“red circle”'
    """
    return f"“{name}”"


def wrap_text(text: str, width: int, max_lines: int) -> str:
    """``text`` wrapped to ``width`` characters, cut after ``max_lines`` lines.

    A cut ends in an ellipsis. A single word longer than ``width`` is broken.

    Examples
    --------
    >>> from sklearn_depict.formatting import wrap_text
    >>> print(wrap_text("a fairly long concept name", 10, 2))
    a fairly
    long…
    """
    lines = textwrap.wrap(text, width=width) or [text]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last[: max(width - 1, 1)].rstrip() if len(last) >= width else last) + "…"
    return "\n".join(lines)


def plot_label(name: Any, width: int = 28, max_lines: int = 2) -> str:
    """A concept name fit for a matplotlib tick label.

    Long names are wrapped and cut (a 60-character column name would squeeze
    the plot to nothing), and ``$`` is escaped so that matplotlib draws it
    rather than reading the text between two of them as mathtext.

    Parameters
    ----------
    name : object
        The concept name.
    width : int, default=28
        Characters per line.
    max_lines : int, default=2
        Lines before the name is cut with an ellipsis.

    Returns
    -------
    label : str

    Examples
    --------
    >>> from sklearn_depict.formatting import plot_label
    >>> plot_label("cost in $ per $ spent")
    'cost in \\\\$ per \\\\$ spent'
    """
    return escape_mathtext(wrap_text(str(name), width, max_lines))


def escape_mathtext(text: str) -> str:
    """Escape ``$`` so that matplotlib shows it literally."""
    return text.replace("$", r"\$")


def format_seconds(seconds: float) -> str:
    """A duration for people: ``"0.4 s"``, ``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``.

    Examples
    --------
    >>> format_seconds(0.42), format_seconds(42), format_seconds(185), format_seconds(7620)
    ('0.4 s', '42 s', '3 min 05 s', '2 h 07 min')
    """
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
