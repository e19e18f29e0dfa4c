"""Everything that can be checked without images fails before the first is generated.

Each case runs with a generator that counts what it makes: a mistake found
from the estimator, the scorer, the target or the captions must cost zero
images; one that only predictions reveal costs the baseline images at most.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.metrics import make_scorer, precision_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import (
    CaptionToImage,
    ConceptCaptioner,
    FlattenImages,
    ShapesGenerator,
    depict_importance,
)


@pytest.fixture(scope="module")
def three_class(shapes_train):
    """A pixel classifier of which colour group a row's first shape belongs to (3 classes)."""
    y = _three_class_labels(shapes_train.concept_table)
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=500))
    return clf.fit(shapes_train.images[:600], y[:600])


def _three_class_labels(concepts):
    return np.select(
        [concepts["red circle"] == 1, concepts["green circle"] == 1], ["red", "green"], "other"
    )


class ProbaOnly:
    """A duck-typed classifier with predict_proba and classes_, but no predict."""

    def __init__(self, model):
        self.model = model
        self.classes_ = model.classes_

    def predict_proba(self, images):
        return self.model.predict_proba(images)


def test_roc_auc_on_a_three_class_target(three_class, shapes_test):
    counting = CountingGenerator()
    y = _three_class_labels(shapes_test.concept_table)
    with pytest.raises(ValueError, match=r"before generating any image.*roc_auc_ovr"):
        depict_importance(three_class, shapes_test.concept_table, y, generator=counting,
                          scoring="roc_auc")
    with pytest.raises(ValueError, match="multiclass"):
        depict_importance(three_class, shapes_test.concept_table, y, generator=counting,
                          scoring=["accuracy", "f1"])
    assert counting.n_images == 0
    # The scorer the message suggests works.
    result = depict_importance(three_class, shapes_test.concept_table, y, generator=counting,
                               scoring="roc_auc_ovr", n_repeats=2, random_state=0)
    assert result.importances.shape == (6, 2)


def test_default_scoring_needs_predict(red_circle_clf, shapes_test):
    counting = CountingGenerator()
    y = shapes_test.concept_table["red circle"].to_numpy()
    with pytest.raises(AttributeError, match=r"calls ProbaOnly.predict.*scoring='neg_log_loss'"):
        depict_importance(ProbaOnly(red_circle_clf), shapes_test.concept_table, y,
                          generator=counting)
    assert counting.n_images == 0
    result = depict_importance(ProbaOnly(red_circle_clf), shapes_test.concept_table, y,
                               generator=counting, scoring="neg_log_loss", n_repeats=2)
    assert result.concept_names[np.argmax(result.importances_mean)] == "red circle"


def test_regression_scorers_with_a_domain_are_not_refused(shapes_test):
    # Poisson deviance needs positive predictions: the stand-ins must respect
    # the target's range, or a valid run would be refused.
    counts = shapes_test.concept_table.sum(axis=1).to_numpy()
    reg = make_pipeline(FlattenImages(), PoissonRegressor(max_iter=300)).fit(
        shapes_test.images, counts)
    for scoring in ("neg_mean_poisson_deviance", "neg_mean_squared_log_error", "r2"):
        result = depict_importance(reg, shapes_test.concept_table, counts,
                                   generator=ShapesGenerator(), scoring=scoring, n_repeats=1)
        assert np.all(result.importances_mean > 0)
    with pytest.raises(ValueError, match="before generating any image.*negative"):
        depict_importance(reg, shapes_test.concept_table, counts - 10,
                          generator=CountingGenerator(),
                          scoring="neg_mean_poisson_deviance")


def test_one_class_in_y(red_circle_clf, shapes_test):
    counting = CountingGenerator()
    with pytest.raises(ValueError, match="before generating any image.*Only one class"):
        depict_importance(red_circle_clf, shapes_test.concept_table,
                          np.ones(len(shapes_test.target)),
                          generator=counting, scoring="roc_auc")
    assert counting.n_images == 0


def test_unknown_words_in_captions(red_circle_clf, shapes_test):
    counting = CountingGenerator(ShapesGenerator())
    snake = shapes_test.concept_table.rename(columns=lambda c: c.replace(" ", "_"))
    with pytest.raises(ValueError, match=r"outside the vocabulary.*'red_circle'.*strict=False"):
        depict_importance(red_circle_clf, snake, shapes_test.target, generator=counting)
    assert counting.n_images == 0


def test_a_bare_torch_module(shapes_test):
    torch = pytest.importorskip("torch")
    counting = CountingGenerator()
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32 * 3, 2))
    with pytest.raises(TypeError, match="TorchImageClassifier"):
        depict_importance(module, shapes_test.concept_table, shapes_test.target, generator=counting)
    assert counting.n_images == 0


def test_no_generator(red_circle_clf, shapes_test):
    with pytest.raises(TypeError, match="needs generator="):
        depict_importance(red_circle_clf, shapes_test.concept_table, shapes_test.target)


