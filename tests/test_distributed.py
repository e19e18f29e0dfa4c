"""Generation fanned out over a real Dask cluster (two worker processes on loopback)."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from sklearn_depict import (  # noqa: E402
    CaptionToImage,
    ImageCache,
    ShapesGenerator,
    depict_importance,
)


class LazyModelGenerator:
    """Loads its "model" on first use, like a diffusion pipeline, and records each load."""

    def __init__(self, marker_dir):
        self.marker_dir = str(marker_dir)
        self._model = None

    @property
    def fingerprint(self):
        return "lazy-" + ShapesGenerator().fingerprint

    def __getstate__(self):
        return {"marker_dir": self.marker_dir, "_model": None}

    def generate(self, captions, seeds):
        if self._model is None:
            Path(self.marker_dir, f"{os.getpid()}-{uuid.uuid4().hex}").touch()
            self._model = ShapesGenerator()
        return self._model.generate(captions, seeds)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_fan_out_matches_a_sequential_run(client, tmp_path, bottleneck, shapes_test,
                                               bottleneck_labels):
    markers = tmp_path / "markers"
    markers.mkdir()
    cache = ImageCache(tmp_path / "shared-cache")
    with joblib.parallel_config(backend="dask"):
        spread = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                   generator=CaptionToImage(LazyModelGenerator(markers),
                                                            cache=cache, batch_size=32),
                                   n_jobs=-1, n_repeats=4, random_state=0,
                                   scoring="roc_auc")
    sequential = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                   generator=ShapesGenerator(), n_repeats=4, random_state=0,
                                   scoring="roc_auc")
    np.testing.assert_array_equal(spread.importances, sequential.importances)

    loads = Counter(name.split("-")[0] for name in os.listdir(markers))
    assert str(os.getpid()) not in loads, "the driver generated images"
    assert 1 <= len(loads) <= 2
    assert set(loads.values()) == {1}, f"a worker loaded its model more than once: {loads}"

    assert len(cache) == spread.n_images_distinct == spread.n_images_generated
    assert cache.generated == spread.n_images_generated

    warm = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                             generator=CaptionToImage(LazyModelGenerator(markers), cache=cache),
                             n_jobs=1, n_repeats=4, random_state=0, scoring="roc_auc")
    assert warm.n_images_generated == 0
    np.testing.assert_array_equal(warm.importances, sequential.importances)
