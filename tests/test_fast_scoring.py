"""The vectorised named scorers equal sklearn's, repeat by repeat.

Hypothesis draws stored predictions with many ties (values on a coarse grid),
constant predictions, labels that may hold a single class, and weights with
zeros; every repeat's fast score is compared with sklearn's own scorer on an
estimator that returns the same predictions. Where sklearn warns, returns NaN
or raises, the fast scorer must do the same.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer

from sklearn_depict.stats.fast_scoring import FAST_SCORERS, make_fast_scorer
from sklearn_depict.stats.replay import make_replay

BINARY = ["roc_auc", "average_precision", "neg_log_loss", "accuracy", "balanced_accuracy",
          "f1", "roc_auc_ovr", "roc_auc_ovo_weighted"]
MULTICLASS = ["roc_auc_ovr", "roc_auc_ovr_weighted", "roc_auc_ovo", "roc_auc_ovo_weighted",
              "neg_log_loss", "accuracy", "balanced_accuracy"]
REGRESSION = ["r2", "neg_mean_squared_error", "neg_mean_absolute_error"]


class StoredClassifier(ClassifierMixin, BaseEstimator):
    """Answers every prediction method from arrays indexed by X."""

    def __init__(self, classes, outputs):
        self.classes = classes
        self.outputs = outputs

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict(self, X):
        return self.outputs["predict"][np.asarray(X)]

    def predict_proba(self, X):
        return self.outputs["predict_proba"][np.asarray(X)]

    def decision_function(self, X):
        return self.outputs["decision_function"][np.asarray(X)]


class StoredRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, outputs):
        self.outputs = outputs

    def fit(self, X=None, y=None):
        self.fitted_ = True
        return self

    def predict(self, X):
        return self.outputs["predict"][np.asarray(X)]


def _outcome(call):
    """(value, error type, warning categories) of a scoring call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except ValueError as exc:
            return None, type(exc), set()
    return value, None, {type(w.message) for w in caught}


def _same(ours, theirs):
    assert ours[1] == theirs[1]
    if theirs[1] is None:
        assert ours[2] == theirs[2]
        np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-12)


def _check(name, model, stored, method, ids, y, weight):
    """Compare the fast scorer with sklearn on every repeat."""
    replay = make_replay(model, (method,))
    scorer = get_scorer(name)
    kwargs = {} if weight is None else {"sample_weight": weight}
    theirs = [_outcome(lambda row=row: scorer(model, row, y, **kwargs)) for row in ids]
    try:
        fast = make_fast_scorer(name, replay=replay, y=y, sample_weight=weight)
    except ValueError:
        # Refused before scoring: sklearn fails on every repeat too.
        assert all(t[1] is ValueError for t in theirs)
        return None
    if fast is None:
        return None
    assert fast.method == method
    ours = []
    for row in ids:  # one repeat at a time, to pin each repeat's warnings
        ours.append(_outcome(lambda row=row: fast.score(stored, row[None])[0]))
    for o, t in zip(ours, theirs):
        _same(o, t)
    if all(t[1] is None and not t[2] for t in theirs):
        together = fast.score(stored, ids)
        np.testing.assert_allclose(together, [t[0] for t in theirs], rtol=0, atol=1e-12)
    return fast


