"""depict_importance, after scikit-learn's tests of permutation_importance.

The tabular tests of sklearn/inspection/tests/test_permutation_importance.py,
moved to concept tables and generated images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import get_scorer, roc_auc_score

from conftest import CountingGenerator, flatten
from sklearn_depict import (
    CaptionToImage,
    ConceptCaptioner,
    ConstantConceptWarning,
    ImageCache,
    ShapesGenerator,
    depict_importance,
)

N_REPEATS = 4


def _run(estimator, data, y, **kwargs):
    # Options of the images go on the CaptionToImage passed as generator.
    options = {k: kwargs.pop(k) for k in ("cache", "seed", "batch_size") if k in kwargs}
    kwargs.setdefault("generator", ShapesGenerator())
    if options:
        kwargs["generator"] = CaptionToImage(kwargs["generator"], **options)
    kwargs.setdefault("n_repeats", N_REPEATS)
    kwargs.setdefault("random_state", 0)
    return depict_importance(estimator, data.concept_table, y, **kwargs)


def test_result_shapes_and_keys(bottleneck, shapes_test, bottleneck_labels):
    result = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc")
    assert result.importances_mean.shape == (6,)
    assert result.importances_std.shape == (6,)
    assert result.importances.shape == (6, N_REPEATS)
    np.testing.assert_allclose(result.importances_mean, result.importances.mean(axis=1))
    np.testing.assert_allclose(result.importances_std, result.importances.std(axis=1))
    assert list(result.concept_names) == list(shapes_test.concept_table.columns)
    assert 0.5 < result.baseline_score <= 1.0
    assert set(result.timings) == {"planning", "generation", "prediction", "scoring", "intervals"}


def test_concept_that_determines_y_ranks_first(red_circle_clf, shapes_test):
    y = shapes_test.concept_table["red circle"].to_numpy()
    result = _run(red_circle_clf, shapes_test, y, scoring="roc_auc", n_repeats=5)
    names = list(result.concept_names)
    red = names.index("red circle")
    assert np.argmax(result.importances_mean) == red
    assert result.importances_mean[red] > 0.2
    others = np.delete(result.importances_mean, red)
    assert np.abs(others).max() < 0.05


def test_ranking_follows_bottleneck_weights(bottleneck, shapes_train, shapes_test,
                                            bottleneck_labels):
    result = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc", n_repeats=8)
    oracle = shapes_train.weights * bottleneck.concept_probabilities(shapes_test.images).std(0)
    assert np.corrcoef(result.importances_mean, oracle)[0, 1] > 0.85


def test_random_state_reproducible_and_sensitive(bottleneck, shapes_test, bottleneck_labels):
    first = _run(bottleneck, shapes_test, bottleneck_labels, random_state=3)
    second = _run(bottleneck, shapes_test, bottleneck_labels, random_state=3)
    other = _run(bottleneck, shapes_test, bottleneck_labels, random_state=4)
    np.testing.assert_array_equal(first.importances, second.importances)
    assert not np.array_equal(first.importances, other.importances)


@pytest.mark.parametrize("batch_size", [7, 64])
def test_n_jobs_and_batch_size_do_not_change_results(bottleneck, shapes_test,
                                                     bottleneck_labels, batch_size):
    sequential = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc", n_jobs=1)
    parallel = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc", n_jobs=2,
                    batch_size=batch_size)
    np.testing.assert_array_equal(sequential.importances, parallel.importances)
    assert parallel.n_images_generated == sequential.n_images_generated


def test_array_and_dataframe_give_equal_results(bottleneck, shapes_test, bottleneck_labels):
    frame = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc")
    array = depict_importance(
        bottleneck, shapes_test.concept_table.to_numpy(), bottleneck_labels,
        generator=CaptionToImage(ShapesGenerator(),
                                 concept_names=list(shapes_test.concept_table.columns)),
        scoring="roc_auc", n_repeats=N_REPEATS, random_state=0,
    )
    np.testing.assert_array_equal(frame.importances, array.importances)


def test_text_array_and_dataframe_give_equal_results(bottleneck, shapes_test,
                                                     bottleneck_labels):
    concepts = shapes_test.concept_table
    phrases = pd.DataFrame(
        {c: np.where(concepts[c] == 1, c, "") for c in concepts.columns}, dtype=object
    )
    frame = depict_importance(bottleneck, phrases, bottleneck_labels,
                              generator=ShapesGenerator(), scoring="roc_auc",
                              n_repeats=N_REPEATS, random_state=0)
    array = depict_importance(bottleneck, phrases.to_numpy(), bottleneck_labels,
                              generator=ShapesGenerator(), scoring="roc_auc",
                              n_repeats=N_REPEATS, random_state=0)
    binary = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc")
    np.testing.assert_array_equal(frame.importances, array.importances)
    # Phrases and presence flags caption identically here, so the images agree.
    np.testing.assert_array_equal(frame.importances, binary.importances)
    assert list(array.concept_names) == [f"x{j}" for j in range(6)]


@pytest.mark.parametrize("scoring", ["roc_auc", "accuracy", None])
def test_estimator_ignoring_the_image_gives_exactly_zero(shapes_test, scoring):
    y = shapes_test.concept_table["blue square"].to_numpy()
    dummy = DummyClassifier(strategy="prior").fit(np.zeros((len(y), 1)), y)
    result = _run(dummy, shapes_test, y, scoring=scoring)
    assert np.all(result.importances == 0.0)


class TorchLikeWrapper:
    """A duck-typed classifier: predict_proba and classes_, no sklearn base class."""

    def __init__(self, inner):
        self.inner = inner
        self.classes_ = inner.classes_

    def predict_proba(self, images):
        return self.inner.predict_proba(images)

    def predict(self, images):
        return self.classes_[self.predict_proba(images).argmax(axis=1)]


@pytest.mark.parametrize("scoring", ["roc_auc", "neg_log_loss", "accuracy", None])
def test_duck_typed_estimator_matches_sklearn_estimator(bottleneck, shapes_test,
                                                        bottleneck_labels, scoring):
    reference = _run(bottleneck, shapes_test, bottleneck_labels, scoring=scoring)
    wrapped = _run(TorchLikeWrapper(bottleneck), shapes_test, bottleneck_labels,
                   scoring=scoring)
    np.testing.assert_allclose(wrapped.importances, reference.importances, atol=1e-12)
    np.testing.assert_allclose(wrapped.baseline_score, reference.baseline_score, atol=1e-12)


def test_sample_weight_selects_the_rows_that_matter(red_circle_clf, shapes_test):
    """Rows with weight 0 must not count, as in sklearn's sample_weight test."""
    concepts = shapes_test.concept_table
    n = len(concepts)
    half = np.arange(n) < n // 2
    # The first half is labelled by 'red circle' (which the model sees), the
    # second by 'blue square' (which it ignores).
    y = np.where(half, concepts["red circle"], concepts["blue square"])
    red = list(concepts.columns).index("red circle")
    on_first = _run(red_circle_clf, shapes_test, y, scoring="roc_auc",
                    sample_weight=half.astype(float))
    on_second = _run(red_circle_clf, shapes_test, y, scoring="roc_auc",
                     sample_weight=(~half).astype(float))
    assert on_first.importances_mean[red] > 0.2
    assert abs(on_second.importances_mean[red]) < 0.1
    ones = _run(red_circle_clf, shapes_test, y, scoring="roc_auc", sample_weight=np.ones(n))
    none = _run(red_circle_clf, shapes_test, y, scoring="roc_auc")
    np.testing.assert_array_equal(ones.importances, none.importances)


