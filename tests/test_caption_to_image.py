"""CaptionToImage as an ordinary scikit-learn transformer."""

from __future__ import annotations

import copy
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import get_tags

from conftest import CountingGenerator, flatten
from sklearn_depict import CaptionToImage, ImageCache, ShapesGenerator
from sklearn_depict.concepts import DuplicateIndexWarning, row_seeds


@pytest.fixture
def table(shapes_test):
    return shapes_test.concept_table.iloc[:40]


def test_transform_shape_dtype_and_range(table):
    images = CaptionToImage(ShapesGenerator()).transform(table)
    assert images.shape == (40, 32, 32, 3)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_transform_without_fit_and_tags():
    transformer = CaptionToImage(ShapesGenerator())
    assert get_tags(transformer).requires_fit is False
    table = pd.DataFrame({"red circle": [1]})
    np.testing.assert_array_equal(transformer.transform(table),
                                  transformer.fit(table).transform(table))
    assert transformer.fit(table) is transformer
    assert transformer.n_features_in_ == 1


def test_seeds_follow_the_index_label_not_the_position(table):
    transformer = CaptionToImage(ShapesGenerator())
    images = transformer.transform(table)
    shuffled = table.sample(frac=1.0, random_state=0)
    reordered = transformer.transform(shuffled)
    np.testing.assert_array_equal(reordered, images[shuffled.index.to_numpy()])


def test_array_rows_are_identified_by_position(table):
    frame = CaptionToImage(ShapesGenerator()).transform(table.reset_index(drop=True))
    array = CaptionToImage(ShapesGenerator(), concept_names=list(table.columns)).transform(
        table.to_numpy()
    )
    np.testing.assert_array_equal(frame, array)


def test_permuting_a_concept_changes_only_the_caption(table):
    """Common random numbers: same seed, other caption, other shapes kept in place."""
    generator = ShapesGenerator()
    seed = int(row_seeds([0])[0])
    both = generator.generate(["red circle, blue square"], [seed])[0]
    square = generator.generate(["blue square"], [seed])[0]
    blue = both[..., 2] > 0.5
    np.testing.assert_array_equal(blue, square[..., 2] > 0.5)
    assert (both[..., 0] > 0.5).any() and not (square[..., 0] > 0.5).any()


def test_duplicate_pairs_are_generated_once():
    counting = CountingGenerator()
    table = pd.DataFrame({"red circle": [1, 1, 1]}, index=[5, 5, 6])
    with pytest.warns(DuplicateIndexWarning, match="share their noise"):
        images = CaptionToImage(counting).transform(table)
    assert counting.n_images == 2
    np.testing.assert_array_equal(images[0], images[1])


def test_cache_serves_a_second_transform(table, tmp_path):
    counting = CountingGenerator()
    cache = ImageCache(tmp_path)
    first = CaptionToImage(counting, cache=cache).transform(table)
    generated = counting.n_images
    second = CaptionToImage(counting, cache=cache).transform(table)
    assert counting.n_images == generated == len(table)
    np.testing.assert_array_equal(first, second)
    assert cache.hits == len(table)


def test_batch_size_does_not_change_images(table):
    a = CaptionToImage(ShapesGenerator(), batch_size=3).transform(table)
    b = CaptionToImage(ShapesGenerator()).transform(table)
    np.testing.assert_array_equal(a, b)


def test_clone_does_not_deep_copy_the_generator_or_cache(tmp_path):
    class Heavy:
        """A stand-in for a loaded pipeline, which must never be copied."""

        fingerprint = "heavy"

        def __deepcopy__(self, memo):
            raise AssertionError("deep-copied")

        def generate(self, captions, seeds):
            return ShapesGenerator().generate(captions, seeds)

    heavy = Heavy()
    cache = ImageCache(tmp_path)
    transformer = CaptionToImage(heavy, cache=cache, seed=3)
    cloned = clone(transformer)
    assert cloned.generator is heavy and cloned.cache is cache and cloned.seed == 3
    # Estimator generators are cloned from their parameters.
    shapes = CaptionToImage(ShapesGenerator(48))
    assert clone(shapes).generator is not shapes.generator
    assert clone(shapes).generator.get_params() == shapes.generator.get_params()
    with pytest.raises(AssertionError):
        copy.deepcopy(heavy)


def test_pickle_and_joblib_round_trip(table, tmp_path):
    transformer = CaptionToImage(ShapesGenerator(), cache=str(tmp_path), seed=5)
    restored = pickle.loads(pickle.dumps(transformer))
    np.testing.assert_array_equal(restored.transform(table), transformer.transform(table))
    joblib.dump(transformer, tmp_path / "t.joblib")
    loaded = joblib.load(tmp_path / "t.joblib")
    np.testing.assert_array_equal(loaded.transform(table), transformer.transform(table))


def test_get_set_params_round_trip():
    transformer = CaptionToImage(ShapesGenerator())
    transformer.set_params(seed=9, generator__image_size=40)
    params = transformer.get_params()
    assert params["seed"] == 9 and params["generator__image_size"] == 40


def _pipeline(**kwargs):
    return make_pipeline(
        CaptionToImage(ShapesGenerator(), **kwargs),
        FunctionTransformer(flatten),
        LogisticRegression(max_iter=500),
    )


def test_cross_val_score_on_concept_tables(shapes_test):
    y = shapes_test.concept_table["blue square"].to_numpy()
    scores = cross_val_score(_pipeline(), shapes_test.concept_table, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() > 0.7


def test_grid_search_over_transformer_parameters(shapes_test):
    y = shapes_test.concept_table["blue square"].to_numpy()
    search = GridSearchCV(_pipeline(), {"captiontoimage__seed": [0, 1]}, cv=2)
    search.fit(shapes_test.concept_table, y)
    assert search.best_params_["captiontoimage__seed"] in (0, 1)
    assert search.predict(shapes_test.concept_table.iloc[:5]).shape == (5,)


def test_sklearn_permutation_importance_on_the_pipeline(shapes_test):
    y = shapes_test.concept_table["red square"].to_numpy()
    pipe = _pipeline().fit(shapes_test.concept_table, y)
    result = permutation_importance(pipe, shapes_test.concept_table, y, n_repeats=3, random_state=0)
    assert np.argmax(result.importances_mean) == list(shapes_test.concept_table.columns).index(
        "red square"
    )


def test_verbose_progress_bar(table, capsys):
    CaptionToImage(ShapesGenerator(), verbose=1).transform(table)
    assert "generating" in capsys.readouterr().err


def test_column_count_must_match_fit(table):
    transformer = CaptionToImage(ShapesGenerator()).fit(table)
    with pytest.raises(ValueError, match="X has 2 columns"):
        transformer.transform(table.iloc[:, :2])
