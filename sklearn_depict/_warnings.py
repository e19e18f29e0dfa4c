"""Where the package's warnings point: the user's line, not ours.

A leaf: it imports nothing from the package. Every ``warnings.warn`` in the
package passes ``stacklevel=external_stacklevel()``, so that the warning names
the line that called into the package (a script, a notebook cell, a test),
however many of the package's frames lie in between. Counting the frames by
hand (``stacklevel=6``) breaks whenever a function is split or moved.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["external_stacklevel"]

_PACKAGE = str(Path(__file__).resolve().parent)
# Frames the package is called through that are not the user's: scikit-learn's
# parameter validation wraps the public functions, its set_output wrapper the
# transformers' transform, and joblib runs the engine's chunks.
_PASS_THROUGH = (
    "sklearn.utils._param_validation", "sklearn.utils._set_output",
    "sklearn.utils.parallel", "joblib",
)  # fmt: skip


def _in_package(frame) -> bool:
    return str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE)


def _passes_through(frame) -> bool:
    name = frame.f_globals.get("__name__", "")
    return any(name == p or name.startswith(p + ".") for p in _PASS_THROUGH)


def external_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the caller of the package.

    Called by the function that issues the warning. Walks outward from it to
    the outermost frame of this package, then past the wrappers it was called
    through (scikit-learn's parameter validation and ``set_output``, joblib),
    and returns the level of the frame after those: the user's call.

    Returns
    -------
    stacklevel : int
        For :func:`warnings.warn`; 1 means the function calling ``warn``.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_depict._warnings import external_stacklevel
    >>> def outside():  # not in the package: the warning points here
    ...     with warnings.catch_warnings(record=True) as caught:
    ...         warnings.simplefilter("always")
    ...         warnings.warn("hello", stacklevel=external_stacklevel())
    ...     return caught[0].lineno
    >>> outside() > 0
    True
    """
    frames = []
    frame = sys._getframe(1)  # the function that warns
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    outermost = max((k for k, f in enumerate(frames) if _in_package(f)), default=-1)
    level = outermost + 1
    while level < len(frames) - 1 and _passes_through(frames[level]):
        level += 1
    # frames[0] is stacklevel 1.
    return level + 1