def test_custom_scorer_without_weights(red_circle_clf, shapes_test):
    y = shapes_test.concept_table["red circle"].to_numpy()

    def auc(estimator, X, y_true):
        return roc_auc_score(y_true, estimator.predict_proba(X)[:, 1])

    custom = _run(red_circle_clf, shapes_test, y, scoring=auc)
    builtin = _run(red_circle_clf, shapes_test, y, scoring="roc_auc")
    np.testing.assert_allclose(custom.importances, builtin.importances, atol=1e-12)


@pytest.mark.parametrize(
    "scoring",
    [
        ["roc_auc", "accuracy", "neg_log_loss"],
        ("roc_auc", "accuracy", "neg_log_loss"),
        {"roc_auc": "roc_auc", "accuracy": "accuracy", "neg_log_loss": "neg_log_loss"},
        lambda est, X, y: {
            name: get_scorer(name)(est, X, y)
            for name in ["roc_auc", "accuracy", "neg_log_loss"]
        },
    ],
)
def test_multi_metric_equals_single_metrics(bottleneck, shapes_test, bottleneck_labels,
                                            scoring):
    multi = _run(bottleneck, shapes_test, bottleneck_labels, scoring=scoring)
    assert set(multi) == {"roc_auc", "accuracy", "neg_log_loss"}
    for name, bunch in multi.items():
        single = _run(bottleneck, shapes_test, bottleneck_labels, scoring=name)
        np.testing.assert_allclose(bunch.importances, single.importances, atol=1e-12)
        assert bunch.importances.shape == (6, N_REPEATS)


