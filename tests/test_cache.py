"""ImageCache: content addressing, exact round trips, no pickle, LRU, counters."""

from __future__ import annotations

import os
import pickle
import time

import numpy as np
import pytest

from sklearn_depict import CaptionToImage, ImageCache, ShapesGenerator
from sklearn_depict.generation import generate_pairs


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


def test_pickled_entry_is_never_unpickled(tmp_path):
    """A malicious pickle planted under a valid key is rejected, not executed."""

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    cache = ImageCache(tmp_path)
    key = cache.key("g", "c", 0)
    path = tmp_path / key[:2] / f"{key}.npy"
    path.parent.mkdir(parents=True)
    np.save(path, np.array([Boom()], dtype=object), allow_pickle=True)
    with pytest.warns(RuntimeWarning, match="unreadable cache entry"):
        assert cache.get(key) is None
    assert not (tmp_path / "pwned").exists()
    assert not path.exists()


def test_truncated_entry_is_reported_and_regenerated(tmp_path):
    generator = ShapesGenerator()
    cache = ImageCache(tmp_path)
    images, _ = generate_pairs(generator, ["red circle"], [3], cache=cache,
                               fingerprint=generator.fingerprint)
    (entry,) = list(tmp_path.glob("??/*.npy"))
    entry.write_bytes(entry.read_bytes()[:50])
    with pytest.warns(RuntimeWarning, match="regenerated"):
        again, stats = generate_pairs(generator, ["red circle"], [3], cache=cache,
                                      fingerprint=generator.fingerprint)
    assert stats == {"hits": 0, "generated": 1}
    np.testing.assert_array_equal(again, images)


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
