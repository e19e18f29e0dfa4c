"""Faults at the cache's seams: wrong-shaped images, read-only caches, a cache path
that is a file. Nothing paid for is lost, nothing wrong is stored, each warning is
given once."""

from __future__ import annotations

import errno
import os
import tempfile
import time
import warnings
from contextlib import contextmanager

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import (
    CaptionToImage,
    FlattenImages,
    ImageCache,
    ShapesGenerator,
    depict_importance,
    make_shapes_dataset,
)
from sklearn_depict._engine.execute import execute
from sklearn_depict._engine.generate import generate_pairs
from sklearn_depict.cache import SUFFIX, CacheWarning, decode_entry, encode_entry
from sklearn_depict.cli.main import main


class SeesShapes:
    """Scores redness at any image size, and records the shapes it was shown."""

    classes_ = np.array([0, 1])

    def __init__(self):
        self.shapes = set()

    def predict_proba(self, images):
        self.shapes.add(images.shape[1:])
        p = 1 / (1 + np.exp(-(images[..., 0].mean(axis=(1, 2)) * 40 - 1)))
        return np.column_stack([1 - p, p])


class ShrinksOnce(CountingGenerator):
    """Returns 16x16 images on one call, 32x32 on every other."""

    def __init__(self, bad_call):
        super().__init__()
        self.bad_call = bad_call

    def generate(self, captions, seeds):
        images = super().generate(captions, seeds)
        if self.n_calls == self.bad_call:
            return np.ascontiguousarray(images[:, ::2, ::2])
        return images


DATA = make_shapes_dataset(40, random_state=5)
Y = DATA.concept_table["red circle"].to_numpy()


def _run(cache, generator, estimator=None):
    return depict_importance(
        SeesShapes() if estimator is None else estimator, DATA.concept_table, Y,
        generator=CaptionToImage(generator, cache=cache, batch_size=8),
        n_repeats=2, random_state=0, scoring="roc_auc",
    )  # fmt: skip


def _entry_shapes(directory):
    cache = ImageCache(directory)
    return {decode_entry(path.read_bytes()).shape for path in cache._entries()}


def _cache_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


@contextmanager
def read_only(monkeypatch, directory):
    """Every write under ``directory`` fails as on a read-only mount (EROFS).

    Tests may run as root, which chmod does not stop, so the operating system's
    calls are made to fail instead: the OS is not what is under test.
    """
    root = os.path.realpath(directory)

    def inside(path):
        return os.path.realpath(os.fspath(path)).startswith(root)

    def refuse(function, where):
        def wrapper(*args, **kwargs):
            if inside(where(*args, **kwargs)):
                raise OSError(errno.EROFS, "Read-only file system")
            return function(*args, **kwargs)

        return wrapper

    with monkeypatch.context() as patch:
        for name in ("utime", "unlink", "mkdir", "rmdir"):
            patch.setattr(os, name, refuse(getattr(os, name), lambda path, *a, **k: path))
        patch.setattr(os, "replace", refuse(os.replace, lambda src, dst, *a, **k: dst))
        patch.setattr(tempfile, "mkstemp", refuse(
            tempfile.mkstemp, lambda *a, dir=None, **k: dir or tempfile.gettempdir()
        ))  # fmt: skip
        yield


# --------------------------------------------------------------------- wrong shapes


def test_a_wrong_shaped_batch_is_neither_predicted_nor_stored(tmp_path):
    generator, estimator = ShrinksOnce(bad_call=3), SeesShapes()
    with pytest.raises(ValueError) as info:
        _run(tmp_path, generator, estimator)
    message = str(info.value)
    assert "ShrinksOnce" in message and "(16, 16, 3)" in message and "(32, 32, 3)" in message
    assert estimator.shapes == {(32, 32, 3)}  # raised before predict
    assert _entry_shapes(tmp_path) == {(32, 32, 3)}  # nothing of the wrong shape stored
    assert len(ImageCache(tmp_path)) == 16  # the two good batches are kept

    # The cache is not poisoned: a correct generator resumes from it.
    resumed = CountingGenerator()
    result = _run(tmp_path, resumed)
    assert resumed.n_images == result.n_images_distinct - 16
    reference = _run(None, ShapesGenerator())
    np.testing.assert_array_equal(result.importances, reference.importances)


