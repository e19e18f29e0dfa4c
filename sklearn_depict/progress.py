"""Progress bars that follow scikit-learn's ``verbose`` convention."""

from __future__ import annotations

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(total: int, desc: str, verbose: int, unit: str = "img") -> tqdm:
    """A tqdm bar over ``total`` items, shown only when ``verbose > 0``."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not verbose,
        leave=verbose > 1,
        dynamic_ncols=True,
    )
