"""ImageCache: content addressing, exact round trips, no pickle, LRU, counters."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import time

import numpy as np
import pytest

from sklearn_depict import CaptionToImage, ImageCache, ShapesGenerator, depict_importance
from sklearn_depict._engine.generate import generate_pairs
from sklearn_depict.cache import MAGIC, CacheWarning, decode_entry


def _image(value=0.25, shape=(4, 4, 3)):
    return np.full(shape, value, dtype=np.float32)


def test_keys_depend_on_fingerprint_caption_and_seed():
    keys = {
        ImageCache.key("g1", "red circle", 0),
        ImageCache.key("g2", "red circle", 0),
        ImageCache.key("g1", "red square", 0),
        ImageCache.key("g1", "red circle", 1),
    }
    assert len(keys) == 4
    assert ImageCache.key("g1", "red circle", 0) == ImageCache.key("g1", "red circle", 0)


def test_round_trip_is_exact_and_counted(tmp_path):
    cache = ImageCache(tmp_path)
    key = cache.key("g", "c", 1)
    image = np.random.RandomState(0).uniform(size=(8, 8, 3)).astype(np.float32)
    assert cache.get(key) is None
    cache.put(key, image)
    loaded = cache.get(key)
    np.testing.assert_array_equal(loaded, image)
    assert loaded.dtype == np.float32
    assert cache.stats == {"hits": 1, "misses": 1, "generated": 1}
    assert len(cache) == 1 and key in cache
    assert cache.nbytes > image.nbytes


def test_writes_leave_no_temporary_files(tmp_path):
    cache = ImageCache(tmp_path)
    for seed in range(5):
        cache.put(cache.key("g", "c", seed), _image())
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".tmp")]
    assert leftovers == []


class Boom:
    """Unpickling this runs a shell command: it must never happen."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, ("touch " + str(self.target),))


@pytest.mark.parametrize("with_valid_checksum", [False, True])
def test_pickled_entry_is_never_unpickled(tmp_path, with_valid_checksum):
    """A malicious pickle planted under a valid key is rejected, not executed."""
    cache = ImageCache(tmp_path / "cache")
    key = cache.key("g", "c", 0)
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    buffer = io.BytesIO()
    np.save(buffer, np.array([Boom(tmp_path / "pwned")], dtype=object), allow_pickle=True)
    payload = buffer.getvalue()
    if with_valid_checksum:
        payload = MAGIC + hashlib.sha256(payload).digest() + payload
    path.write_bytes(payload)
    with pytest.warns(CacheWarning, match="unreadable cache entry"):
        assert cache.get(key) is None
    assert not (tmp_path / "pwned").exists()
    assert not path.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_entry_is_reported_and_regenerated(tmp_path, damage):
    generator = ShapesGenerator()
    cache = ImageCache(tmp_path)
    images, _ = generate_pairs(generator, ["red circle"], [3], cache=cache,
                               fingerprint=generator.fingerprint)
    (entry,) = cache._entries()
    data = bytearray(entry.read_bytes())
    if damage == "truncate":
        data = data[:-50]
    else:
        data[-7] ^= 0xFF  # one bit-flipped pixel byte
    entry.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        again, stats = generate_pairs(generator, ["red circle"], [3], cache=cache,
                                      fingerprint=generator.fingerprint)
    assert (stats["hits"], stats["generated"], stats["replaced"]) == (0, 1, 0)
    np.testing.assert_array_equal(again, images)
    assert decode_entry(entry.read_bytes()).shape == (32, 32, 3)


def test_disk_full_degrades_to_no_caching(tmp_path, monkeypatch, bottleneck, shapes_test,
                                          bottleneck_labels):
    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full_disk)
        with pytest.warns(CacheWarning, match="going on without caching"):
            result = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                       generator=CaptionToImage(ShapesGenerator(),
                                                                cache=tmp_path),
                                       n_repeats=2, random_state=0)
    reference = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                  generator=ShapesGenerator(), n_repeats=2, random_state=0)
    np.testing.assert_array_equal(result.importances, reference.importances)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_stale_temporary_files_are_removed(tmp_path):
    cache = ImageCache(tmp_path)
    cache.put(cache.key("g", "c", 0), _image())
    stale = tmp_path / "ab" / ".tmp-killed.entry"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"partial")
    fresh = tmp_path / "ab" / ".tmp-live.entry"
    fresh.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    assert cache.remove_stale_temporary_files() == 1
    assert not stale.exists() and fresh.exists() and len(cache) == 1


def test_entries_of_another_fingerprint_are_not_served(tmp_path):
    small, large = ShapesGenerator(32), ShapesGenerator(48)
    assert small.fingerprint != large.fingerprint
    transformer = CaptionToImage(small, cache=tmp_path)
    table = {"red circle": [1, 0]}
    import pandas as pd

    first = transformer.transform(pd.DataFrame(table))
    second = CaptionToImage(large, cache=tmp_path).transform(pd.DataFrame(table))
    assert first.shape[1] == 32 and second.shape[1] == 48


def test_max_bytes_evicts_least_recently_used(tmp_path):
    probe = ImageCache(tmp_path / "probe")
    probe.put(probe.key("g", "c", 0), _image())
    entry_size = probe.nbytes
    cache = ImageCache(tmp_path / "lru", max_bytes=3 * entry_size)
    keys = [cache.key("g", "c", seed) for seed in range(4)]
    for key in keys[:3]:
        cache.put(key, _image())
        time.sleep(0.01)
    assert cache.get(keys[0]) is not None  # now the most recently used
    time.sleep(0.01)
    cache.put(keys[3], _image())
    assert keys[0] in cache and keys[3] in cache
    assert keys[1] not in cache
    assert cache.nbytes <= 3 * entry_size


def test_invalid_max_bytes_and_keys(tmp_path):
    with pytest.raises(ValueError, match="max_bytes"):
        ImageCache(tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="Not a cache key"):
        ImageCache(tmp_path).get("../../etc/passwd")


def test_cache_pickles_for_workers(tmp_path):
    cache = ImageCache(tmp_path, max_bytes=10**6)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.directory == cache.directory and clone.max_bytes == cache.max_bytes


def test_clear_and_reset(tmp_path):
    cache = ImageCache(tmp_path)
    cache.put(cache.key("g", "c", 0), _image())
    cache.clear()
    cache.reset_stats()
    assert len(cache) == 0 and cache.stats == {"hits": 0, "misses": 0, "generated": 0}
