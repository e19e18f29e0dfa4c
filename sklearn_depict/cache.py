"""A content-addressed, on-disk cache of generated images."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ._warnings import external_stacklevel

__all__ = ["CacheWarning", "ImageCache", "check_cache", "decode_entry", "encode_entry"]

# An entry: MAGIC, the SHA-256 of the payload, then the payload (an .npy file).
MAGIC = b"DEPICT\x01\n"
SUFFIX = ".entry"
TEMP_PREFIX = ".tmp-"
_DIGEST_SIZE = 32


class CacheWarning(UserWarning):
    """Something went wrong with the image cache; the run goes on without it."""


def encode_entry(image: np.ndarray) -> bytes:
    """Serialise an image with its checksum."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(image), allow_pickle=False)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode_entry(data: bytes) -> np.ndarray:
    """Check and read an entry; ValueError for anything that is not intact."""
    header = len(MAGIC) + _DIGEST_SIZE
    if len(data) < header or not data.startswith(MAGIC):
        raise ValueError("not a sklearn-depict cache entry")
    digest, payload = data[len(MAGIC) : header], data[header:]
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError("checksum mismatch: the entry is corrupted or truncated")
    try:
        return np.load(io.BytesIO(payload), allow_pickle=False)
    except Exception as exc:  # numpy raises several types for malformed payloads
        raise ValueError(f"malformed image payload: {exc}") from None


