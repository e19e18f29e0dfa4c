"""The cache survives SIGKILL, KeyboardInterrupt and concurrent writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from conftest import CountingGenerator
from sklearn_depict import CaptionToImage, ImageCache, ShapesGenerator, depict_importance
from sklearn_depict.cache import decode_entry

WORKER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from sklearn_depict import (CaptionToImage, ShapesGenerator, depict_importance,
                                make_shapes_dataset)

    class RedScore:
        classes_ = np.array([0, 1])
        def predict_proba(self, images):
            p = 1 / (1 + np.exp(-(images[..., 0].mean(axis=(1, 2)) * 40 - 1)))
            return np.column_stack([1 - p, p])

    class Slow:
        inner = ShapesGenerator()
        fingerprint = inner.fingerprint
        def generate(self, captions, seeds):
            time.sleep(float(sys.argv[2]))
            return self.inner.generate(captions, seeds)

    data = make_shapes_dataset(80, random_state=5)
    y = data.concept_table["red circle"].to_numpy()
    result = depict_importance(RedScore(), data.concept_table, y,
                               generator=CaptionToImage(Slow(), cache=sys.argv[1],
                                                        batch_size=8),
                               n_repeats=3, random_state=0, scoring="roc_auc")
    np.save(sys.argv[3], result.importances)
    """
)


class RedScore:
    classes_ = np.array([0, 1])

    def predict_proba(self, images):
        p = 1 / (1 + np.exp(-(images[..., 0].mean(axis=(1, 2)) * 40 - 1)))
        return np.column_stack([1 - p, p])


def _run_inline(cache, generator):
    from sklearn_depict import make_shapes_dataset

    data = make_shapes_dataset(80, random_state=5)
    y = data.concept_table["red circle"].to_numpy()
    return depict_importance(RedScore(), data.concept_table, y,
                             generator=CaptionToImage(generator, cache=cache, batch_size=8),
                             n_repeats=3, random_state=0, scoring="roc_auc")


def _all_entries_intact(cache):
    entries = cache._entries()
    for path in entries:
        decode_entry(path.read_bytes())
    return len(entries)


def test_sigkill_mid_generation_then_resume(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    cache_dir = tmp_path / "cache"
    process = subprocess.Popen(
        [sys.executable, str(script), str(cache_dir), "0.05", str(tmp_path / "out.npy")]
    )
    cache = ImageCache(cache_dir)
    deadline = time.time() + 120
    while len(cache) < 24 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the worker finished before the kill"
    survivors = _all_entries_intact(cache)
    assert survivors >= 24

    resumed_generator = CountingGenerator()
    resumed = _run_inline(cache, resumed_generator)
    assert resumed.n_images_cached == survivors
    assert resumed_generator.n_images == resumed.n_images_distinct - survivors
    uninterrupted = _run_inline(None, ShapesGenerator())
    np.testing.assert_array_equal(resumed.importances, uninterrupted.importances)
    assert _all_entries_intact(cache) == resumed.n_images_distinct


def test_keyboard_interrupt_leaves_the_cache_consistent(tmp_path):
    class Interrupted(CountingGenerator):
        def generate(self, captions, seeds):
            if self.n_calls == 2:
                raise KeyboardInterrupt
            return super().generate(captions, seeds)

    cache = ImageCache(tmp_path)
    generator = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        _run_inline(cache, generator)
    assert _all_entries_intact(cache) == generator.n_images == 16
    assert not list(tmp_path.rglob(".tmp-*"))
    resumed = CountingGenerator()
    result = _run_inline(cache, resumed)
    assert resumed.n_images == result.n_images_distinct - 16


CONCURRENT = textwrap.dedent(
    """
    import sys
    import pandas as pd
    from sklearn_depict import CaptionToImage, ShapesGenerator
    start, stop = int(sys.argv[2]), int(sys.argv[3])
    rows = range(start, stop)
    table = pd.DataFrame({"red circle": [i % 2 for i in rows],
                          "blue square": [(i // 2) % 2 for i in rows]}, index=list(rows))
    CaptionToImage(ShapesGenerator(), cache=sys.argv[1], batch_size=5).transform(table)
    """
)


def test_two_processes_fill_one_cache_with_overlapping_keys(tmp_path):
    script = tmp_path / "fill.py"
    script.write_text(CONCURRENT)
    cache_dir = tmp_path / "cache"
    processes = [
        subprocess.Popen([sys.executable, str(script), str(cache_dir), str(a), str(b)])
        for a, b in [(0, 300), (100, 400)]
    ]
    for process in processes:
        assert process.wait(timeout=180) == 0
    cache = ImageCache(cache_dir)
    assert _all_entries_intact(cache) == 400
    rows = range(400)
    table = pd.DataFrame({"red circle": [i % 2 for i in rows],
                          "blue square": [(i // 2) % 2 for i in rows]})
    counting = CountingGenerator()
    cached = CaptionToImage(counting, cache=cache).transform(table)
    assert counting.n_images == 0
    np.testing.assert_array_equal(cached, CaptionToImage(ShapesGenerator()).transform(table))
    assert not [p for p in cache_dir.rglob(".tmp-*")]
    assert os.path.isdir(cache_dir)