def test_wrong_shaped_entries_on_disk_are_regenerated_with_one_warning(tmp_path):
    reference = _run(tmp_path, ShapesGenerator())
    plan = reference.plan
    cache = ImageCache(tmp_path)
    fingerprint = ShapesGenerator().fingerprint
    # What an older version could leave behind: small images under good keys, in
    # several chunks, the very first pair of the run among them.
    poisoned = [0, 3, 9, 30, plan.n_distinct - 1]
    for i in poisoned:
        key = cache.key(fingerprint, plan.captions[i], int(plan.seeds[i]))
        cache._path(key).write_bytes(encode_entry(np.zeros((16, 16, 3), np.float32)))
    assert _entry_shapes(tmp_path) == {(16, 16, 3), (32, 32, 3)}

    generator, estimator = CountingGenerator(), SeesShapes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(tmp_path, generator, estimator)
    (message,) = _cache_warnings(caught)
    assert f"{len(poisoned)} image(s)" in message and "(32, 32, 3)" in message
    assert generator.n_images == len(poisoned)
    assert estimator.shapes == {(32, 32, 3)}
    np.testing.assert_array_equal(result.importances, reference.importances)
    assert _entry_shapes(tmp_path) == {(32, 32, 3)}  # overwritten


def test_a_generated_image_not_a_stray_cached_one_sets_the_shape(tmp_path):
    generator = ShapesGenerator()
    cache = ImageCache(tmp_path)
    captions, seeds = ["red circle", "blue square", "green circle"], [1, 2, 3]
    stray = cache.key(generator.fingerprint, captions[0], seeds[0])
    cache.put(stray, np.zeros((16, 16, 3), np.float32))
    images, stats = generate_pairs(generator, captions, seeds, cache=cache,
                                   fingerprint=generator.fingerprint, batch_size=1)
    assert images.shape == (3, 32, 32, 3)
    assert (stats["hits"], stats["generated"], stats["replaced"]) == (0, 3, 1)
    np.testing.assert_array_equal(images, generator.generate(captions, seeds))
    assert decode_entry(cache._path(stray).read_bytes()).shape == (32, 32, 3)


def test_a_declared_shape_is_checked_before_anything_is_predicted_or_stored(tmp_path):
    estimator, cache = SeesShapes(), ImageCache(tmp_path)
    generator = ShapesGenerator()
    with pytest.raises(ValueError, match=r"\(32, 32, 3\).*\(64, 64, 3\) \(declared"):
        execute(["red circle"] * 3, [0, 1, 2], generator=generator,
                fingerprint=generator.fingerprint, predictors=[(estimator, ["predict_proba"])],
                cache=cache, image_shape=(64, 64, 3))
    assert estimator.shapes == set() and len(cache) == 0


def test_a_size_change_without_a_new_fingerprint_is_named(tmp_path):
    class Resized(CountingGenerator):  # 48 px under the 32 px generator's fingerprint
        def __init__(self):
            super().__init__(ShapesGenerator(48))

        fingerprint = ShapesGenerator(32).fingerprint

    captions, seeds = ["red circle"] * 16, list(range(16))
    first = ShapesGenerator(32)
    cache = ImageCache(tmp_path)
    execute(captions[:8], seeds[:8], generator=first, fingerprint=first.fingerprint,
            cache=cache)
    estimator, generator = SeesShapes(), Resized()
    with pytest.raises(ValueError, match="read from the cache.*fingerprint must change"):
        execute(captions, seeds, generator=generator, fingerprint=generator.fingerprint,
                predictors=[(estimator, ["predict_proba"])], cache=cache, batch_size=8)
    assert generator.n_images == 8 and estimator.shapes == {(32, 32, 3)}
    assert _entry_shapes(tmp_path) == {(32, 32, 3)} and len(cache) == 8


# ------------------------------------------------------------------- read-only caches


