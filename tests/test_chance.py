"""A baseline at or below chance: its level per metric, the warning and a failed check 1.

The API (``depict_importance``, ``depict_diagnostics``), the command line and
the report all read the one definition of chance in ``sklearn_depict.stats.chance``.
"""

from __future__ import annotations

import json
import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import balanced_accuracy_score, log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import flatten
from sklearn_depict import (
    ConceptBottleneckClassifier,
    DiagnosticWarning,
    ShapesGenerator,
    depict_diagnostics,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict.cli.main import main
from sklearn_depict.reporting.results_io import read_results
from sklearn_depict.reporting.verdicts import format_checks
from sklearn_depict.stats.chance import at_or_below_chance, chance_level

CONCEPT = "red circle"


# ----------------------------------------------------------------------------- levels


def test_chance_levels_are_the_scores_of_guessing_the_class_rates():
    y = np.array(["b", "a", "b", "c", "b", "a"])
    weights = np.array([1.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    assert chance_level("roc_auc", [0, 1, 1]) == 0.5
    assert chance_level("roc_auc_ovr_weighted", y) == 0.5
    assert chance_level("accuracy", y) == pytest.approx(3 / 6)
    assert chance_level("accuracy", y, weights) == pytest.approx(4 / 8)  # "a" weighs 4
    assert chance_level("balanced_accuracy", y) == pytest.approx(1 / 3)
    # balanced accuracy of always predicting the majority class is 1/K too
    assert balanced_accuracy_score(y, np.full(len(y), "b")) == pytest.approx(1 / 3)
    assert chance_level("r2", [0.5, 2.0, 3.0]) == 0.0
    # neg_log_loss: minus the log loss of predicting the (weighted) class rates
    rates = np.array([4, 3, 1]) / 8
    expected = -log_loss(y, np.tile(rates, (len(y), 1)), sample_weight=weights,
                         labels=["a", "b", "c"])
    assert chance_level("neg_log_loss", y, weights) == pytest.approx(expected, rel=1e-12)
    # Unknown metrics and undefined chance: NaN, never a verdict.
    for metric, target in [("f1", [0, 1]), (None, [0, 1]), ("accuracy", [1, 1]),
                           ("r2", [2.0, 2.0]), ("roc_auc", np.zeros((3, 2)))]:
        assert math.isnan(chance_level(metric, target))
    assert at_or_below_chance(0.5, 0.5) and at_or_below_chance(-0.7, -0.69)
    assert not at_or_below_chance(0.5 + 1e-6, 0.5)
    assert not at_or_below_chance(0.1, math.nan)


# ----------------------------------------------------------------------------- the API


@pytest.fixture(scope="module")
def task():
    train = make_shapes_dataset(400, random_state=0)
    test = make_shapes_dataset(60, random_state=1)
    clf = ConceptBottleneckClassifier(weights=train.weights).fit(
        train.images, train.target, concept_table=train.concept_table)
    y = make_concept_labels(test.concept_table, train.weights)
    reg = make_pipeline(FunctionTransformer(flatten), Ridge(alpha=1.0)).fit(
        train.images, train.concept_table[CONCEPT].to_numpy(dtype=float))
    return clf, reg, test, y


def _run(function, estimator, test, y, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(estimator, test.concept_table, y, generator=ShapesGenerator(),
                          n_repeats=1, random_state=0, concepts=[CONCEPT], **kwargs)
    return result, [w for w in caught if issubclass(w.category, DiagnosticWarning)]


@pytest.mark.parametrize("scoring", ["roc_auc", "accuracy", "balanced_accuracy",
                                     "neg_log_loss", "r2", None])
def test_a_baseline_at_or_below_chance_warns_and_fails_check_1(task, scoring):
    clf, reg, test, y = task
    if scoring in ("r2", None):
        # None: the regressor's default score, R².
        estimator, good = reg, test.concept_table[CONCEPT].to_numpy(dtype=float)
        bad = -good  # a model fitted on other targets: R² < 0
    else:
        # Labels the other way round, as a wrong class order gives.
        estimator, good, bad = clf, y, 1 - y
    result, caught = _run(depict_importance, estimator, test, good, scoring=scoring)
    assert caught == [] and "diagnostics" not in result
    assert result.baseline_score > result.chance_score

    result, caught = _run(depict_importance, estimator, test, bad, scoring=scoring)
    assert result.baseline_score <= result.chance_score
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "at or below chance" in message and "class order or pos_label" in message
    assert "generator that does not draw" in message and "fitted on other data" in message
    assert caught[0].filename == __file__  # it points at the caller
    checks = result.diagnostics.checks
    assert checks == {"effective_generation": False, "independent_permutation": None}
    assert format_checks(result.diagnostics)[0].startswith(
        "Check 1, effective generation: FAIL (score on generated images")


def test_multi_metric_results_fail_only_the_metric_at_chance(task):
    clf, _, test, y = task
    # Each metric is checked against its own chance level and named in its warning.
    result, caught = _run(depict_importance, clf, test, 1 - y,
                          scoring={"auc": "roc_auc", "acc": "accuracy"})
    assert {name for name, bunch in result.items() if "diagnostics" in bunch} == {"auc", "acc"}
    assert len(caught) == 2 and "estimator's auc" in str(caught[0].message)
    result, caught = _run(depict_importance, clf, test, y, scoring=["roc_auc", "accuracy"])
    assert caught == [] and all("diagnostics" not in b for b in result.values())


def test_depict_diagnostics_fails_check_1_on_real_and_generated_scores(task):
    clf, _, test, y = task
    passed, caught = _run(depict_diagnostics, clf, test, y, X_images=test.images)
    assert passed.checks["effective_generation"] is True and caught == []
    assert passed.chance_score == 0.5

    failed, caught = _run(depict_diagnostics, clf, test, 1 - y, X_images=test.images)
    assert failed.checks["effective_generation"] is False
    where = [m.split(" images is")[0].rsplit(" ", 1)[-1] for m in failed.failures]
    assert where == ["generated", "real"]
    assert "generator" not in failed.failures[1]  # real images: not the generator's fault
    assert len(caught) == 2
    # The score gap alone would pass: both scores are equally wrong.
    assert abs(failed.score_gap) <= 0.1


# ----------------------------------------------------------------------------- CLI, report


@pytest.mark.parametrize("with_images", [False, True], ids=["no-images", "images"])
def test_cli_and_report_show_a_failed_check_1(task, tmp_path, capsys, with_images):
    pytest.importorskip("matplotlib").use("Agg")
    clf, _, test, y = task
    joblib.dump(clf, tmp_path / "clf.joblib")
    test.concept_table.to_csv(tmp_path / "concepts.csv")
    pd.DataFrame({"label": 1 - y}).to_csv(tmp_path / "labels.csv", index=False)
    args = ["explain", "--estimator", str(tmp_path / "clf.joblib"), "--concept-table",
            str(tmp_path / "concepts.csv"), "--labels", str(tmp_path / "labels.csv"),
            "--generator", "shapes", "--scoring", "roc_auc", "--n-repeats", "1",
            "--permute", CONCEPT, "--examples", "0", "--output-dir", str(tmp_path / "out"),
            "--quiet"]
    if with_images:
        np.save(tmp_path / "images.npy", test.images)
        args += ["--images", str(tmp_path / "images.npy")]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Check 1, effective generation: FAIL (score on generated images" in captured.out
    assert "warning (check failed): effective generation:" in captured.err
    assert "at or below chance (0.500)" in captured.err

    out = tmp_path / "out"
    payload = json.loads((out / "results.json").read_text())
    diagnostics = payload["results"]["roc_auc"]["diagnostics"]
    assert diagnostics["checks"]["effective_generation"] is False
    assert read_results(out / "results.json").chance_score == 0.5
    html = (out / "report.html").read_text()
    assert '<span class="badge fail">fail</span>' in html
    assert "(chance level 0.5000)" in html
    assert "at or below chance" in html
    assert ("Check 1 did not run" in html) is False
    if not with_images:
        assert "compared the score on the generated images with chance only" in html