@st.composite
def cases(draw, n_classes=2, regression=False):
    n = draw(st.integers(2, 25))
    n_ids = draw(st.integers(1, 12))
    n_repeats = draw(st.integers(1, 4))
    ids = draw(st.lists(st.lists(st.integers(0, n_ids - 1), min_size=n, max_size=n),
                        min_size=n_repeats, max_size=n_repeats))
    constant = draw(st.booleans())
    grid = draw(st.sampled_from([2, 4, 10]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    if regression:
        y = rng.randint(0, grid, n).astype(float)
        values = rng.randint(0, grid, n_ids).astype(float)
    else:
        labels = rng.randint(0, n_classes, n)
        if draw(st.booleans()):  # a single class, as in a small subsample
            labels[:] = labels[0]
        y = labels
        counts = rng.multinomial(grid, [1 / n_classes] * n_classes, size=n_ids)
        values = counts / grid  # rows sum to one, with ties
    if constant:
        values[:] = values[0]
    weight = None
    if draw(st.booleans()):
        weight = rng.uniform(0, 2, n) * (rng.rand(n) > 0.3)
        if weight.sum() == 0:
            weight[0] = 1.0
    return np.asarray(ids), y, values, weight


def _settings():
    return settings(max_examples=50, deadline=None, derandomize=True, database=None)


@pytest.mark.slow
@pytest.mark.parametrize("name", BINARY)
@given(case=cases())
@_settings()
def test_binary_scorers_equal_sklearn(name, case):
    ids, y, proba, weight = case
    labels = (proba[:, 1] >= 0.5).astype(int)
    outputs = {"predict_proba": proba, "predict": labels,
               "decision_function": proba[:, 1] - 0.5}
    model = StoredClassifier([0, 1], outputs).fit()
    method = {"accuracy": "predict", "balanced_accuracy": "predict", "f1": "predict",
              "neg_log_loss": "predict_proba"}.get(name, "predict_proba")
    _check(name, model, outputs[method], method, ids, y, weight)


class _DecisionOnly(ClassifierMixin, BaseEstimator):
    def __init__(self, classes, outputs):
        self.classes = classes
        self.outputs = outputs

    def fit(self, X=None, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def decision_function(self, X):
        return self.outputs["decision_function"][np.asarray(X)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["roc_auc", "average_precision"])
@given(case=cases())
@_settings()
def test_ranking_on_decision_function_equals_sklearn(name, case):
    ids, y, proba, weight = case
    outputs = {"decision_function": proba[:, 1] * 4 - 2}
    model = _DecisionOnly([0, 1], outputs).fit()
    _check(name, model, outputs["decision_function"], "decision_function", ids, y, weight)


@pytest.mark.slow
@pytest.mark.parametrize("name", MULTICLASS)
@given(case=cases(n_classes=3))
@_settings()
def test_multiclass_scorers_equal_sklearn(name, case):
    ids, y, proba, weight = case
    outputs = {"predict_proba": proba, "predict": proba.argmax(axis=1)}
    model = StoredClassifier([0, 1, 2], outputs).fit()
    method = "predict" if name in ("accuracy", "balanced_accuracy") else "predict_proba"
    if "ovo" in name:
        weight = None
    _check(name, model, outputs[method], method, ids, y, weight)


@pytest.mark.slow
@pytest.mark.parametrize("name", REGRESSION)
@given(case=cases(regression=True))
@_settings()
def test_regression_scorers_equal_sklearn(name, case):
    ids, y, values, weight = case
    model = StoredRegressor({"predict": values}).fit()
    _check(name, model, values, "predict", ids, y, weight)


def test_every_fast_scorer_is_a_sklearn_scorer_name():
    from sklearn.metrics import get_scorer_names

    assert set(FAST_SCORERS) <= set(get_scorer_names())


def test_float32_log_loss_is_exact():
    rng = np.random.RandomState(0)
    p = rng.rand(40).astype(np.float32)
    proba = np.column_stack([1 - p, p])
    y = rng.randint(0, 2, 30)
    ids = rng.randint(0, 40, (5, 30))
    model = StoredClassifier([0, 1], {"predict_proba": proba}).fit()
    fast = _check("neg_log_loss", model, proba, "predict_proba", ids, y, None)
    assert fast is not None


def test_derivative_matches_finite_differences():
    """d score / d row weight, checked against sklearn with perturbed weights."""
    rng = np.random.RandomState(0)
    n = 30
    p = np.round(rng.rand(60), 1)
    proba = np.column_stack([1 - p, p])
    y = rng.randint(0, 2, n)
    ids = rng.randint(0, 60, (3, n))
    weight = rng.uniform(0.5, 2, n)
    # The ranking scorers prefer decision_function: give them the same scores.
    model = StoredClassifier([0, 1], {"predict_proba": proba, "decision_function": p}).fit()
    replay = make_replay(model, ("predict_proba",))
    for name in ("roc_auc", "average_precision", "neg_log_loss"):
        fast = make_fast_scorer(name, replay=replay, y=y, sample_weight=weight)
        _, derivative = fast.score(proba, ids, derivative=True)
        scorer = get_scorer(name)
        h = 1e-6
        numeric = np.zeros(n)
        for i in range(n):
            up, down = weight.copy(), weight.copy()
            up[i] *= 1 + h
            down[i] *= 1 - h
            numeric[i] = np.mean([
                scorer(model, row, y, sample_weight=up) - scorer(model, row, y, sample_weight=down)
                for row in ids
            ]) / (2 * h)
        np.testing.assert_allclose(derivative, numeric, atol=1e-6)


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("y_dtype, pred_dtype, weight_dtype", [
    (np.int64, np.float32, None),          # sklearn sums in float32: exact path
    (np.float32, np.float32, None),        # the same
    (np.int64, np.float32, np.float32),    # the same
    (np.float32, np.float32, np.float64),  # sklearn casts to float64 first
    (np.float64, np.float32, None),
    (np.float32, np.float64, None),
])
def test_float32_regression_scores_are_exact(name, y_dtype, pred_dtype, weight_dtype):
    """A float32 regressor's scores equal sklearn's to 1e-12, whatever it sums in.

    Integer targets with float32 predictions used to differ by ~1e-7 (sklearn
    sums them in float32), and the engine fell back with "Please report this".
    """
    rng = np.random.RandomState(0)
    values = rng.normal(size=200).astype(pred_dtype)
    y = (rng.normal(size=150) * 3).astype(y_dtype)
    weight = None if weight_dtype is None else rng.uniform(0.5, 2, 150).astype(weight_dtype)
    ids = rng.randint(0, 200, (4, 150))
    model = StoredRegressor({"predict": values}).fit()
    fast = _check(name, model, values, "predict", ids, y, weight)
    assert fast is not None
    _, derivative = fast.score(values, ids, derivative=True)
    # float64 sums: vectorised, with row contributions; float32 sums: sklearn's own.
    sums_dtype = np.result_type(*[np.dtype(d) for d in (y_dtype, pred_dtype, weight_dtype)
                                  if d is not None and np.dtype(d).kind == "f"])
    assert (derivative is None) == (sums_dtype != np.float64)


def test_float32_regressor_in_a_run_needs_no_fallback(shapes_test):
    """The issue's case: integer counts, a float32 regressor, scoring='r2'."""
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_depict import CaptionToImage, ShapesGenerator, depict_importance

    def flat32(images):
        return np.asarray(images, dtype=np.float32).reshape(len(images), -1)

    counts = shapes_test.concept_table.sum(axis=1).to_numpy()
    model = make_pipeline(FunctionTransformer(flat32), Ridge()).fit(shapes_test.images, counts)
    assert model.predict(shapes_test.images[:2]).dtype == np.float32
    kwargs = dict(scoring="r2", n_repeats=2, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="The vectorised")
        ours = depict_importance(model, shapes_test.concept_table, counts,
                                 generator=ShapesGenerator(), **kwargs)
    theirs = permutation_importance(make_pipeline(CaptionToImage(ShapesGenerator()), model),
                                    shapes_test.concept_table, counts, **kwargs)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)
