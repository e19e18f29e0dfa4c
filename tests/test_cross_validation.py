"""Cross-validated explanations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import CountingGenerator, flatten
from sklearn_depict import ShapesGenerator, depict_importance
from sklearn_depict.cross_validation import cross_validate_importance
from sklearn_depict.stats.ranking import fold_agreement


def test_prefit_folds_match_explaining_each_fold(bottleneck, shapes_test, bottleneck_labels):
    cv = KFold(3, shuffle=True, random_state=0)
    result = cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                       generator=ShapesGenerator(), cv=cv, scoring="roc_auc",
                                       n_repeats=3, random_state=0)
    assert len(result.folds) == 3 and result.fold_importances.shape == (3, 6)
    for fold, (_, test) in zip(result.folds, cv.split(shapes_test.concept_table)):
        direct = depict_importance(bottleneck, shapes_test.concept_table.iloc[test],
                                   bottleneck_labels[test], generator=ShapesGenerator(),
                                   scoring="roc_auc", n_repeats=3, random_state=0)
        np.testing.assert_array_equal(fold.importances, direct.importances)
        np.testing.assert_array_equal(fold.test, test)
    np.testing.assert_allclose(result.importances_mean, result.fold_importances.mean(axis=0))
    np.testing.assert_allclose(result.importances_std, result.fold_importances.std(axis=0))
    assert result.rank_agreement > 0.7 and result.stable
    assert result.ranking[np.argmax(result.importances_mean)] == 1


def test_unstable_ranking_is_flagged(shapes_test):
    """A model that ignores the images ranks concepts by noise alone."""
    from sklearn.dummy import DummyClassifier

    y = shapes_test.concept_table["red circle"].to_numpy()
    rng = np.random.RandomState(0)

    class Noisy(DummyClassifier):
        def predict_proba(self, X):
            p = rng.uniform(size=len(X))
            return np.column_stack([1 - p, p])

    noisy = Noisy().fit(np.zeros((len(y), 1)), y)
    result = cross_validate_importance(noisy, shapes_test.concept_table, y,
                                       generator=ShapesGenerator(), cv=4, scoring="roc_auc",
                                       n_repeats=2, random_state=0, stability_threshold=0.7)
    assert not result.stable
    assert result.rank_agreement < 0.7


def test_refit_shares_images_through_the_cache(shapes_test):
    concepts = shapes_test.concept_table.iloc[:60]
    y = concepts["green square"].to_numpy()
    model = make_pipeline(FunctionTransformer(flatten), LogisticRegression(max_iter=300))
    counting = CountingGenerator()
    result = cross_validate_importance(model, concepts, y, generator=counting, cv=3,
                                       refit=True, scoring="roc_auc", n_repeats=2,
                                       random_state=0)
    assert len(result.estimators) == 3
    assert all(est is not model for est in result.estimators)
    # Training images are the baselines of the other folds: nothing is made twice.
    assert counting.n_images == len(set(counting.pairs))
    assert counting.n_images == sum(fold.n_images_distinct for fold in result.folds)
    green = list(result.concept_names).index("green square")
    assert np.argmax(result.importances_mean) == green


def test_refit_on_real_images_and_groups(shapes_test):
    concepts = shapes_test.concept_table
    y = concepts["blue circle"].to_numpy()
    groups = np.arange(len(y)) % 4
    model = make_pipeline(FunctionTransformer(flatten), LogisticRegression(max_iter=300))
    result = cross_validate_importance(model, concepts, y, generator=ShapesGenerator(),
                                       cv=GroupKFold(4), groups=groups, refit=True,
                                       X_images=shapes_test.images, scoring="roc_auc",
                                       n_repeats=2, random_state=0)
    for fold in result.folds:
        assert len(set(groups[fold.test])) == 1
        assert fold.diagnostics.checks["effective_generation"] in (True, False)
    assert np.argmax(result.importances_mean) == list(concepts.columns).index("blue circle")


def test_multi_metric_gives_one_summary_per_metric(bottleneck, shapes_test,
                                                   bottleneck_labels):
    result = cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                       generator=ShapesGenerator(), cv=2,
                                       scoring=["roc_auc", "accuracy"], n_repeats=2,
                                       random_state=0)
    assert set(result) == {"roc_auc", "accuracy"}
    assert result["accuracy"].fold_importances.shape == (2, 6)


def test_bad_inputs(bottleneck, shapes_test, bottleneck_labels):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels[:-1],
                                  generator=ShapesGenerator())
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                  generator=ShapesGenerator(), X_images=shapes_test.images[:3])


def test_refit_with_a_concept_bottleneck_gets_the_fold_concepts(shapes_train, shapes_test):
    from sklearn.base import clone

    from sklearn_depict import ConceptBottleneckClassifier, make_concept_labels

    y = make_concept_labels(shapes_test.concept_table, shapes_train.weights)
    model = ConceptBottleneckClassifier(weights=shapes_train.weights)
    result = cross_validate_importance(model, shapes_test.concept_table, y,
                                       generator=ShapesGenerator(), cv=2, refit=True,
                                       X_images=shapes_test.images, scoring="roc_auc",
                                       n_repeats=2, random_state=0)
    for estimator, fold in zip(result.estimators, result.folds):
        assert estimator is not model
        # Fitted as by hand on the training fold, with its rows of the concept table.
        direct = clone(model).fit(shapes_test.images[fold.train], y[fold.train],
                                  concept_table=shapes_test.concept_table.iloc[fold.train])
        np.testing.assert_array_equal(estimator.predict_proba(shapes_test.images),
                                      direct.predict_proba(shapes_test.images))
    assert result.fold_importances.shape == (2, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_repeats": 0}, r"The 'n_repeats' parameter of cross_validate_importance must be"),
        ({"refit": "yes"}, r"The 'refit' parameter of cross_validate_importance"),
        ({"scoring": "not-a-metric"}, r"The 'scoring' parameter of cross_validate_importance"),
        ({"stability_threshold": 2.0},
         r"The 'stability_threshold' parameter of cross_validate_importance"),
        ({"stability_measure": "spearman"},
         r"The 'stability_measure' parameter of cross_validate_importance"),
    ],
)
def test_parameter_validation_names_cross_validate_importance(bottleneck, shapes_test,
                                                              bottleneck_labels, kwargs, match):
    from sklearn_depict._sklearn_compat import InvalidParameterError

    counting = CountingGenerator()
    with pytest.raises(InvalidParameterError, match=match):
        cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                  generator=counting, **kwargs)
    assert counting.n_images == 0


def test_generator_may_be_a_caption_to_image(bottleneck, shapes_test, bottleneck_labels):
    from sklearn_depict import CaptionToImage

    kwargs = dict(cv=2, scoring="roc_auc", n_repeats=2, random_state=0, ci_random_state=0)
    seeded = cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                       generator=CaptionToImage(ShapesGenerator(), seed=4),
                                       **kwargs)
    plain = cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                      generator=ShapesGenerator(), **kwargs)
    assert seeded.folds[0].plan.seeds != plain.folds[0].plan.seeds
    # The options of the first release live on CaptionToImage only.
    with pytest.raises(TypeError, match="unexpected keyword argument 'seed'"):
        cross_validate_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                  generator=ShapesGenerator(), seed=4, **kwargs)


def _folds(top_orders, n_nulls=6, seed=0):
    """Fold importances with the given top values, null concepts shuffled around 0."""
    rng = np.random.RandomState(seed)
    importances = np.array([list(top) + list(rng.normal(0, 0.005, n_nulls))
                            for top in top_orders])
    intervals = np.stack([importances - 0.02, importances + 0.02], axis=-1)
    return importances, intervals


def test_folds_that_agree_on_what_matters_are_stable():
    """The top two keep their order; only the null concepts reorder."""
    importances, intervals = _folds([[0.30, 0.15], [0.28, 0.17], [0.33, 0.12],
                                     [0.29, 0.16], [0.31, 0.14]])
    agreement, compared = fold_agreement(importances, intervals)
    assert agreement == pytest.approx(1.0) and compared.tolist() == [0, 1]
    # The plain tau over all concepts is dragged down by the noise.
    kendall, _ = fold_agreement(importances, intervals, measure="kendall_tau")
    assert kendall < 0.7


def test_folds_that_swap_what_matters_are_not_stable():
    importances, intervals = _folds([[0.30, 0.15], [0.15, 0.30], [0.30, 0.15],
                                     [0.15, 0.30]])
    agreement, compared = fold_agreement(importances, intervals)
    assert agreement < 0 and compared.tolist() == [0, 1]
    # A concept that matters in one fold only is compared too.
    importances, intervals = _folds([[0.30, 0.0], [0.0, 0.30]])
    agreement, compared = fold_agreement(importances, intervals)
    assert agreement == pytest.approx(-1.0) and compared.tolist() == [0, 1]


def test_fold_agreement_without_intervals_compares_the_top_concepts():
    importances, _ = _folds([[0.30, 0.15], [0.28, 0.17], [0.33, 0.12]])
    agreement, compared = fold_agreement(importances)
    # No interval shows anything above zero: only the (shared) top concept.
    assert agreement == 1.0 and compared.tolist() == [0]
    nan_intervals = np.full(importances.shape + (2,), np.nan)
    assert fold_agreement(importances, nan_intervals)[1].tolist() == [0]
    assert np.isnan(fold_agreement(importances[:1])[0])
    with pytest.raises(ValueError, match="measure must be one of"):
        fold_agreement(importances, measure="spearman")


def test_one_relied_on_concept_and_reordered_noise_is_stable(red_circle_clf, shapes_test):
    """End to end: the verdict follows the concept the model relies on, not the noise."""
    model = red_circle_clf
    y = shapes_test.concept_table["red circle"].to_numpy()
    kwargs = dict(generator=ShapesGenerator(), cv=3, scoring="roc_auc", n_repeats=3,
                  random_state=0, ci_random_state=0)
    result = cross_validate_importance(model, shapes_test.concept_table, y, **kwargs)
    assert result.stability_measure == "weighted_tau"
    assert result.stability_concepts.tolist() == ["red circle"]
    assert result.stable and result.rank_agreement == 1.0
    # The plain tau, kept as a secondary figure, is what used to decide.
    assert result.rank_agreement_kendall < 0.7
    plain = cross_validate_importance(model, shapes_test.concept_table, y,
                                      stability_measure="kendall_tau", **kwargs)
    assert plain.stability_measure == "kendall_tau" and not plain.stable
    assert plain.rank_agreement == result.rank_agreement_kendall
    assert len(plain.stability_concepts) == 6


def test_fold_agreement_with_a_fold_of_nan():
    importances = np.array([[0.3, 0.1, 0.0], [np.nan, np.nan, np.nan], [0.25, 0.1, 0.01]])
    agreement, compared = fold_agreement(importances)
    assert compared.tolist() == [0] and agreement == 1.0
    # Only the pair of scored folds counts: they swap the top two.
    importances[2] = [0.1, 0.25, 0.01]
    assert fold_agreement(importances)[0] == pytest.approx(-1.0)
    assert fold_agreement(importances, measure="kendall_tau")[0] == pytest.approx(1 / 3)
