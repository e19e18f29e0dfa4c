"""The command line's output folders: checked writable before the first image.

A run whose report or images cannot be written loses all it paid for, so
``sklearn-depict explain`` writes (and removes) a file in ``--output-dir`` and
in the cache folder before it generates anything; permissions alone do not
tell a read-only file system.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..cache import SUFFIX as CACHE_SUFFIX
from .loaders import InputError, one_line

__all__ = ["check_output_folders", "check_writable_folder"]


def check_writable_folder(path: Path, option: str, what: str) -> None:
    """Create ``path`` if needed and write a file in it, or say which option to change.

    Parameters
    ----------
    path : Path
    option : str
        The command-line option that named it (``"--output-dir"``).
    what : str
        What is written there, for the message.

    Raises
    ------
    InputError

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import InputError
    >>> from sklearn_depict.cli.output_folders import check_writable_folder
    >>> check_writable_folder(Path(tempfile.mkdtemp()) / "out", "--output-dir", "the report")
    >>> blocker = Path(tempfile.mkdtemp()) / "a-file"
    >>> _ = blocker.write_text("")
    >>> try:
    ...     check_writable_folder(blocker / "out", "--output-dir", "the report")
    ... except InputError as exc:
    ...     print(str(exc)[:38])
    --output-dir cannot be written: a file
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(handle)
        os.remove(name)
    except OSError as exc:
        reason = exc.strerror or one_line(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a file stands where a folder is needed"
        raise InputError(
            f"{option} cannot be written: {reason} ({path}). {what} is written there; "
            f"give {option} a folder you can write to"
        ) from None


def check_output_folders(output_dir: Path, cache: Path | None) -> Path:
    """Check that the report's folder and the image cache can be written.

    Parameters
    ----------
    output_dir : Path
        ``--output-dir``.
    cache : Path or None
        ``--cache``; None puts the cache in ``output_dir / "cache"``.

    Returns
    -------
    cache : Path
        The cache folder.

    Raises
    ------
    InputError
        Naming the option to change. A cache folder that already holds images
        is not written to when it cannot be: its images are used.
    """
    folder = output_dir / "cache" if cache is None else cache
    if cache is not None:  # checked first: a bad --cache leaves no empty report folder
        _check_cache_folder(folder, "--cache")
    check_writable_folder(output_dir, "--output-dir",
                          "The report (and, without --cache, the image cache)")
    if cache is None:
        _check_cache_folder(folder, "--output-dir")
    return folder


def _check_cache_folder(folder: Path, option: str) -> None:
    has_images = folder.is_dir() and next(folder.glob(f"*/*{CACHE_SUFFIX}"), None) is not None
    if not has_images:
        check_writable_folder(folder, option, "The image cache")