def test_a_read_only_cache_with_max_bytes_serves_its_images(tmp_path, monkeypatch):
    reference = _run(ImageCache(tmp_path, max_bytes=10**9), ShapesGenerator())
    entries = ImageCache(tmp_path)._entries()
    for path in entries[:3]:  # a few missing, so that the run also generates
        path.unlink()
    generator = CountingGenerator()
    with read_only(monkeypatch, tmp_path), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run(ImageCache(tmp_path, max_bytes=10**9), generator)
    (message,) = _cache_warnings(caught)
    assert "read-only file system" in message and "Free some space" not in message
    assert "new ones are not stored" in message
    assert generator.n_images == 3
    assert result.n_images_cached == result.n_images_distinct - 3
    np.testing.assert_array_equal(result.importances, reference.importances)
    assert len(ImageCache(tmp_path)) == len(entries) - 3


def test_a_stale_temporary_file_in_a_read_only_cache_is_skipped(tmp_path, monkeypatch):
    reference = _run(tmp_path, ShapesGenerator())
    stale = tmp_path / "ab" / ".tmp-killed.entry"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    generator = CountingGenerator()
    with read_only(monkeypatch, tmp_path), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ImageCache(tmp_path).remove_stale_temporary_files() == 0
        result = _run(tmp_path, generator)
    assert _cache_warnings(caught) == []  # nothing needed writing
    assert generator.n_images == 0 and stale.exists()
    np.testing.assert_array_equal(result.importances, reference.importances)


def test_a_full_disk_is_told_from_a_read_only_one(tmp_path, monkeypatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = ImageCache(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full)
        with pytest.warns(CacheWarning) as caught:
            for seed in range(3):
                cache.put(cache.key("g", "c", seed), np.zeros((4, 4, 3), np.float32))
    (warning,) = caught
    assert "disk full" in str(warning.message) and "Free some space" in str(warning.message)


# ------------------------------------------------------------- a cache path that is a file


def test_a_cache_path_that_is_a_file_is_refused_before_any_image(tmp_path):
    file = tmp_path / "cache.txt"
    file.write_text("not a directory")
    for path in (file, file / "inside"):
        with pytest.raises(ValueError, match=f"{path}.*not a directory.*as cache"):
            ImageCache(path)
    generator = CountingGenerator()
    with pytest.raises(ValueError, match="not a directory"):
        _run(str(file), generator)
    assert generator.n_images == 0


# ------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def saved_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_cache")
    train = make_shapes_dataset(200, random_state=0)
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    clf.fit(train.images, train.concept_table["blue square"])
    joblib.dump(clf, folder / "clf.joblib")
    test = make_shapes_dataset(20, random_state=1)
    test.concept_table.to_csv(folder / "concepts.csv", index=False)
    np.save(folder / "labels.npy", test.concept_table["blue square"].to_numpy())
    return folder


def _explain(folder, out, cache):
    return [
        "explain", "--estimator", str(folder / "clf.joblib"),
        "--concept-table", str(folder / "concepts.csv"), "--labels", str(folder / "labels.npy"),
        "--generator", "shapes", "--scoring", "roc_auc", "--n-repeats", "2",
        "--examples", "2", "--example-concepts", "1",
        "--output-dir", str(out), "--cache", str(cache),
    ]  # fmt: skip


def test_cli_warns_once_about_a_read_only_cache(saved_task, tmp_path, monkeypatch, capsys):
    # A shared cache mounted read-only: it holds some of the run's images (an empty
    # one is refused before the first image, see test_probe.py), and the rest
    # cannot be stored.
    cache = tmp_path / "cache"
    assert main(_explain(saved_task, tmp_path / "first", cache)) == 0
    entries = sorted(cache.glob(f"*/*{SUFFIX}"))
    for entry in entries[::2]:
        entry.unlink()
    capsys.readouterr()
    with read_only(monkeypatch, cache), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(_explain(saved_task, tmp_path / "out", cache)) == 0
    err = capsys.readouterr().err
    assert err.count("Could not write to the image cache") == 1
    assert "read-only file system" in err and "Free some space" not in err
    # None left over for Python to print raw into the progress bars (the report's
    # example images go through the same cache).
    assert _cache_warnings(caught) == []
    assert (tmp_path / "out" / "report.html").exists()


def test_cli_refuses_a_cache_path_that_is_a_file(saved_task, tmp_path, capsys):
    file = tmp_path / "cache"
    file.write_text("")
    with pytest.raises(SystemExit) as info:
        main(_explain(saved_task, tmp_path / "out", file))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--cache" in err and str(file) in err and "a file stands where a folder" in err
    assert not (tmp_path / "out").exists()