@pytest.mark.parametrize("max_samples", [0.0001, 121, 500])
def test_max_samples_error(bottleneck, shapes_test, bottleneck_labels, max_samples):
    with pytest.raises(ValueError, match="max_samples"):
        _run(bottleneck, shapes_test, bottleneck_labels, max_samples=max_samples)


def test_max_samples_scores_a_subset(bottleneck, shapes_test, bottleneck_labels):
    result = _run(bottleneck, shapes_test, bottleneck_labels, max_samples=30)
    assert result.importances.shape == (6, N_REPEATS)
    assert result.n_images_distinct <= len(shapes_test.concept_table) + 6 * 30


@pytest.mark.parametrize("n_repeats", [2, 50])
def test_generated_images_equal_distinct_pairs(bottleneck, shapes_test, bottleneck_labels,
                                               n_repeats):
    counting = CountingGenerator()
    result = _run(bottleneck, shapes_test, bottleneck_labels, generator=counting,
                  n_repeats=n_repeats)
    assert counting.n_images == len(set(counting.pairs))
    assert counting.n_images == result.n_images_generated == result.n_images_distinct
    n = len(shapes_test.concept_table)
    assert result.n_images_bound == n * (1 + 6)
    assert counting.n_images <= result.n_images_bound
    assert result.n_images_naive == n * (1 + 6 * n_repeats)


def test_image_count_does_not_grow_with_repeats(bottleneck, shapes_test, bottleneck_labels):
    counts = []
    for n_repeats in (10, 50):
        counting = CountingGenerator()
        _run(bottleneck, shapes_test, bottleneck_labels, generator=counting,
             n_repeats=n_repeats)
        counts.append(counting.n_images)
    # With 10 repeats nearly every row has already shown both values of each
    # binary concept, so both runs need the full bound.
    assert counts[0] == counts[1] == len(shapes_test.concept_table) * 7


def test_warm_cache_generates_nothing(bottleneck, shapes_test, bottleneck_labels, tmp_path):
    cold_generator = CountingGenerator()
    cache = ImageCache(tmp_path)
    cold = _run(bottleneck, shapes_test, bottleneck_labels, generator=cold_generator,
                cache=cache)
    assert cache.generated == cold.n_images_distinct == len(cache)
    warm_generator = CountingGenerator()
    warm = _run(bottleneck, shapes_test, bottleneck_labels, generator=warm_generator,
                cache=str(tmp_path))
    assert warm_generator.n_images == 0
    assert warm.n_images_generated == 0
    assert warm.n_images_cached == warm.n_images_distinct
    np.testing.assert_array_equal(cold.importances, warm.importances)


