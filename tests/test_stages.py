"""The engine's stages hand on frozen values under the public names."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
from sklearn import config_context
from sklearn.dummy import DummyClassifier

from sklearn_depict import ShapesGenerator, depict_importance
from sklearn_depict._engine import run as engine
from sklearn_depict._engine.stages import CaptionOptions, Predictions, RunInputs, Scores
from sklearn_depict.stats.intervals import IntervalSettings


@pytest.fixture(autouse=True)
def as_the_public_functions_call_it():
    # The public functions validate their parameters once, not those of the
    # scikit-learn functions the engine calls with its stand-in estimator.
    with config_context(skip_parameter_validation=True):
        yield


@pytest.fixture
def stages(red_circle_clf, shapes_test):
    table = shapes_test.concept_table.iloc[:40]
    y = table["red circle"].to_numpy()
    inputs = engine.prepare(
        red_circle_clf, table, y, generator=ShapesGenerator(), scoring="roc_auc",
        n_repeats=3, random_state=0, sample_weight=None, max_samples=1.0, concepts=None,
        caption_options=CaptionOptions(),
    )  # fmt: skip
    detector = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
    detector.predict_proba = lambda images: np.full((len(images), 2), 0.5)
    predictions = engine.gather(inputs, detector=detector)
    scores = engine.score(inputs, predictions, derivatives=True)
    return inputs, predictions, scores


def test_each_stage_returns_a_frozen_value(stages):
    inputs, predictions, scores = stages
    for value, kind in zip(stages, (RunInputs, Predictions, Scores)):
        assert isinstance(value, kind)
        field = dataclasses.fields(value)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)
    for route in inputs.routes.values():
        with pytest.raises(dataclasses.FrozenInstanceError):
            route.scorer = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.plan.captions = []


def test_the_values_name_what_they_hold(stages):
    inputs, predictions, scores = stages
    n_distinct = inputs.plan.n_distinct
    # The detector's outputs have a name, not a position.
    assert predictions.detector_proba.shape == (n_distinct, 2)
    assert set(predictions.responses) == set(inputs.methods)
    metric = scores.metrics[None]
    n_concepts, n_repeats, n_scored = inputs.plan.permuted_ids.shape
    assert metric.permuted_scores.shape == (n_concepts, n_repeats)
    # The bootstrap's row derivatives are returned, not appended to the route.
    assert metric.derivatives.shape == (n_concepts, n_scored)
    assert metric.route is inputs.routes[None]


def test_scoring_leaves_the_earlier_values_alone(stages):
    inputs, predictions, scores = stages
    again = engine.score(inputs, predictions, derivatives=True)
    np.testing.assert_array_equal(again.metrics[None].permuted_scores,
                                  scores.metrics[None].permuted_scores)
    settings = IntervalSettings(ci_random_state=0)
    first = engine.finish(inputs, predictions, scores, settings)
    second = engine.finish(inputs, predictions, scores, settings)
    np.testing.assert_array_equal(first.importances_ci, second.importances_ci)
    assert first is not second and first.timings is not second.timings


def test_options_keep_their_public_names_down_to_the_engine():
    public = set(inspect.signature(depict_importance).parameters) - {
        "estimator", "X_captions", "y"}
    assert public <= set(inspect.signature(engine.explain).parameters)
    interval_options = {"confidence", "ci_method", "n_bootstraps", "ci_random_state",
                        "pvalue_correction"}
    assert {f.name for f in dataclasses.fields(IntervalSettings)} == interval_options


def test_a_disagreeing_fast_scorer_is_dropped_from_the_scores_not_the_inputs(stages,
                                                                            monkeypatch):
    from sklearn_depict.stats import fast_scoring

    inputs, predictions, _ = stages
    metric = fast_scoring.FAST_SCORERS["roc_auc"]
    original = type(metric).values

    def off_by_a_bit(self, pred, prep):
        values, degenerate = original(self, pred, prep)
        return values + 1e-6, degenerate

    monkeypatch.setattr(type(metric), "values", off_by_a_bit)
    with pytest.warns(RuntimeWarning, match="scoring repeat by repeat"):
        scores = engine.score(inputs, predictions, derivatives=False)
    assert scores.metrics[None].route.scorer is None
    assert inputs.routes[None].scorer is not None  # what prepare made is as it was