def test_errors_only_predictions_reveal_come_after_the_baseline(shapes_test):
    """A model that predicts one class gives an undefined precision on the baseline."""
    counting = CountingGenerator()
    constant = DummyClassifier(strategy="constant", constant=1).fit(
        shapes_test.images, shapes_test.target)
    never = make_scorer(precision_score, pos_label=0, zero_division=np.nan)
    with pytest.raises(ValueError, match="unpermuted captions .* gave NaN"):
        depict_importance(constant, shapes_test.concept_table, shapes_test.target,
                          generator=CaptionToImage(counting, batch_size=16), scoring=never,
                          n_repeats=5)
    # Exactly the baseline's pairs (one per row) were generated, no permuted one.
    assert counting.n_images == len(shapes_test.concept_table)
    assert [caption for caption, _ in counting.pairs] == ConceptCaptioner().captions(
        shapes_test.concept_table)


def test_baseline_pairs_are_generated_first(bottleneck, shapes_test, bottleneck_labels):
    counting = CountingGenerator()
    result = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                               generator=CaptionToImage(counting, batch_size=50),
                               scoring="roc_auc", n_repeats=3, random_state=0)
    plan = result.plan
    n_baseline = plan.n_baseline
    assert n_baseline == len(shapes_test.concept_table)
    baseline_pairs = set(zip(plan.captions[:n_baseline], plan.seeds[:n_baseline]))
    assert set(counting.pairs[:n_baseline]) == baseline_pairs
    assert counting.n_images == plan.n_distinct


# --------------------------------------------------------------------------- pipelines


@pytest.fixture(scope="module")
def caption_pipeline(shapes_test):
    y = shapes_test.concept_table["blue square"].to_numpy()
    pipe = make_pipeline(CaptionToImage(ShapesGenerator(), seed=3), FlattenImages(),
                         LogisticRegression(max_iter=500))
    return pipe.fit(shapes_test.concept_table, y), y


@pytest.mark.parametrize("scoring", [None, "roc_auc", ["accuracy", "neg_log_loss"]])
def test_a_caption_pipeline_is_explained_as_sklearn_explains_it(caption_pipeline, shapes_test,
                                                                scoring):
    pipe, y = caption_pipeline
    kwargs = dict(scoring=scoring, n_repeats=3, random_state=0)
    ours = depict_importance(pipe, shapes_test.concept_table, y, **kwargs)
    theirs = permutation_importance(pipe, shapes_test.concept_table, y, **kwargs)
    _assert_same(ours, theirs)
    first = ours if "importances" in ours else next(iter(ours.values()))
    # The pipeline's seed and generator were used, and no image twice.
    assert first.plan.seeds[0] != depict_importance(
        pipe[1:], shapes_test.concept_table, y, generator=ShapesGenerator(), n_repeats=1
    ).plan.seeds[0]
    assert first.n_images_generated == first.n_images_distinct


def test_a_search_over_a_caption_pipeline(shapes_test):
    y = shapes_test.concept_table["green circle"].to_numpy()
    pipe = make_pipeline(CaptionToImage(ShapesGenerator()), FlattenImages(),
                         LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0]}, cv=2,
                          scoring="roc_auc").fit(shapes_test.concept_table, y)
    kwargs = dict(n_repeats=2, random_state=0)
    ours = depict_importance(search, shapes_test.concept_table, y, **kwargs)
    theirs = permutation_importance(search, shapes_test.concept_table, y, **kwargs)
    _assert_same(ours, theirs)
    assert ours.concept_names[np.argmax(ours.importances_mean)] == "green circle"


def test_caption_pipeline_conflicts_and_early_errors(caption_pipeline, shapes_test):
    pipe, y = caption_pipeline
    with pytest.raises(ValueError, match="pipeline's is used"):
        depict_importance(pipe, shapes_test.concept_table, y, generator=ShapesGenerator())
    with pytest.raises(TypeError, match="unexpected keyword argument 'seed'"):
        depict_importance(pipe, shapes_test.concept_table, y, seed=5)  # lives on CaptionToImage
    with pytest.raises(ValueError, match="columns differ"):
        depict_importance(pipe, shapes_test.concept_table.iloc[:, ::-1], y)
    counting = CountingGenerator()
    counted = make_pipeline(CaptionToImage(counting), *[step for _, step in pipe.steps[1:]])
    with pytest.raises(ValueError, match="before generating any image"):
        depict_importance(counted, shapes_test.concept_table, np.ones_like(y), scoring="roc_auc")
    assert counting.n_images == 0


def _assert_same(ours, theirs):
    if "importances" in theirs:
        theirs, ours = {"": theirs}, {"": ours}
    assert set(ours) == set(theirs)
    for name in theirs:
        for key in ("importances", "importances_mean", "importances_std"):
            np.testing.assert_allclose(ours[name][key], theirs[name][key], rtol=0, atol=1e-12)


def test_concept_table_array_with_a_caption_pipeline(shapes_test):
    names = list(shapes_test.concept_table.columns)
    X = shapes_test.concept_table.to_numpy()
    y = shapes_test.concept_table["red square"].to_numpy()
    pipe = make_pipeline(CaptionToImage(ShapesGenerator(), concept_names=names),
                         FlattenImages(), LogisticRegression(max_iter=500)).fit(X, y)
    ours = depict_importance(pipe, X, y, scoring="roc_auc", n_repeats=2, random_state=0)
    theirs = permutation_importance(pipe, X, y, scoring="roc_auc", n_repeats=2, random_state=0)
    _assert_same(ours, theirs)
    assert list(ours.concept_names) == names