def test_constant_concept_is_exactly_zero_and_costs_nothing(bottleneck, shapes_test,
                                                            bottleneck_labels):
    concepts = shapes_test.concept_table.copy()
    concepts["red circle"] = 1
    counting = CountingGenerator()
    with pytest.warns(ConstantConceptWarning, match="red circle"):
        result = depict_importance(bottleneck, concepts, bottleneck_labels,
                                   generator=counting, n_repeats=3, random_state=0,
                                   scoring="roc_auc")
    red = list(result.concept_names).index("red circle")
    assert np.all(result.importances[red] == 0.0)
    assert result.constant_concepts.tolist() == [n == "red circle" for n in result.concept_names]
    assert result.n_images_bound == len(concepts) * 6
    assert counting.n_images <= result.n_images_bound


def test_concepts_subset_matches_full_run(bottleneck, shapes_test, bottleneck_labels):
    full = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc")
    subset = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc",
                  concepts=["blue square", "red circle"])
    names = list(full.concept_names)
    expected = full.importances[[names.index("blue square"), names.index("red circle")]]
    np.testing.assert_array_equal(subset.importances, expected)
    assert list(subset.concept_names) == ["blue square", "red circle"]


def test_grouped_concepts_are_permuted_together(bottleneck, shapes_test, bottleneck_labels):
    groups = {"red": ["red circle", "red square"], "green circle": ["green circle"]}
    grouped = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc",
                   concepts=groups)
    assert list(grouped.concept_names) == ["red", "green circle"]
    single = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc",
                  concepts=["green circle"])
    np.testing.assert_array_equal(grouped.importances[1], single.importances[0])
    tuples = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc",
                  concepts=[("red circle", "red square")])
    np.testing.assert_array_equal(tuples.importances[0], grouped.importances[0])
    assert list(tuples.concept_names) == ["red circle + red square"]
    # Permuting both red concepts with one shared permutation moves whole
    # (circle, square) pairs between rows: the group's value has up to 4 levels.
    assert grouped.n_images_bound == len(shapes_test.concept_table) * (1 + 3 + 1)


def test_context_columns_are_captioned_but_not_permuted(red_circle_clf, shapes_test):
    concepts = shapes_test.concept_table[["red circle", "blue square"]].copy()
    concepts["scene"] = np.where(np.arange(len(concepts)) % 2 == 0, "green square", "")
    y = concepts["red circle"].to_numpy()
    counting = CountingGenerator()
    result = depict_importance(red_circle_clf, concepts, y,
                               generator=CaptionToImage(
                                   counting, captioner=ConceptCaptioner(context=["scene"])),
                               n_repeats=2, random_state=0, scoring="roc_auc")
    assert list(result.concept_names) == ["red circle", "blue square"]
    assert any(caption.endswith("green square") for caption, _ in counting.pairs)


def test_seed_parameter_changes_the_noise(red_circle_clf, shapes_test):
    y = shapes_test.concept_table["red circle"].to_numpy()
    first = CountingGenerator()
    second = CountingGenerator()
    _run(red_circle_clf, shapes_test, y, generator=first, seed=0)
    _run(red_circle_clf, shapes_test, y, generator=second, seed=1)
    assert {s for _, s in first.pairs}.isdisjoint({s for _, s in second.pairs})


def test_plain_callable_generator(red_circle_clf, shapes_test):
    shapes = ShapesGenerator()
    y = shapes_test.concept_table["red circle"].to_numpy()
    via_callable = _run(red_circle_clf, shapes_test, y, generator=shapes.generate)
    via_object = _run(red_circle_clf, shapes_test, y, generator=shapes)
    np.testing.assert_array_equal(via_callable.importances, via_object.importances)


def test_verbose_shows_a_progress_bar(red_circle_clf, shapes_test, capsys):
    y = shapes_test.concept_table["red circle"].to_numpy()
    _run(red_circle_clf, shapes_test, y, verbose=1)
    assert "generating and predicting" in capsys.readouterr().err


