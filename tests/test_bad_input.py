"""Bad input: a clear, specific error, and nothing half-written in the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from conftest import flatten
from sklearn_depict import CaptionToImage, ImageCache, ShapesGenerator, depict_importance
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.cache import decode_entry


class BrokenGenerator:
    """Returns something wrong, chosen by ``mode``."""

    fingerprint = "broken-v1"
    # Declared, so that the estimator is tried on a noise image before the run
    # and every generate() call is the run's own.
    image_shape = (32, 32, 3)

    def __init__(self, mode):
        self.mode = mode
        self.calls = 0

    def generate(self, captions, seeds):
        self.calls += 1
        images = ShapesGenerator().generate(captions, seeds)
        if self.mode == "count":
            return images[:-1]
        if self.mode == "shape":
            return images[..., 0]
        if self.mode == "dtype":
            return images.astype(np.float64)
        if self.mode == "uint8":
            return (images * 255).astype(np.uint8)
        if self.mode == "nan":
            images[0, 0, 0, 0] = np.nan
            return images
        if self.mode == "range":
            return images * 2
        if self.mode == "list":
            return list(images)
        if self.mode == "raise-later" and self.calls > 1:
            raise RuntimeError("the GPU fell over")
        return images


@pytest.fixture
def small(shapes_test):
    table = shapes_test.concept_table
    return table.iloc[:20], table["red circle"].to_numpy()[:20]


def _entries(path):
    return [p for p in path.rglob("*") if p.is_file()]


def test_mismatched_lengths(red_circle_clf, small):
    table, y = small
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        depict_importance(red_circle_clf, table, y[:-1], generator=ShapesGenerator())


def test_empty_table(red_circle_clf, small):
    table, y = small
    with pytest.raises(ValueError, match="0 rows"):
        depict_importance(red_circle_clf, table.iloc[:0], y[:0], generator=ShapesGenerator())
    with pytest.raises(ValueError, match="0 rows"):
        CaptionToImage(ShapesGenerator()).transform(table.iloc[:0])


def test_table_without_columns(red_circle_clf):
    with pytest.raises(ValueError, match="at least one column"):
        depict_importance(red_circle_clf, pd.DataFrame(index=[0, 1]), [0, 1],
                          generator=ShapesGenerator())


def test_one_dimensional_table(red_circle_clf):
    with pytest.raises(ValueError, match="2-D concept table"):
        depict_importance(red_circle_clf, np.array(["red circle", ""]), [1, 0],
                          generator=ShapesGenerator())


def test_unknown_concept_names(red_circle_clf, small):
    table, y = small
    with pytest.raises(ValueError, match=r"Unknown concept column\(s\) \['purple star'\]"):
        depict_importance(red_circle_clf, table, y, generator=ShapesGenerator(),
                          concepts=["red circle", "purple star"])


def test_template_naming_a_missing_column(red_circle_clf, small):
    from sklearn_depict import ConceptCaptioner

    table, y = small
    with pytest.raises(ValueError, match="names column"):
        depict_importance(red_circle_clf, table, y, generator=CaptionToImage(
            ShapesGenerator(), captioner=ConceptCaptioner("{red circle} {purple}")))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_labels(red_circle_clf, small, bad):
    table, y = small
    y = y.astype(float)
    y[3] = bad
    with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
        depict_importance(red_circle_clf, table, y, generator=ShapesGenerator())


def test_nan_in_the_concept_table(red_circle_clf, small):
    table, y = small
    table = table.astype(float)
    table.iloc[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values in numeric column\(s\) "
                                         r"\['red square'\]"):
        depict_importance(red_circle_clf, table, y, generator=ShapesGenerator())


def test_duplicate_column_names(red_circle_clf, small):
    table, y = small
    duplicated = pd.concat([table, table[["red circle"]]], axis=1)
    with pytest.raises(ValueError, match=r"duplicated column names \['red circle'\]"):
        depict_importance(red_circle_clf, duplicated, y, generator=ShapesGenerator())


@pytest.mark.parametrize(
    "mode, error, match",
    [
        ("count", ValueError, r"returned \d+ images for \d+ \(caption, seed\) pairs"),
        ("shape", ValueError, r"must return shape \(n, height, width, channels\)"),
        ("dtype", TypeError, "dtype float64"),
        ("uint8", TypeError, "dtype uint8"),
        ("nan", ValueError, "NaN"),
        ("range", ValueError, r"must lie in \[0, 1\]"),
        ("list", TypeError, "returned list"),
    ],
)
def test_misbehaving_generator_is_caught_before_caching(red_circle_clf, small, tmp_path,
                                                        mode, error, match):
    table, y = small
    with pytest.raises(error, match=match):
        depict_importance(red_circle_clf, table, y, generator=CaptionToImage(
            BrokenGenerator(mode), cache=tmp_path, batch_size=64))
    assert _entries(tmp_path) == []
    with pytest.raises(error, match=match):
        CaptionToImage(BrokenGenerator(mode), cache=tmp_path).transform(table)
    assert _entries(tmp_path) == []


def test_generator_failing_halfway_keeps_only_complete_entries(red_circle_clf, small,
                                                               tmp_path):
    table, y = small
    cache = ImageCache(tmp_path)
    with pytest.raises(RuntimeError, match="the GPU fell over") as info:
        depict_importance(red_circle_clf, table, y, generator=CaptionToImage(
            BrokenGenerator("raise-later"), cache=cache, batch_size=8))
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "while generating 8 image(s)" in notes
    entries = _entries(tmp_path)
    assert len(entries) == 8  # the first, complete chunk
    assert not any(p.name.startswith(".tmp") for p in entries)
    for path in entries:
        assert decode_entry(path.read_bytes()).shape == (32, 32, 3)


def test_estimator_without_the_method_the_scorer_needs(small, shapes_test):
    table, y = small
    images = CaptionToImage(ShapesGenerator()).transform(shapes_test.concept_table)
    svc = make_pipeline(FunctionTransformer(flatten), LinearSVC()).fit(
        images, shapes_test.concept_table["red circle"]
    )
    with pytest.raises(AttributeError, match="needs one of .*predict_proba"):
        depict_importance(svc, table, y, generator=ShapesGenerator(), scoring="neg_log_loss")


def test_unfitted_estimator(small):
    table, y = small
    model = make_pipeline(FunctionTransformer(flatten), LogisticRegression())
    with pytest.raises(NotFittedError, match="not fitted yet"):
        depict_importance(model, table, y, generator=ShapesGenerator())


def test_object_that_cannot_predict(small):
    table, y = small
    with pytest.raises(TypeError, match="none of the prediction methods"):
        depict_importance(object(), table, y, generator=ShapesGenerator())


def test_classifier_without_classes(small):
    class NoClasses:
        def predict_proba(self, images):
            return np.full((len(images), 2), 0.5)

    table, y = small
    wrapper = NoClasses()
    wrapper.decision_function = lambda images: np.zeros(len(images))
    with pytest.raises(TypeError):
        depict_importance(wrapper, table, y, generator=ShapesGenerator())


def test_predict_proba_with_the_wrong_shape(small):
    class Wrong:
        classes_ = np.array([0, 1])

        def predict_proba(self, images):
            return np.full((len(images), 3), 1 / 3)

    table, y = small
    with pytest.raises(ValueError, match=r"Wrong.predict_proba returned shape \(\d+, 3\)"):
        depict_importance(Wrong(), table, y, generator=ShapesGenerator(), scoring="roc_auc")


def test_custom_score_method_needs_explicit_scoring(small):
    class OwnScore:
        classes_ = np.array([0, 1])

        def predict(self, images):
            return np.zeros(len(images), dtype=int)

        def score(self, images, y):
            return 0.0

    table, y = small
    with pytest.raises(TypeError, match="custom method"):
        depict_importance(OwnScore(), table, y, generator=ShapesGenerator())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_repeats": 0}, r"The 'n_repeats' parameter of depict_importance must be an int "
                           r"in the range \[1, inf\). Got 0 instead."),
        ({"scoring": "not-a-metric"}, "The 'scoring' parameter of depict_importance"),
        ({"max_samples": 1.5}, "The 'max_samples' parameter"),
        ({"concepts": "red circle"}, "The 'concepts' parameter"),
        ({"generator": CaptionToImage(ShapesGenerator(), batch_size=0)},
         "The 'batch_size' parameter of CaptionToImage"),
        ({"generator": CaptionToImage(ShapesGenerator(), seed=-1)},
         "The 'seed' parameter of CaptionToImage"),
    ],
)
def test_parameter_validation_in_sklearn_style(red_circle_clf, small, kwargs, match):
    table, y = small
    kwargs = {"generator": ShapesGenerator(), **kwargs}
    step = isinstance(kwargs["generator"], CaptionToImage)
    # The transformer's own parameters are named as its own, not depict_importance's.
    error = ValueError if step else InvalidParameterError
    with pytest.raises(error, match=match):
        depict_importance(red_circle_clf, table, y, **kwargs)
    # A pipeline that begins with the transformer is checked alike, before any image.
    if step:
        with pytest.raises(ValueError, match=match):
            depict_importance(make_pipeline(kwargs["generator"], red_circle_clf), table, y)


def test_not_a_generator(red_circle_clf, small):
    table, y = small
    with pytest.raises(TypeError, match="must be an object with a generate"):
        depict_importance(red_circle_clf, table, y, generator="stable-diffusion")


def test_callable_without_fingerprint_cannot_use_a_cache(red_circle_clf, small, tmp_path):
    table, y = small

    def draw(captions, seeds):
        return ShapesGenerator().generate(captions, seeds)

    with pytest.raises(ValueError, match="has no 'fingerprint'"):
        depict_importance(red_circle_clf, table, y,
                          generator=CaptionToImage(draw, cache=tmp_path))
    draw.fingerprint = "draw-v1"
    result = depict_importance(red_circle_clf, table, y,
                               generator=CaptionToImage(draw, cache=tmp_path), n_repeats=2)
    assert result.n_images_generated == len(_entries(tmp_path))


def test_bad_cache_argument(red_circle_clf, small):
    table, y = small
    with pytest.raises(TypeError, match="'cache' parameter"):
        depict_importance(red_circle_clf, table, y,
                          generator=CaptionToImage(ShapesGenerator(), cache=3))


@pytest.mark.parametrize(
    "weights, match",
    [(np.ones(5), r"sample_weight.shape == \(5,\)"), (-np.ones(20), "non-negative")],
)
def test_bad_sample_weight(red_circle_clf, small, weights, match):
    table, y = small
    with pytest.raises(ValueError, match=match):
        depict_importance(red_circle_clf, table, y, generator=ShapesGenerator(),
                          sample_weight=weights)


def test_concept_names_with_a_dataframe(red_circle_clf, small):
    table, y = small
    with pytest.raises(ValueError, match="concept_names together with a DataFrame"):
        depict_importance(red_circle_clf, table, y, generator=CaptionToImage(
            ShapesGenerator(), concept_names=list(table.columns)))
