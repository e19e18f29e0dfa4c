"""What the package relies on in scikit-learn, checked on the installed version.

Each test fails loudly when a scikit-learn release changes something the
package replicates or reads: the random draws of ``permutation_importance``,
the private parts of its scorers, its parameter validation.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from sklearn.metrics import check_scoring, get_scorer, get_scorer_names, make_scorer

from sklearn_depict._engine.plan import permutation_indices
from sklearn_depict._sklearn_compat import (
    MIN_SKLEARN,
    SKLEARN_VERSION,
    release,
    scorer_parts,
    scorer_response_method,
)
from sklearn_depict.stats.replay import PREDICTION_METHODS, needed_methods


def _sklearn_draws(n_samples, n_features, n_repeats, max_samples, random_state):
    """The columns sklearn's permutation_importance scores, in the order it scores them.

    Each column of X holds the row numbers, so every matrix the scorer sees
    says which row's value each position shows.
    """
    X = np.repeat(np.arange(n_samples, dtype=float)[:, None], n_features, axis=1)
    y = np.arange(n_samples) % 2
    seen = []

    def recording_scorer(estimator, X_scored, y_scored):
        seen.append(np.asarray(X_scored).copy())
        return 0.0

    permutation_importance(
        DummyClassifier().fit(X, y), X, y, scoring=recording_scorer, n_repeats=n_repeats,
        max_samples=max_samples, random_state=random_state, n_jobs=None,
    )
    baseline, permuted = seen[0], seen[1:]
    assert np.array_equal(baseline[:, 0], np.arange(n_samples))
    return np.asarray(permuted).reshape(n_features, n_repeats, -1, n_features)


@pytest.mark.parametrize(
    "n_samples, max_samples, seed",
    [(7, 1.0, 0), (20, 1.0, 42), (20, 0.5, 0), (23, 9, 3), (12, 0.75, None)],
)
def test_permutation_indices_match_sklearn_draws(n_samples, max_samples, seed):
    """The replicated draws are the ones the installed scikit-learn makes.

    Compared with what ``permutation_importance`` really shows a scorer (not
    with a copy of its algorithm): the subsampled rows, and for every column
    and repeat the permuted column, the other columns left as they were.
    """
    n_features, n_repeats = 3, 4
    # An int, or a RandomState in the same state for both (None cannot be replayed).
    states = [seed, seed] if seed is not None else [np.random.RandomState(5) for _ in "ab"]
    theirs = _sklearn_draws(n_samples, n_features, n_repeats, max_samples, states[0])
    n_scored = theirs.shape[2]
    if isinstance(max_samples, float):
        assert n_scored == int(max_samples * n_samples)
    rows, permutations = permutation_indices(states[1], n_samples, n_scored, n_repeats)
    for j in range(n_features):
        for r in range(n_repeats):
            shown = theirs[j, r]
            expected = np.repeat(rows[:, None], n_features, axis=1).astype(float)
            expected[:, j] = rows[permutations[r]]
            np.testing.assert_array_equal(
                shown, expected,
                err_msg=f"scikit-learn {sklearn.__version__} changed the draws of "
                f"permutation_importance (column {j}, repeat {r}); update "
                "sklearn_depict._engine.plan.permutation_indices",
            )


def test_the_installed_sklearn_is_supported():
    assert SKLEARN_VERSION >= MIN_SKLEARN
    assert release(sklearn.__version__) == SKLEARN_VERSION


@pytest.mark.parametrize("name", sorted(get_scorer_names()))
def test_every_named_scorer_says_which_method_it_calls(name):
    """If the private attribute moved, the fast path would silently predict everything."""
    method = scorer_response_method(get_scorer(name))
    assert method is not None
    methods = (method,) if isinstance(method, str) else method
    assert set(methods) <= set(PREDICTION_METHODS)


def test_response_method_of_custom_and_plain_scorers():
    from sklearn.metrics import average_precision_score

    custom = make_scorer(average_precision_score, response_method="predict_proba")
    assert scorer_response_method(custom) == "predict_proba"
    assert scorer_response_method(lambda est, X, y: 0.0) is None
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    assert needed_methods(custom, ("predict", "predict_proba"), default=False) == {
        "predict_proba"
    }
    # A plain callable may call anything the model offers.
    assert needed_methods(lambda est, X, y: 0.0, ("predict", "predict_proba"), False) == {
        "predict", "predict_proba"
    }
    assert scorer_parts(check_scoring(model, scoring="roc_auc")) is None


def test_parts_of_multimetric_scorers():
    classifier = DummyClassifier().fit([[0], [1]], [0, 1])
    parts = scorer_parts(check_scoring(classifier, scoring={"a": "accuracy", "p": "roc_auc"}))
    assert sorted(parts) == ["a", "p"]
    assert scorer_response_method(parts["a"]) == "predict"
    methods = needed_methods(
        check_scoring(classifier, scoring=["accuracy", "neg_log_loss"]),
        ("predict", "predict_proba"), default=False,
    )
    assert methods == {"predict", "predict_proba"}
    regressor = DummyRegressor().fit([[0], [1]], [0.0, 1.0])
    parts = scorer_parts(check_scoring(regressor, scoring=("r2", "neg_mean_absolute_error")))
    assert {scorer_response_method(p) for p in parts.values()} == {"predict"}


@pytest.mark.parametrize(
    "text, expected",
    [("1.6.1", (1, 6)), ("1.10.0rc1", (1, 10)), ("2", (2, 0)), ("1.7.dev0", (1, 7))],
)
def test_release(text, expected):
    assert release(text) == expected


def test_without_sklearn_private_validation_the_stand_ins_take_over():
    """A release that drops the private module degrades to unvalidated calls."""
    code = (
        "import importlib, sys, sklearn_depict;"
        "from sklearn_depict import _sklearn_compat as compat;"
        "sys.modules['sklearn.utils._param_validation'] = None;"
        "compat = importlib.reload(compat);"
        "assert compat.validate_params.__module__ == compat.__name__;"
        "f = lambda a: a;"
        "assert compat.validate_params({'a': [compat.Interval(compat.Integral, 0, None,"
        " closed='left')]}, prefer_skip_nested_validation=True)(f) is f;"
        "assert isinstance(0.5, compat.RealNotInt) and not isinstance(1, compat.RealNotInt);"
        "assert issubclass(compat.InvalidParameterError, ValueError);"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_log_loss_dtype_is_the_precision_sklearn_uses(dtype):
    from sklearn.metrics import log_loss

    from sklearn_depict._sklearn_compat import log_loss_dtype

    rng = np.random.RandomState(0)
    p = rng.rand(50).astype(dtype)
    proba = np.column_stack([1 - p, p])
    y = rng.randint(0, 2, 50)
    eps = np.finfo(dtype).eps
    clipped = np.clip(proba, eps, 1 - eps).astype(log_loss_dtype(dtype))
    ours = np.average(-np.log(clipped)[np.arange(50), y])
    assert float(ours) == pytest.approx(log_loss(y, proba), rel=0, abs=1e-15)