def test_regressor_with_default_score(shapes_train, shapes_test):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    target = shapes_train.concept_table.to_numpy() @ shapes_train.weights
    model = make_pipeline(FunctionTransformer(flatten), Ridge()).fit(shapes_train.images, target)
    y = shapes_test.concept_table.to_numpy() @ shapes_train.weights
    result = _run(model, shapes_test, y)
    assert result.importances.shape == (6, N_REPEATS)
    assert 0 < result.baseline_score <= 1


def test_generator_may_be_a_caption_to_image(bottleneck, shapes_test, bottleneck_labels,
                                             tmp_path):
    from sklearn.pipeline import make_pipeline

    step = CaptionToImage(ShapesGenerator(), cache=ImageCache(tmp_path), seed=3, batch_size=16)
    via_generator = _run(bottleneck, shapes_test, bottleneck_labels, generator=step,
                         scoring="roc_auc")
    via_pipeline = depict_importance(make_pipeline(step, bottleneck), shapes_test.concept_table,
                                     bottleneck_labels, scoring="roc_auc",
                                     n_repeats=N_REPEATS, random_state=0)
    np.testing.assert_array_equal(via_generator.importances, via_pipeline.importances)
    assert via_generator.plan.seeds == via_pipeline.plan.seeds
    assert via_pipeline.n_images_cached == via_pipeline.n_images_distinct  # the step's cache
    with pytest.raises(TypeError, match="unexpected keyword argument 'cache'"):
        depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels, generator=step,
                          cache=ImageCache(tmp_path / "other"))


@pytest.mark.parametrize(
    "name, value",
    [("seed", 2), ("batch_size", 16), ("captioner", ConceptCaptioner(prefix="a photo of")),
     ("cache", "CACHE"), ("concept_names", ["a"]), ("detector", None), ("X_images", None)],
)
def test_options_of_other_objects_are_unexpected_keywords(red_circle_clf, shapes_test,
                                                          tmp_path, name, value):
    # The first release never had them: the caption options live on CaptionToImage and
    # the checks' on depict_diagnostics, so passing one is sklearn's usual TypeError.
    y = shapes_test.concept_table["red circle"].to_numpy()
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
        depict_importance(red_circle_clf, shapes_test.concept_table, y,
                          generator=ShapesGenerator(), **{name: value})


def test_caption_options_through_caption_to_image(red_circle_clf, shapes_test, tmp_path):
    y = shapes_test.concept_table["red circle"].to_numpy()
    plain = _run(red_circle_clf, shapes_test, y, generator=ShapesGenerator(strict=False))
    seeded = _run(red_circle_clf, shapes_test, y,
                  generator=CaptionToImage(ShapesGenerator(strict=False), seed=2))
    assert seeded.plan.seeds != plain.plan.seeds
    prefixed = _run(red_circle_clf, shapes_test, y, generator=CaptionToImage(
        ShapesGenerator(strict=False), captioner=ConceptCaptioner(prefix="a photo of")))
    assert all(c.startswith("a photo of") for c in prefixed.plan.captions)
    names = list(shapes_test.concept_table.columns)
    by_name = depict_importance(red_circle_clf, shapes_test.concept_table.to_numpy(), y,
                                generator=CaptionToImage(ShapesGenerator(), concept_names=names),
                                n_repeats=N_REPEATS, random_state=0)
    np.testing.assert_array_equal(by_name.importances, plain.importances)
    assert list(by_name.concept_names) == names


def test_result_holds_documented_keys_only(bottleneck, shapes_test, bottleneck_labels):
    from sklearn_depict import ImportancePlan

    result = _run(bottleneck, shapes_test, bottleneck_labels, scoring="roc_auc")
    documented = {
        "importances_mean", "importances_std", "importances", "concept_names",
        "baseline_score", "n_images_distinct", "n_images_generated", "n_images_cached",
        "n_images_bound", "n_images_naive", "timings", "importances_ci", "pvalues",
        "ci_method", "ranking", "tie_groups", "fast_scoring", "plan", "chance_score",
        "constant_concepts",
    }
    assert set(result) == documented
    assert isinstance(result.plan, ImportancePlan)
    for key in documented:
        assert key in depict_importance.__doc__, key
