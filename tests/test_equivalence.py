"""The correctness contract: depict_importance equals sklearn on the pipeline.

``depict_importance(est, X, y, generator=g, **kw)`` must equal
``permutation_importance(make_pipeline(CaptionToImage(g), est), X, y, **kw)``
to 1e-12, for the same random_state, scoring, n_repeats, sample_weight and
max_samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import accuracy_score, make_scorer, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch

from sklearn_depict import CaptionToImage, ShapesGenerator, depict_importance

N_REPEATS = 3


def _auc_callable(estimator, X, y, sample_weight=None):
    return roc_auc_score(y, estimator.predict_proba(X)[:, 1], sample_weight=sample_weight)


SCORINGS = {
    "default": None,
    "roc_auc": "roc_auc",
    "neg_log_loss": "neg_log_loss",
    "make_scorer": make_scorer(accuracy_score),
    "callable": _auc_callable,
    "list": ["roc_auc", "accuracy"],
    "dict": {"auc": "roc_auc", "acc": make_scorer(accuracy_score)},
}


def _assert_same(ours, theirs):
    if isinstance(theirs, Bunch):
        theirs = {"": theirs}
        ours = {"": ours}
    assert set(ours) == set(theirs)
    for name in theirs:
        for key in ("importances", "importances_mean", "importances_std"):
            np.testing.assert_allclose(ours[name][key], theirs[name][key], rtol=0, atol=1e-12)


def _both(estimator, X, y, **kwargs):
    generator = ShapesGenerator()
    kwargs.setdefault("n_repeats", N_REPEATS)
    ours = depict_importance(estimator, X, y, generator=generator, **kwargs)
    pipeline = make_pipeline(CaptionToImage(generator), estimator)
    theirs = permutation_importance(pipeline, X, y, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("scoring", SCORINGS.values(), ids=SCORINGS.keys())
@pytest.mark.parametrize("max_samples", [1.0, 0.5, 37])
def test_equals_sklearn_on_dataframe(bottleneck, shapes_test, bottleneck_labels, scoring,
                                     max_samples):
    ours, theirs = _both(bottleneck, shapes_test.concept_table, bottleneck_labels,
                         scoring=scoring, max_samples=max_samples, random_state=0)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("scoring", ["roc_auc", None, ["roc_auc", "neg_log_loss"]])
def test_equals_sklearn_with_sample_weight(bottleneck, shapes_test, bottleneck_labels,
                                           scoring):
    weights = np.random.RandomState(0).uniform(0, 2, len(bottleneck_labels))
    for max_samples in (1.0, 0.6):
        ours, theirs = _both(bottleneck, shapes_test.concept_table, bottleneck_labels,
                             scoring=scoring, sample_weight=weights, random_state=7,
                             max_samples=max_samples)
        _assert_same(ours, theirs)


@pytest.mark.parametrize("random_state", [None, 0, np.random.RandomState(42)])
def test_equals_sklearn_for_every_kind_of_random_state(bottleneck, shapes_test,
                                                       bottleneck_labels, random_state):
    if random_state is None:
        # Both draw from numpy's global state; give them the same starting point.
        np.random.seed(3)  # noqa: NPY002 (sklearn reads the legacy global state)
        ours = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                 generator=ShapesGenerator(), n_repeats=N_REPEATS)
        np.random.seed(3)  # noqa: NPY002 (sklearn reads the legacy global state)
        theirs = permutation_importance(
            make_pipeline(CaptionToImage(ShapesGenerator()), bottleneck),
            shapes_test.concept_table, bottleneck_labels, n_repeats=N_REPEATS,
        )
    else:
        state = random_state
        if isinstance(state, np.random.RandomState):
            ours_state, theirs_state = (np.random.RandomState(42), np.random.RandomState(42))
        else:
            ours_state = theirs_state = state
        ours = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                 generator=ShapesGenerator(), n_repeats=N_REPEATS,
                                 random_state=ours_state)
        theirs = permutation_importance(
            make_pipeline(CaptionToImage(ShapesGenerator()), bottleneck),
            shapes_test.concept_table, bottleneck_labels, n_repeats=N_REPEATS,
            random_state=theirs_state,
        )
    _assert_same(ours, theirs)


def test_equals_sklearn_on_text_array(bottleneck, shapes_test, bottleneck_labels):
    concepts = shapes_test.concept_table
    phrases = np.column_stack(
        [np.where(concepts[c] == 1, c, "") for c in concepts.columns]
    ).astype(object)
    ours, theirs = _both(bottleneck, phrases, bottleneck_labels, scoring="roc_auc",
                         random_state=0)
    _assert_same(ours, theirs)


def test_equals_sklearn_with_custom_index_and_mixed_columns(red_circle_clf, shapes_test):
    """Index labels, not positions, fix the seeds; count and text columns caption."""
    concepts = shapes_test.concept_table
    table = pd.DataFrame(
        {
            "red circle": concepts["red circle"].to_numpy().astype(bool),
            "blue square": concepts["blue square"].to_numpy() * 2,
            "extra": np.where(concepts["green circle"] == 1, "green circle", ""),
        },
        index=pd.Index([f"img-{i:03d}" for i in range(len(concepts))][::-1], name="id"),
    )
    y = concepts["red circle"].to_numpy()
    generator = ShapesGenerator(max_count=2)
    ours = depict_importance(red_circle_clf, table, y, generator=generator,
                             scoring="roc_auc", random_state=1, n_repeats=N_REPEATS)
    theirs = permutation_importance(make_pipeline(CaptionToImage(generator), red_circle_clf),
                                    table, y, scoring="roc_auc", random_state=1,
                                    n_repeats=N_REPEATS)
    _assert_same(ours, theirs)
    assert np.any(ours.importances != 0)


def _pixel_logistic_regression(train, dtype):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer

    as_dtype = FunctionTransformer(lambda X: np.asarray(X, dtype=dtype).reshape(len(X), -1))
    clf = make_pipeline(as_dtype, LogisticRegression(max_iter=300))
    return clf.fit(train.images, train.concept_table["red circle"].to_numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_contract_boundary_batch_dependent_float32_outputs(shapes_train, shapes_test, dtype):
    """The contract holds for per-row outputs that do not depend on the batch.

    The engine predicts chunks of ``batch_size`` images; sklearn predicts all
    rows at once. A float64 model gives each row the same output in any
    batch, so the two agree to 1e-12. A float32 model's matrix product is
    blocked differently for different batch sizes, which moves a row's output
    in its last bits (~1e-7): the importances then agree to that level only.
    """
    clf = _pixel_logistic_regression(shapes_train, dtype)
    X, y = shapes_test.concept_table, shapes_test.concept_table["red circle"].to_numpy()
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=len(y))
    kwargs = dict(scoring="neg_log_loss", n_repeats=N_REPEATS, random_state=0,
                  sample_weight=weights)
    generator = ShapesGenerator()
    ours = depict_importance(clf, X, y, generator=CaptionToImage(generator, batch_size=7),
                             **kwargs)
    theirs = permutation_importance(make_pipeline(CaptionToImage(generator), clf), X, y,
                                    **kwargs)
    difference = np.max(np.abs(ours.importances - theirs.importances))
    if dtype is np.float64:
        assert difference <= 1e-12
    else:
        assert difference <= 1e-6, difference
