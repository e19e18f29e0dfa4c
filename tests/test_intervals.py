"""Fast scoring in the engine, row-bootstrap intervals, p-values and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import CaptionToImage, ShapesGenerator, depict_importance
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.stats.bootstrap import (
    bootstrap_counts,
    holm_adjust,
    linear_replicates,
    replicate_pvalues,
)


@pytest.fixture
def small(shapes_test, bottleneck_labels):
    return shapes_test.concept_table.iloc[:60], bottleneck_labels[:60]


def _run(model, table, y, generator=None, **kwargs):
    kwargs.setdefault("n_repeats", 4)
    kwargs.setdefault("random_state", 0)
    return depict_importance(model, table, y, generator=generator or ShapesGenerator(),
                             **kwargs)


# ----------------------------------------------------------------- fast scoring


@pytest.mark.slow
@pytest.mark.parametrize("scoring", ["average_precision", "f1", "balanced_accuracy",
                                     "neg_mean_squared_error"])
def test_more_named_scorers_equal_sklearn_on_the_pipeline(bottleneck, small, scoring):
    table, y = small
    weights = np.random.RandomState(0).uniform(0, 2, len(y))
    ours = _run(bottleneck, table, y, scoring=scoring, sample_weight=weights, max_samples=0.7)
    theirs = permutation_importance(make_pipeline(CaptionToImage(ShapesGenerator()), bottleneck),
                                    table, y, scoring=scoring, sample_weight=weights,
                                    max_samples=0.7, n_repeats=4, random_state=0)
    assert ours.fast_scoring
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)


def test_scorer_objects_and_callables_keep_the_exact_path(bottleneck, small):
    table, y = small
    fast = _run(bottleneck, table, y, scoring="roc_auc")
    exact = _run(bottleneck, table, y, scoring=get_scorer("roc_auc"))
    assert fast.fast_scoring and not exact.fast_scoring
    np.testing.assert_allclose(fast.importances, exact.importances, rtol=0, atol=1e-12)
    mixed = _run(bottleneck, table, y,
                 scoring={"auc": "roc_auc", "own": get_scorer("accuracy")})
    assert mixed["auc"].fast_scoring and not mixed["own"].fast_scoring


def test_a_disagreeing_fast_scorer_falls_back_to_sklearn(bottleneck, small, monkeypatch):
    from sklearn_depict.stats import fast_scoring

    table, y = small
    expected = _run(bottleneck, table, y, scoring="roc_auc", ci_method="t")
    metric = fast_scoring.FAST_SCORERS["roc_auc"]
    original = type(metric).values

    def off_by_a_bit(self, pred, prep):
        values, degenerate = original(self, pred, prep)
        return values + 1e-6, degenerate

    monkeypatch.setattr(type(metric), "values", off_by_a_bit)
    with pytest.warns(RuntimeWarning, match="scoring repeat by repeat"):
        result = _run(bottleneck, table, y, scoring="roc_auc", ci_method="t")
    assert not result.fast_scoring
    np.testing.assert_allclose(result.importances, expected.importances, rtol=0, atol=1e-12)


# ------------------------------------------------------------------- intervals


def test_bootstrap_is_the_default_and_reproducible(bottleneck, small):
    table, y = small
    first = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=3)
    again = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=3)
    other = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=4)
    assert first.ci_method == "bootstrap"
    np.testing.assert_array_equal(first.importances_ci, again.importances_ci)
    np.testing.assert_array_equal(first.pvalues, again.pvalues)
    assert not np.array_equal(first.importances_ci, other.importances_ci)
    # The intervals never change the permutations.
    np.testing.assert_array_equal(first.importances, other.importances)


def test_bootstrap_intervals_are_wider_than_t_and_cover_the_mean(bottleneck, small):
    table, y = small
    boot = _run(bottleneck, table, y, scoring="roc_auc", n_repeats=20, ci_random_state=0)
    t = _run(bottleneck, table, y, scoring="roc_auc", n_repeats=20, ci_method="t")
    boot_width = np.diff(boot.importances_ci, axis=1).ravel()
    t_width = np.diff(t.importances_ci, axis=1).ravel()
    top = np.argmax(boot.importances_mean)
    assert boot_width[top] > t_width[top]
    assert boot.importances_ci[top, 0] <= boot.importances_mean[top]
    assert boot.importances_mean[top] <= boot.importances_ci[top, 1]
    assert boot.pvalues[top] < 0.05
    assert t.ci_method == "t" and np.all((t.pvalues >= 0) & (t.pvalues <= 1))


def _brute_force_replicates(plan, replay, y, counts, scorer_name):
    """Rescore every repeat of every resample with sklearn (the definition)."""
    scorer = get_scorer(scorer_name)
    replicates = []
    for count in counts:
        rows = np.repeat(np.arange(len(y)), count)
        base = scorer(replay, plan.baseline_ids[rows], y[rows])
        drops = [[base - scorer(replay, ids[rows], y[rows]) for ids in concept]
                 for concept in plan.permuted_ids]
        replicates.append(np.mean(drops, axis=1))
    return np.array(replicates)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["accuracy", "roc_auc"])
def test_linear_replicates_against_rescoring_every_repeat(bottleneck, small, name):
    """Exact for accuracy; first order, and close, for ROC AUC."""
    # The finish stage scores the plan: capture the stand-in it scores with.
    from sklearn_depict._engine import finish as engine_run

    table, y = small
    captured = {}
    original = engine_run.score_plan

    def capture(plan, replay, *args, **kwargs):
        captured["replay"] = replay
        return original(plan, replay, *args, **kwargs)

    engine_run.score_plan = capture
    try:
        result = _run(bottleneck, table, y, scoring=name, n_repeats=3, ci_random_state=0,
                      n_bootstraps=40)
    finally:
        engine_run.score_plan = original
    replay = captured["replay"]
    y = np.asarray(y)
    counts = next(bootstrap_counts(len(y), 40, random_state=1))
    brute = _brute_force_replicates(result.plan, replay, y, counts, name)
    from sklearn_depict.stats.fast_scoring import make_fast_scorer

    fast = make_fast_scorer(name, replay=replay, y=y)
    method = fast.method
    stored = replay.responses_[method]
    _, base_d = fast.score(stored, result.plan.baseline_ids[None], derivative=True)
    perm_d = np.array([fast.score(stored, ids, derivative=True)[1]
                       for ids in result.plan.permuted_ids])
    linear = linear_replicates(result.importances_mean, base_d, perm_d,
                               result.plan.row_indices, counts)
    if name == "accuracy":
        np.testing.assert_allclose(linear, brute, rtol=0, atol=1e-12)
    else:
        spread = brute.std(axis=0)
        assert np.all(np.abs(linear - brute).mean(axis=0) < 0.35 * spread + 1e-3)
        np.testing.assert_allclose(linear.std(axis=0), spread, rtol=0.35, atol=2e-3)


def test_custom_scorer_bootstrap_rescoring(bottleneck, small):
    table, y = small

    def accuracy(estimator, X, y_true, sample_weight=None):
        return float(np.average(estimator.predict(X) == y_true, weights=sample_weight))

    result = _run(bottleneck, table, y, scoring=accuracy, n_bootstraps=30, ci_random_state=0)
    assert not result.fast_scoring
    assert np.all(result.importances_ci[:, 0] <= result.importances_ci[:, 1])
    assert np.isfinite(result.importances_ci).all()


def test_pvalues_holm_and_ranking_follow_the_intervals(bottleneck, small):
    table, y = small
    raw = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=0)
    holm = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=0,
                pvalue_correction="holm")
    np.testing.assert_allclose(holm.pvalues, holm_adjust(raw.pvalues))
    assert np.all(holm.pvalues >= raw.pvalues)
    flat = [name for group in raw.tie_groups for name in group]
    assert sorted(flat) == sorted(raw.concept_names)


def test_pvalue_helpers():
    replicates = np.array([[0.2, -0.1], [0.1, -0.3], [0.3, 0.2], [np.nan, 0.1]])
    np.testing.assert_allclose(replicate_pvalues(replicates), [1 / 4, 3 / 5])
    np.testing.assert_allclose(holm_adjust([0.04, np.nan, 0.01]), [0.04, np.nan, 0.02])
    counts = np.concatenate(list(bootstrap_counts(7, 2500, random_state=0)))
    assert counts.shape == (2500, 7) and (counts.sum(axis=1) == 7).all()


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bootstraps": 0}, "n_bootstraps"),
        ({"ci_method": "jackknife"}, "ci_method"),
        ({"pvalue_correction": "bonferroni"}, "pvalue_correction"),
    ],
)
def test_bad_interval_parameters_fail_before_generation(bottleneck, small, kwargs, match):
    table, y = small
    generator = CountingGenerator()
    with pytest.raises(InvalidParameterError, match=match):
        _run(bottleneck, table, y, generator=generator, scoring="roc_auc", **kwargs)
    assert generator.n_calls == 0


def test_fast_scorer_on_an_unsupported_target_fails_before_generation(bottleneck, small):
    table, y = small
    generator = CountingGenerator()
    multiclass = np.asarray(y) + (np.arange(len(y)) % 3 == 0)
    cases = [
        ("roc_auc", multiclass, "roc_auc_ovr"),
        ("f1", multiclass, "f1_macro"),
        # The scorer's dry run (preflight) or the fast scorer's target check may
        # speak first; both stop the run before any image.
        ("neg_log_loss", np.zeros(len(y), dtype=int),
         "every one of the model's 2 classes|contains only one label"),
        ("r2", np.array(["a", "b"] * (len(y) // 2)),
         "numeric targets|could not convert string to float"),
        ("accuracy", np.linspace(0, 1, len(y)), "continuous"),
    ]
    for scoring, target, match in cases:
        with pytest.raises(ValueError, match=match):
            _run(bottleneck, table, target, generator=generator, scoring=scoring)
    assert generator.n_calls == 0


# ------------------------------------------------------- report, display, folds


@pytest.mark.slow
def test_report_display_and_folds_show_pvalues(bottleneck, small):
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_depict.cross_validation import cross_validate_importance
    from sklearn_depict.reporting.displays import ImportanceDisplay
    from sklearn_depict.reporting.report import importance_table

    table, y = small
    result = _run(bottleneck, table, y, scoring="roc_auc", ci_random_state=0)
    frame = importance_table(result)
    by_concept = dict(zip(frame.concept, frame.pvalue))
    for name, p in zip(result.concept_names, result.pvalues):
        assert by_concept[str(name)] == p
    display = ImportanceDisplay.from_result(result)
    assert len(display.pvalue_texts_) == len(result.concept_names)
    assert all(t.get_text().startswith("p ") for t in display.pvalue_texts_)
    folds = cross_validate_importance(bottleneck, table, y, generator=ShapesGenerator(), cv=2,
                                      scoring="roc_auc", n_repeats=2, random_state=0,
                                      ci_random_state=0)
    assert folds.fold_pvalues.shape == (2, len(result.concept_names))
    assert folds.pvalues.shape == (len(result.concept_names),)
    np.testing.assert_array_equal(folds.fold_pvalues[0], folds.folds[0].pvalues)


@pytest.mark.slow
@pytest.mark.parametrize("scoring", [["roc_auc_ovr_weighted", "roc_auc_ovo", "neg_log_loss"]])
def test_multiclass_named_scorers_equal_sklearn_on_the_pipeline(shapes_train, small, scoring):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer

    from conftest import flatten

    def three_classes(concepts):
        return concepts["red circle"].to_numpy() + concepts["blue square"].to_numpy()

    # float64 pixels: a float32 model's outputs move by ~1e-7 with the batch
    # they are predicted in, outside the 1e-12 contract (see test_equivalence).
    model = make_pipeline(FunctionTransformer(lambda X: flatten(X).astype(np.float64)),
                          LogisticRegression(max_iter=500))
    model.fit(shapes_train.images[:400], three_classes(shapes_train.concept_table.iloc[:400]))
    table, _ = small
    y = three_classes(table)
    ours = _run(model, table, y, scoring=scoring, max_samples=0.9, n_repeats=3)
    theirs = permutation_importance(make_pipeline(CaptionToImage(ShapesGenerator()), model),
                                    table, y, scoring=scoring, max_samples=0.9, n_repeats=3,
                                    random_state=0)
    for name in scoring:
        assert ours[name].fast_scoring
        np.testing.assert_allclose(ours[name].importances, theirs[name].importances,
                                   rtol=0, atol=1e-12)


# ------------------------------------------------------- rounding is not reliance


def _red_green(images):
    """Only the red and green channels: a model built on them cannot see blue."""
    return np.asarray(images, dtype=float)[..., :2].reshape(len(images), -1)


@pytest.fixture(scope="module")
def blind_to_blue():
    """A classifier and a regressor that see red and green pixels only, and 300 rows."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_depict import make_shapes_dataset

    train, test = make_shapes_dataset(400, random_state=0), make_shapes_dataset(300,
                                                                               random_state=1)

    def target(concepts):
        return (concepts["red circle"] + concepts["green square"]).to_numpy()

    clf = make_pipeline(FunctionTransformer(_red_green), LogisticRegression(max_iter=2000))
    reg = make_pipeline(FunctionTransformer(_red_green), Ridge())
    clf.fit(train.images, (target(train.concept_table) >= 1).astype(int))
    reg.fit(train.images, target(train.concept_table).astype(float))
    y_class = (target(test.concept_table) >= 1).astype(int)
    return test.concept_table, {"classifier": (clf, y_class),
                           "regressor": (reg, target(test.concept_table).astype(float))}


