"""Tests of ``_engine/execute.py``: the one chunked generate-and-predict loop."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import CountingGenerator
from sklearn_depict import FlattenImages, ImageCache, ShapesGenerator, make_shapes_dataset
from sklearn_depict._engine.execute import execute

CAPTIONS = ["red circle", "blue square", "green circle", "red square, blue circle"] * 3
SEEDS = list(range(len(CAPTIONS)))


@pytest.fixture(scope="module")
def model():
    data = make_shapes_dataset(120, random_state=0)
    # In float64: a row's output does not depend on its batch (a float32
    # model's moves by ~1e-7 with the BLAS blocking).
    to_float64 = FunctionTransformer(np.asarray, kw_args={"dtype": np.float64})
    clf = make_pipeline(FlattenImages(), to_float64, LogisticRegression(max_iter=300))
    return clf.fit(data.images, data.concept_table["red circle"])


def test_chunks_and_workers_never_change_what_is_predicted(model):
    reference = execute(CAPTIONS, SEEDS, generator=ShapesGenerator(), fingerprint=None,
                        predictors=[(model, ["predict_proba"])], keep_images=True)
    expected = model.predict_proba(ShapesGenerator().generate(CAPTIONS, SEEDS))
    # The contract's 1e-12: BLAS may round a float64 product differently by batch.
    np.testing.assert_allclose(reference.responses[0]["predict_proba"], expected,
                               rtol=1e-12, atol=1e-15)
    for batch_size, n_jobs in [(1, None), (5, None), (5, 2)]:
        run = execute(CAPTIONS, SEEDS, generator=ShapesGenerator(), fingerprint=None,
                      predictors=[(model, ["predict_proba"])], batch_size=batch_size,
                      n_jobs=n_jobs, keep_images=True)
        np.testing.assert_allclose(run.responses[0]["predict_proba"], expected,
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(run.images, reference.images)
        assert run.totals["generated"] == len(CAPTIONS) and run.totals["hits"] == 0


def test_the_first_pairs_are_done_before_any_other(model):
    counting = CountingGenerator()
    seen = []

    def on_first(responses):
        seen.append((counting.n_images, len(responses[0]["predict"])))

    execute(CAPTIONS, SEEDS, generator=counting, fingerprint=None,
            predictors=[(model, ["predict"])], batch_size=3, n_first=4, on_first=on_first)
    # on_first ran once, after the first 4 pairs and before any of the other 8.
    assert seen == [(4, len(CAPTIONS))]
    assert counting.n_images == len(CAPTIONS)


def test_a_cache_serves_what_it_holds(model, tmp_path):
    cache = ImageCache(tmp_path)
    generator = ShapesGenerator()
    first = execute(CAPTIONS, SEEDS, generator=generator, fingerprint=generator.fingerprint,
                    predictors=[(model, ["predict"])], cache=cache)
    counting = CountingGenerator()
    again = execute(CAPTIONS, SEEDS, generator=counting, fingerprint=generator.fingerprint,
                    predictors=[(model, ["predict"])], cache=cache)
    assert first.totals["generated"] == len(CAPTIONS)
    assert again.totals == {**again.totals, "hits": len(CAPTIONS), "generated": 0}
    assert counting.n_images == 0
    np.testing.assert_array_equal(again.responses[0]["predict"], first.responses[0]["predict"])


def test_a_failing_model_says_which_and_on_how_many_images():
    class Failing:
        classes_ = np.array([0, 1])

        def predict(self, images):
            raise MemoryError("out of memory")

    with pytest.raises(MemoryError) as info:
        execute(CAPTIONS, SEEDS, generator=ShapesGenerator(), fingerprint=None,
                predictors=[(Failing(), ["predict"])], batch_size=4)
    note = " ".join(getattr(info.value, "__notes__", []))
    assert "Failing" in note and "4 image" in note and "batch_size" in note
