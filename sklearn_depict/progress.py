"""Progress bars and messages that follow scikit-learn's ``verbose`` convention."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

__all__ = ["progress_bar", "say"]


def progress_bar(total: int, desc: str, verbose: int, unit: str = "image") -> tqdm:
    """A tqdm bar over ``total`` items, shown only when ``verbose > 0``.

    It counts in ``unit`` (images by default), so its rate and ETA are in them.
    """
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not verbose,
        leave=verbose > 1,
        dynamic_ncols=True,
    )


def say(message: str, verbose: int) -> None:
    """Write ``message`` to stderr when ``verbose > 0``, without breaking an open bar."""
    if verbose:
        tqdm.write(message, file=sys.stderr)