@pytest.mark.parametrize("kind, scoring", [
    ("classifier", ["roc_auc", "accuracy", "neg_log_loss"]), ("regressor", ["r2"])])
def test_a_concept_the_model_cannot_see_has_no_effect(blind_to_blue, kind, scoring):
    """Unchanged predictions: importance exactly 0, interval [0, 0], p = 1, on every seed.

    Before, the vectorised scorer and the baseline's sklearn scorer rounded
    differently: 1.1e-16 in every repeat, with a bootstrap p-value of 0.001.
    """
    table, models = blind_to_blue
    model, y = models[kind]
    blue = [list(table.columns).index(name) for name in ("blue circle", "blue square")]
    red = list(table.columns).index("red circle")
    for seed, ci_method in [(0, "bootstrap"), (1, "bootstrap"), (2, "bootstrap"), (0, "t")]:
        results = _run(model, table, y, scoring=scoring, n_repeats=10, random_state=seed,
                       ci_method=ci_method, n_bootstraps=300, ci_random_state=seed)
        for name in scoring:
            result = results[name]
            assert result.fast_scoring
            assert np.all(result.importances[blue] == 0.0), name
            assert np.all(result.importances_ci[blue] == 0.0), name
            np.testing.assert_array_equal(result.pvalues[blue], 1.0)
            # The concepts it does see keep their evidence.
            assert result.pvalues[red] < 0.05


def test_rounding_sized_differences_are_ties():
    from sklearn_depict._engine.score import snap_rounding

    snapped = snap_rounding([1.1e-16, -2.2e-16, 4e-13, 2e-12, -0.003], 0.9)
    np.testing.assert_array_equal(snapped, [0.0, 0.0, 0.0, 2e-12, -0.003])
    # The tolerance scales with a large score (a squared error in the millions).
    np.testing.assert_array_equal(snap_rounding([1e-7, 1e-5], -3e6), [0.0, 1e-5])
