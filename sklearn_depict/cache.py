"""A content-addressed, on-disk cache of generated images."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageCache", "check_cache"]


class ImageCache:
    """Store generated images on disk, keyed by (fingerprint, caption, seed).

    Entries are ``.npy`` files read with ``allow_pickle=False``: loading never
    executes code. Each entry is written to a temporary file in the same folder
    and renamed into place, so a reader never sees a partial entry, and several
    processes can fill one directory at once (they write identical content for
    the same key). A float32 image is stored exactly, so a warm run computes the
    same numbers as the cold run that filled the cache.

    Parameters
    ----------
    directory : str or path-like
        Where entries live. Created when missing.
    max_bytes : int, default=None
        Size limit. When the entries exceed it, the least recently used ones are
        removed. None means no limit.

    Attributes
    ----------
    hits : int
        Lookups answered from disk.
    misses : int
        Lookups that found nothing usable.
    generated : int
        Entries written after generation.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_depict import ImageCache
    >>> cache = ImageCache(tempfile.mkdtemp())
    >>> key = cache.key("my-generator-v1", "red circle", 7)
    >>> cache.get(key) is None
    True
    >>> cache.put(key, np.zeros((4, 4, 3), dtype=np.float32))
    >>> cache.get(key).shape, cache.hits, cache.misses
    ((4, 4, 3), 1, 1)
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int | None = None):
        if max_bytes is not None and (not isinstance(max_bytes, int) or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes!r}.")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.generated = 0
        self._nbytes: int | None = None

    def __repr__(self) -> str:
        return f"ImageCache({str(self.directory)!r}, max_bytes={self.max_bytes!r})"

    @staticmethod
    def key(fingerprint: str, caption: str, seed: int) -> str:
        """The key of a (generator fingerprint, caption, seed) triple."""
        payload = "\x1f".join([fingerprint, caption, str(int(seed))])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"Not a cache key: {key!r}.")
        return self.directory / key[:2] / f"{key}.npy"

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> np.ndarray | None:
        """Return the stored image, or None (and count a miss) if there is none.

        An unreadable entry is reported with a warning, removed and treated as a
        miss, so that it gets regenerated rather than used.
        """
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        try:
            image = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # any decoding failure means a bad entry
            warnings.warn(
                f"Ignoring unreadable cache entry {path} ({exc}); it will be "
                "regenerated.",
                RuntimeWarning,
                stacklevel=2,
            )
            _remove(path)
            self._nbytes = None
            self.misses += 1
            return None
        if self.max_bytes is not None:
            _touch(path)
        self.hits += 1
        return image

    def put(self, key: str, image: np.ndarray) -> None:
        """Store an image atomically."""
        path = self._path(key)
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(image), allow_pickle=False)
        data = buffer.getvalue()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            _remove(Path(tmp))
            raise
        self.generated += 1
        if self.max_bytes is not None:
            self._nbytes = (self.nbytes if self._nbytes is None else self._nbytes) + len(data)
            if self._nbytes > self.max_bytes:
                self._evict()

    def _entries(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob("??/*.npy") if not p.name.startswith(".")]

    def __len__(self) -> int:
        return len(self._entries())

    @property
    def nbytes(self) -> int:
        """Total size of the entries on disk, in bytes."""
        return sum(_size(p) for p in self._entries())

    def _evict(self) -> None:
        entries = sorted(self._entries(), key=_mtime)
        total = sum(_size(p) for p in entries)
        for path in entries:
            if total <= self.max_bytes:
                break
            total -= _size(path)
            _remove(path)
        self._nbytes = total

    def clear(self) -> None:
        """Remove every entry."""
        for path in self._entries():
            _remove(path)
        self._nbytes = 0

    def reset_stats(self) -> None:
        """Set the hit, miss and generated counters back to 0."""
        self.hits = self.misses = self.generated = 0

    @property
    def stats(self) -> dict[str, int]:
        """The counters, as a dict."""
        return {"hits": self.hits, "misses": self.misses, "generated": self.generated}


def check_cache(cache: Any, *, caller: str = "depict_importance") -> ImageCache | None:
    """Turn the ``cache`` parameter into an :class:`ImageCache` or None."""
    if cache is None or isinstance(cache, ImageCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return ImageCache(cache)
    raise TypeError(
        f"The 'cache' parameter of {caller} must be None, a directory path or an "
        f"ImageCache. Got {cache!r} instead."
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