class ImageCache:
    """Store generated images on disk, keyed by (fingerprint, caption, seed).

    Each entry is one file: a short header with the SHA-256 checksum of its
    payload, then the image in ``.npy`` format, read with
    ``allow_pickle=False``, so loading never executes code. A corrupted,
    truncated or foreign file is reported with a warning, removed and
    regenerated, never used. Each entry is written to a temporary file in the
    same folder and renamed into place, so a reader never sees a partial entry,
    a killed run leaves only complete entries behind, and several processes
    can fill one directory at once (they write identical content for the same
    key). A float32 image is stored exactly, so a warm run computes the same
    numbers as the cold run that filled the cache.

    If a write fails (a full disk, a read-only folder), the cache warns once,
    naming the cause, and stops writing; the run goes on without caching. A
    read-only cache still serves its images, ``max_bytes`` or not.

    Parameters
    ----------
    directory : str or path-like
        Where entries live. Created when missing; a path that is a file raises
        a ValueError.
    max_bytes : int, default=None
        Size limit. When the entries exceed it, the least recently used ones are
        removed. None means no limit. The sizes and use times of the entries
        are read from the directory once per process and then kept up to date
        in memory (and re-read after as many writes as there are entries, to
        see what other processes wrote), so a write at the limit costs O(1)
        amortised, not a scan of the directory.

    Attributes
    ----------
    hits : int
        Lookups answered from disk.
    misses : int
        Lookups that found nothing usable.
    generated : int
        Entries written after generation.
    write_failed : bool
        True once a write failed and writing was switched off.

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
        _check_directory(self.directory)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.generated = 0
        self.write_failed = False
        # Entries' use times are only refreshed while that works.
        self._touch_failed = False
        # Each warning is given once per cache object; a worker's copy
        # collects them instead, for the run to give once (see _worker_copy).
        self._warned: set[str] = set()
        self._deferred: list[str] | None = None

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
        return self.directory / key[:2] / f"{key}{SUFFIX}"

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
        except OSError as exc:  # an entry this user may not read, say
            self._warn(
                f"Ignoring unreadable cache entry {path} ({exc.strerror or exc}); it "
                "will be regenerated."
            )
            self.misses += 1
            return None
        try:
            image = decode_entry(data)
        except ValueError as exc:
            self._warn(f"Ignoring unreadable cache entry {path} ({exc}); it will be regenerated.")
            _remove(path)
            if self.max_bytes is not None:
                _index_of(self.directory).discard(path)
            self.misses += 1
            return None
        if self.max_bytes is not None:
            self._touch(path)
            _index_of(self.directory).touch(path)
        self.hits += 1
        return image

    def _touch(self, path: Path) -> None:
        """Mark an entry as used, for max_bytes; a cache that forbids it is read."""
        if self.write_failed or self._touch_failed:
            return
        try:
            os.utime(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            # Read-only: the hit is served all the same.
            if exc.errno == errno.EROFS:
                self._stop_writing(exc)
            else:
                self._touch_failed = True
                self._warn(
                    f"Could not update the use times of the entries in the image cache in "
                    f"{self.directory} ({_cause(exc)}); its images are used, but max_bytes "
                    "removes entries in the order this process read them."
                )

    def put(self, key: str, image: np.ndarray) -> None:
        """Store an image atomically.

        A failed write (full disk, permissions) warns once and switches writing
        off for this cache object instead of failing the run.
        """
        if self.write_failed:
            return
        path = self._path(key)
        data = encode_entry(image)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=SUFFIX)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                _remove(Path(tmp))
                raise
        except OSError as exc:
            self._stop_writing(exc)
            return
        self.generated += 1
        if self.max_bytes is not None:
            _index_of(self.directory).add(path, len(data), self.max_bytes)

    def remove_stale_temporary_files(self, older_than: float = 600.0) -> int:
        """Delete temporary files left by writers that were killed mid-write.

        Only files older than ``older_than`` seconds are removed, so that a
        live writer in another process is never disturbed. Returns how many
        were removed.
        """
        if not self.directory.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in self.directory.glob(f"??/{TEMP_PREFIX}*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                # Gone already, or a read-only cache: a leftover file costs
                # nothing but its space, so the run goes on.
                pass
        return removed

    def _stop_writing(self, exc: OSError) -> None:
        """Switch writing off after a failed write, with one warning naming the cause."""
        self.write_failed = True
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            advice = "Free some space or pass another cache directory"
        else:
            advice = "Pass a writable cache directory"
        self._warn(
            f"Could not write to the image cache in {self.directory} ({_cause(exc)}); "
            "going on without caching: the images already in it are used, new ones "
            f"are not stored. {advice} to keep generated images."
        )

    def _warn(self, message: str) -> None:
        if self._deferred is not None:
            self._deferred.append(message)
        elif message not in self._warned:
            self._warned.add(message)
            warnings.warn(message, CacheWarning, stacklevel=external_stacklevel())

    def _worker_copy(self) -> ImageCache:
        """A fresh copy for one chunk of a run: its own counters, warnings held back."""
        copy = ImageCache(self.directory, max_bytes=self.max_bytes)
        copy.write_failed = self.write_failed
        copy._touch_failed = self._touch_failed
        copy._deferred = []
        return copy

    def _entries(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [
            p for p in self.directory.glob(f"??/*{SUFFIX}") if not p.name.startswith(TEMP_PREFIX)
        ]

    def __len__(self) -> int:
        return len(self._entries())

    @property
    def nbytes(self) -> int:
        """Total size of the entries on disk, in bytes."""
        return sum(_size(p) for p in self._entries())

    def clear(self) -> None:
        """Remove every entry."""
        for path in self._entries():
            path.unlink(missing_ok=True)  # a read-only cache says so here
        _INDEXES.pop(_index_key(self.directory), None)

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


class _SizeIndex:
    """The entries of one cache directory in least-recently-used order, with sizes.

    Built from one scan of the directory (sorted by mtime, which ``get``
    refreshes) and then kept up to date by this process's reads and writes, so
    eviction pops the oldest entries in O(1) each. Entries that other
    processes add are picked up by a rescan after as many writes as the index
    holds entries (O(1) amortised per write); entries they remove are skipped
    when evicted (unlinking a missing file is a no-op). The directory stays the
    only truth: a crash loses nothing but this in-memory copy.
    """

    def __init__(self, directory: Path):
        self.directory = directory
        self.lock = threading.Lock()
        self.entries: OrderedDict[Path, int] = OrderedDict()
        self.nbytes = 0
        self.writes_since_scan = 0
        self._scan()

    def _scan(self) -> None:
        found = []
        if self.directory.is_dir():
            for path in self.directory.glob(f"??/*{SUFFIX}"):
                if path.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                found.append((stat.st_mtime_ns, path, stat.st_size))
        found.sort(key=lambda item: item[0])
        self.entries = OrderedDict((path, size) for _, path, size in found)
        self.nbytes = sum(self.entries.values())
        self.writes_since_scan = 0

    def add(self, path: Path, size: int, max_bytes: int) -> None:
        with self.lock:
            if self.writes_since_scan > max(1024, len(self.entries)):
                self._scan()
            self.nbytes += size - self.entries.pop(path, 0)
            self.entries[path] = size
            self.writes_since_scan += 1
            while self.nbytes > max_bytes and self.entries:
                oldest, oldest_size = self.entries.popitem(last=False)
                _remove(oldest)
                self.nbytes -= oldest_size

    def touch(self, path: Path) -> None:
        with self.lock:
            if path in self.entries:
                self.entries.move_to_end(path)

    def discard(self, path: Path) -> None:
        with self.lock:
            self.nbytes -= self.entries.pop(path, 0)


# One index per cache directory and process: ImageCache objects are cheap,
# short-lived copies (one per chunk of a run), so the index cannot live on them.
_INDEXES: dict[tuple[str, int], _SizeIndex] = {}
_INDEXES_LOCK = threading.Lock()


def _index_key(directory: Path) -> tuple[str, int]:
    return (str(Path(directory).resolve()), os.getpid())


def _index_of(directory: Path) -> _SizeIndex:
    key = _index_key(directory)
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = _SizeIndex(Path(directory))
        return index


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _remove(path: Path) -> None:
    """Delete a file if possible; a read-only cache keeps it, and the run goes on."""
    try:
        path.unlink()
    except OSError:
        pass


def _cause(exc: OSError) -> str:
    """What went wrong, in words (the error's own text names a temporary file)."""
    causes = {
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
    }
    return causes.get(exc.errno, exc.strerror or str(exc))


def _check_directory(directory: Path) -> None:
    """A cache path that is a file (or lies inside one) is refused at once."""
    for path in (directory, *directory.parents):
        try:
            is_directory = stat.S_ISDIR(os.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return  # cannot tell; the first read or write says more
        if not is_directory:
            where = "is a file" if path == directory else f"lies inside {path}, a file"
            raise ValueError(
                f"The image cache path {directory} {where}, not a directory. Pass the "
                "path of a directory (it is created when missing) as cache."
            )
        return
