"""The exact oracle of (conditional) DEPICT (datasets/oracle.py) on correlated shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.inspection import permutation_importance

from sklearn_depict import (
    ConceptBottleneckClassifier,
    ConditioningWarning,
    ShapesGenerator,
    concept_permutation_importance,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict.models.bottleneck import ConceptHead

CORRELATED = {("red circle", "blue square"): 0.9}


@pytest.fixture(scope="module")
def correlated_test():
    return make_shapes_dataset(200, random_state=5, dependence=CORRELATED)


def _bottleneck(train, weights, threshold=None):
    y = make_concept_labels(train.concept_table, weights, threshold=threshold)
    return ConceptBottleneckClassifier(weights=weights, threshold=threshold).fit(
        train.images, y, concept_table=train.concept_table)


def _both(model, table, y, **kwargs):
    kwargs = dict(scoring="roc_auc", n_repeats=5, random_state=0, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConditioningWarning)
        ours = depict_importance(model, table, y, generator=ShapesGenerator(), **kwargs)
        oracle = concept_permutation_importance(ConceptHead(model).fit(), table, y, **kwargs)
    return ours, oracle


@pytest.mark.parametrize("max_samples", [1.0, 0.7])
def test_marginal_oracle_is_sklearns_permutation_importance(bottleneck, correlated_test,
                                                            max_samples):
    head = ConceptHead(bottleneck).fit()
    table = correlated_test.concept_table
    y = make_concept_labels(table, bottleneck.coef_)
    ours = concept_permutation_importance(head, table, y, scoring="roc_auc", n_repeats=3,
                                          random_state=0, max_samples=max_samples)
    theirs = permutation_importance(head, table, y, scoring="roc_auc", n_repeats=3,
                                    random_state=0, max_samples=max_samples)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)
    assert "conditioning" not in ours


@pytest.mark.parametrize("conditioning", [None, "auto", {"red circle": ["blue square"]}],
                         ids=["marginal", "auto", "dict"])
def test_depict_matches_the_oracle_on_correlated_shapes(shapes_train, correlated_test,
                                                        conditioning):
    model = _bottleneck(shapes_train, shapes_train.weights)
    table = correlated_test.concept_table
    y = make_concept_labels(table, shapes_train.weights)
    ours, oracle = _both(model, table, y, conditioning=conditioning)
    assert ours.get("conditioning") == oracle.get("conditioning")
    # The renderer draws every caption exactly and the bottleneck reads it back:
    # DEPICT on images is the oracle on the concepts, up to the detector's rare misses.
    np.testing.assert_allclose(ours.importances_mean, oracle.importances_mean, atol=0.02)
    assert np.corrcoef(ours.importances_mean, oracle.importances_mean)[0, 1] > 0.99


def test_conditional_and_marginal_disagree_when_a_correlate_is_unused(shapes_train,
                                                                      correlated_test):
    """The model uses 'red circle' only; 'blue square' tracks it (latent r = 0.9)."""
    weights = np.array([1.0, 0, 0, 0, 0, 0])
    model = _bottleneck(shapes_train, weights, threshold=0.5)
    table = correlated_test.concept_table
    y = make_concept_labels(table, weights, threshold=0.5)
    marginal, marginal_oracle = _both(model, table, y)
    conditional, conditional_oracle = _both(model, table, y,
                                            conditioning={"red circle": ["blue square"]})
    # Up to the detector's rare misses on a render.
    np.testing.assert_allclose(conditional.importances, conditional_oracle.importances,
                               atol=0.02)
    np.testing.assert_allclose(marginal.importances, marginal_oracle.importances, atol=0.02)
    assert (conditional_oracle.importances_mean[0]
            <= 0.5 * marginal_oracle.importances_mean[0])
    assert conditional.importances_mean[0] <= 0.5 * marginal.importances_mean[0]
    assert marginal.importances_mean[0] > 0.2
    info = conditional.conditioning["red circle"]
    assert info["changed_fraction"] < 0.5 * info["marginal_changed_fraction"]


def test_independent_concepts_agree_under_both(shapes_train):
    weights = np.array([1.0, 0, 0, 0, 0, 0])
    model = _bottleneck(shapes_train, weights, threshold=0.5)
    table = make_shapes_dataset(200, random_state=5).concept_table
    y = make_concept_labels(table, weights, threshold=0.5)
    marginal, _ = _both(model, table, y)
    conditional, _ = _both(model, table, y, conditioning="auto")
    assert conditional.importances_mean[0] == pytest.approx(marginal.importances_mean[0],
                                                            rel=0.25)
