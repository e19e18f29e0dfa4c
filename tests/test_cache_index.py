"""An ImageCache at its size limit evicts from an in-memory index, not a rescan."""

from __future__ import annotations

import numpy as np

from sklearn_depict import ImageCache
from sklearn_depict import cache as cache_module


def _tiny(k=0):
    return np.full((2, 2, 1), k, dtype=np.float32)


def _entry_size(tmp_path):
    probe = ImageCache(tmp_path / "probe")
    probe.put(probe.key("g", "c", 0), _tiny())
    return probe.nbytes


def _count_scans(monkeypatch):
    calls = []
    original = cache_module._SizeIndex._scan

    def counting(self):
        calls.append(self.directory)
        return original(self)

    monkeypatch.setattr(cache_module._SizeIndex, "_scan", counting)
    return calls


def test_writes_at_the_limit_scan_the_directory_once(tmp_path, monkeypatch):
    size = _entry_size(tmp_path)
    scans = _count_scans(monkeypatch)
    directory = tmp_path / "cache"
    keys = []
    for k in range(40):
        # A fresh object per write, as the engine makes one per chunk.
        cache = ImageCache(directory, max_bytes=5 * size)
        keys.append(cache.key("g", "c", k))
        cache.put(keys[-1], _tiny(k))
    assert len(scans) == 1
    assert cache.nbytes <= 5 * size
    assert [key in cache for key in keys] == [False] * 35 + [True] * 5


def test_reads_refresh_the_order(tmp_path):
    size = _entry_size(tmp_path)
    cache = ImageCache(tmp_path / "lru", max_bytes=3 * size)
    keys = [cache.key("g", "c", k) for k in range(6)]
    for key in keys[:3]:
        cache.put(key, _tiny())
    assert cache.get(keys[0]) is not None
    for key in keys[3:5]:
        cache.put(key, _tiny())
    assert keys[0] in cache and keys[4] in cache
    assert keys[1] not in cache and keys[2] not in cache


def test_entries_removed_or_added_by_others_are_handled(tmp_path):
    size = _entry_size(tmp_path)
    directory = tmp_path / "shared"
    limited = ImageCache(directory, max_bytes=10 * size)
    for k in range(10):
        limited.put(limited.key("a", "c", k), _tiny())
    # Another process removes some entries and adds many more, unlimited.
    for path in limited._entries()[:4]:
        path.unlink()
    other = ImageCache(directory)
    for k in range(30):
        other.put(other.key("b", "c", k), _tiny())
    assert limited.nbytes == 36 * size
    # The index sees them after a rescan, due after as many writes as it holds
    # entries (at least 1024), and evicts down to the limit.
    for k in range(1100):
        limited.put(limited.key("c", "c", k), _tiny())
    assert limited.nbytes <= 10 * size


def test_clear_resets_the_index(tmp_path):
    size = _entry_size(tmp_path)
    cache = ImageCache(tmp_path / "c", max_bytes=2 * size)
    cache.put(cache.key("g", "c", 0), _tiny())
    cache.clear()
    for k in range(2):
        cache.put(cache.key("g", "c", k + 1), _tiny())
    assert len(cache) == 2
