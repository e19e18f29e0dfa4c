"""Conditional permutation: ``conditioning=`` of the engine (_engine/strata.py).

The contract: a conditional result equals the score drops of
``make_pipeline(CaptionToImage(g), estimator)`` over the permuted tables the
plan publishes, to 1e-12; every permuted row keeps its strata; mistakes fail
before any image is generated.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import get_scorer
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from conftest import CountingGenerator
from sklearn_depict import (
    CaptionToImage,
    ConditioningWarning,
    ShapesGenerator,
    depict_diagnostics,
    depict_importance,
)
from sklearn_depict._engine.strata import permute_within
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.reporting.results_io import dumps, results_from_dict, results_to_dict


def _correlated(shapes_test, agreement=0.9, seed=0):
    """The test table with 'blue square' agreeing with 'red circle' in most rows."""
    table = shapes_test.concept_table.copy()
    flip = np.random.RandomState(seed).uniform(size=len(table)) > agreement
    table["blue square"] = np.where(flip, 1 - table["red circle"], table["red circle"])
    return table


def _run(estimator, table, y, **kwargs):
    kwargs.setdefault("n_repeats", 3)
    kwargs.setdefault("random_state", 0)
    kwargs.setdefault("scoring", "roc_auc")
    return depict_importance(estimator, table, y, generator=ShapesGenerator(), **kwargs)


# --- permute_within -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_permute_within_never_leaves_a_stratum(seed):
    rng = np.random.RandomState(seed)
    strata = rng.randint(0, 4, size=50)
    permutation = permute_within(strata, np.random.RandomState(seed))
    assert sorted(permutation.tolist()) == list(range(50))
    np.testing.assert_array_equal(strata[permutation], strata)


def test_permute_within_one_stratum_is_rngs_permutation():
    """The documented draw: one stratum is ``rng.permutation(n)``."""
    got = permute_within(np.zeros(20), np.random.RandomState(3))
    np.testing.assert_array_equal(got, np.random.RandomState(3).permutation(20))


def test_permute_within_singletons_stay_put():
    np.testing.assert_array_equal(permute_within(np.arange(6), np.random.RandomState(0)),
                                  np.arange(6))


# --- marginal stays marginal -------------------------------------------------


def test_empty_dict_is_the_marginal_run(bottleneck, shapes_test, bottleneck_labels):
    marginal = _run(bottleneck, shapes_test.concept_table, bottleneck_labels)
    empty = _run(bottleneck, shapes_test.concept_table, bottleneck_labels, conditioning={})
    assert "conditioning" not in marginal
    np.testing.assert_array_equal(empty.importances, marginal.importances)
    np.testing.assert_array_equal(empty.plan.permuted_ids, marginal.plan.permuted_ids)
    for info in empty.conditioning.values():
        assert info["columns"] == [] and info["n_strata"] == 1
        assert info["changed_fraction"] == info["marginal_changed_fraction"]


# --- the published permuted tables reproduce the scores ---------------------


@pytest.mark.parametrize("max_samples", [1.0, 0.6])
@pytest.mark.parametrize(
    "conditioning",
    [{"red circle": ["blue square"], "green + squares": ["blue circle"]}, "auto"],
    ids=["dict", "auto"],
)
def test_pipeline_over_permuted_tables_equals_the_result(bottleneck, shapes_test,
                                                         bottleneck_labels, conditioning,
                                                         max_samples):
    table = _correlated(shapes_test)
    concepts = {"red circle": ["red circle"], "blue square": ["blue square"],
                "blue circle": ["blue circle"],
                "green + squares": ["green circle", "green square", "red square"]}
    result = _run(bottleneck, table, bottleneck_labels, conditioning=conditioning,
                  concepts=concepts, max_samples=max_samples)
    plan = result.plan
    pipeline = make_pipeline(CaptionToImage(ShapesGenerator()), bottleneck)
    scorer = get_scorer("roc_auc")
    baseline = scorer(pipeline, table, bottleneck_labels)
    assert baseline == pytest.approx(result.baseline_score, abs=1e-12)
    y_scored = bottleneck_labels[plan.row_indices]
    for j, name in enumerate(result.concept_names):
        for r in range(result.importances.shape[1]):
            permuted = plan.permuted_table(table, name, r)
            assert list(permuted.index) == list(table.index[plan.row_indices])
            drop = baseline - scorer(pipeline, permuted, y_scored)
            assert result.importances[j, r] == pytest.approx(drop, abs=1e-12)
    assert result.n_images_distinct <= result.n_images_bound


def test_dict_conditioning_keeps_every_row_in_its_stratum(shapes_test, bottleneck,
                                                          bottleneck_labels):
    table = _correlated(shapes_test)
    result = _run(bottleneck, table, bottleneck_labels,
                  conditioning={"red circle": ["blue square", "green circle"]},
                  n_repeats=4)
    plan = result.plan
    j = list(result.concept_names).index("red circle")
    sources = plan.permuted_rows[j]
    for column in ("blue square", "green circle"):
        values = table[column].to_numpy()
        np.testing.assert_array_equal(values[sources], np.broadcast_to(
            values[plan.row_indices], sources.shape))
    info = result.conditioning["red circle"]
    assert info["columns"] == ["blue square", "green circle"] and info["n_strata"] == 4
    # Concepts left out of the dict keep sklearn's marginal draw.
    marginal = _run(bottleneck, table, bottleneck_labels, n_repeats=4)
    k = list(result.concept_names).index("green square")
    np.testing.assert_array_equal(plan.permuted_rows[k], marginal.plan.permuted_rows[k])
    assert result.importances[k].tolist() == marginal.importances[k].tolist()


def test_a_group_moves_as_a_block_within_its_strata(shapes_test, bottleneck,
                                                    bottleneck_labels):
    table = shapes_test.concept_table
    result = _run(bottleneck, table, bottleneck_labels,
                  concepts={"reds": ["red circle", "red square"]},
                  conditioning={"reds": ["blue circle"]})
    sources = result.plan.permuted_rows[0]
    blue = table["blue circle"].to_numpy()
    np.testing.assert_array_equal(blue[sources], np.broadcast_to(blue, sources.shape))
    for repeat in range(3):
        permuted = result.plan.permuted_table(table, "reds", repeat)
        np.testing.assert_array_equal(
            permuted[["red circle", "red square"]].to_numpy(),
            table[["red circle", "red square"]].to_numpy()[sources[repeat]])


# --- "auto": cs-PFI ----------------------------------------------------------


def test_auto_with_depth_one_stratifies_on_the_strong_partner(shapes_test, bottleneck,
                                                              bottleneck_labels):
    table = _correlated(shapes_test, agreement=0.95)
    result = _run(bottleneck, table, bottleneck_labels, concepts=["red circle"],
                  conditioning="auto", conditioning_params={"max_depth": 1})
    info = result.conditioning["red circle"]
    assert info["columns"] == ["blue square"] and info["n_strata"] == 2
    # Most rows cannot change: the partner nearly fixes the concept.
    assert info["changed_fraction"] < 0.5 * info["marginal_changed_fraction"]


def test_auto_strata_are_the_leaves_of_the_documented_tree(shapes_test, bottleneck,
                                                           bottleneck_labels):
    table = _correlated(shapes_test)
    result = _run(bottleneck, table, bottleneck_labels, concepts=["red circle"],
                  conditioning="auto", conditioning_params={"min_samples_leaf": 10})
    others = [c for c in table.columns if c != "red circle"]
    # Binary columns one-hot on their codes: a 0 column and a 1 column each.
    features = np.hstack([np.column_stack([table[c] == 0, table[c] == 1]) for c in others])
    tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=10).fit(
        features.astype(float), table["red circle"])
    leaves = tree.apply(features.astype(float))
    assert result.conditioning["red circle"]["n_strata"] == len(np.unique(leaves))
    sources = result.plan.permuted_rows[0]
    np.testing.assert_array_equal(leaves[sources], np.broadcast_to(leaves, sources.shape))


def test_auto_uses_a_regressor_for_a_count_concept():
    counts = np.arange(40) % 4
    table = pd.DataFrame({"red circle": counts, "blue square": (counts > 1) * 1,
                          "green circle": np.arange(40) % 2})
    y = (counts > 1).astype(int)
    clf = DummyClassifier().fit(np.zeros((40, 32, 32, 3)), y)
    with warnings.catch_warnings():
        # 'blue square' is a function of the count, so it cannot move (a
        # ConditioningWarning); a dummy model scores at chance (a DiagnosticWarning).
        warnings.simplefilter("ignore")
        result = depict_importance(
            clf, table, y, generator=ShapesGenerator(max_count=3), n_repeats=2,
            random_state=0, conditioning="auto",
            conditioning_params={"max_depth": 1, "min_samples_leaf": 1})
    info = result.conditioning["red circle"]
    assert info["columns"] == ["blue square"] and info["n_strata"] == 2
    sources = result.plan.permuted_rows[0]
    np.testing.assert_array_equal(counts[sources] > 1,
                                  np.broadcast_to(counts > 1, sources.shape))


# --- the changed-fraction diagnostic ----------------------------------------


def test_a_concept_that_cannot_move_is_warned_about(shapes_test, bottleneck,
                                                    bottleneck_labels):
    table = _correlated(shapes_test, agreement=1.0)  # blue square == red circle
    with pytest.warns(ConditioningWarning, match="“red circle”.*changed fraction 0"):
        result = _run(bottleneck, table, bottleneck_labels,
                      conditioning={"red circle": ["blue square"]})
    j = list(result.concept_names).index("red circle")
    assert result.conditioning["red circle"]["changed_fraction"] == 0
    assert result.conditioning["red circle"]["marginal_changed_fraction"] > 0.3
    assert np.all(result.importances[j] == 0)


def test_a_concept_that_barely_moves_is_noted(shapes_test, bottleneck, bottleneck_labels):
    table = _correlated(shapes_test, agreement=0.97)
    with pytest.warns(ConditioningWarning, match="fewer than 10%.*“red circle”"):
        result = _run(bottleneck, table, bottleneck_labels,
                      conditioning={"red circle": ["blue square"]})
    assert 0 < result.conditioning["red circle"]["changed_fraction"] < 0.1


def test_no_warning_when_conditioning_leaves_room(shapes_test, bottleneck,
                                                  bottleneck_labels):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConditioningWarning)
        _run(bottleneck, shapes_test.concept_table, bottleneck_labels,
             conditioning={"red circle": ["blue square"]})


# --- bad input, before any image --------------------------------------------


BAD = {
    "column not in the table": (dict(conditioning={"red circle": ["purple"]}),
                                ValueError, "not in the concept table"),
    "conditioned on itself": (dict(conditioning={"red circle": ["red circle"]}),
                              ValueError, "on itself"),
    "on itself through a group": (
        dict(concepts={"reds": ["red circle", "red square"]},
             conditioning={"reds": ["red square", "blue circle"]}),
        ValueError, "on itself: \\['red square'\\] \\(a column of the concept group"),
    "key that is not a permuted concept": (
        dict(concepts=["red circle"], conditioning={"green circle": ["blue square"]}),
        ValueError, "not a permuted concept"),
    "key that is a group's column": (
        dict(concepts={"reds": ["red circle", "red square"]},
             conditioning={"red circle": ["blue square"]}),
        ValueError, "column of the concept group 'reds'"),
    "a nested list": (dict(conditioning={"red circle": [["blue square"]]}), ValueError,
                      "not in the concept table"),
    "no columns": (dict(conditioning={"red circle": []}), ValueError, "names no columns"),
    "unknown string": (dict(conditioning="tree"), InvalidParameterError, "conditioning"),
    "params without auto": (dict(conditioning_params={"max_depth": 2}), ValueError,
                            "only read with conditioning='auto'"),
    "params with a dict": (dict(conditioning={"red circle": ["blue square"]},
                                conditioning_params={"max_depth": 2}),
                           ValueError, "only read with conditioning='auto'"),
    "unknown param": (dict(conditioning="auto", conditioning_params={"depth": 2}),
                      ValueError, "unknown key\\(s\\) \\['depth'\\]"),
    "bad max_depth": (dict(conditioning="auto", conditioning_params={"max_depth": 0}),
                      ValueError, "max_depth'\\] must be an int >= 1"),
    "bad min_samples_leaf": (
        dict(conditioning="auto", conditioning_params={"min_samples_leaf": 1.5}),
        ValueError, "min_samples_leaf'\\] must be"),
    "auto leaves a group no other column": (
        dict(concepts={"all": ["red circle", "red square", "green circle", "green square",
                               "blue circle", "blue square"]}, conditioning="auto"),
        ValueError, "has none besides"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_conditioning_fails_before_any_image(bottleneck, shapes_test,
                                                 bottleneck_labels, case):
    kwargs, error, match = case
    generator = CountingGenerator()
    with pytest.raises(error, match=match):
        depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                          generator=generator, n_repeats=2, random_state=0, **kwargs)
    assert generator.n_images == 0


def test_auto_on_a_table_with_one_concept_column_fails_before_any_image():
    table = pd.DataFrame({"red circle": [0, 1] * 10})
    y = table["red circle"].to_numpy()
    clf = DummyClassifier().fit(np.zeros((20, 32, 32, 3)), y)
    generator = CountingGenerator()
    with pytest.raises(ValueError, match="other concept columns.*has none besides"):
        depict_importance(clf, table, y, generator=generator, conditioning="auto")
    assert generator.n_images == 0


# --- check 2 and the stored results -----------------------------------------


def test_check_two_runs_on_conditional_permutations(shapes_train, shapes_test, bottleneck,
                                                    bottleneck_labels):
    from sklearn_depict.models.bottleneck import make_shapes_detector

    detector = make_shapes_detector().fit(shapes_train.images, shapes_train.concept_table)
    table = _correlated(shapes_test, agreement=0.8)
    checks = depict_diagnostics(bottleneck, table, bottleneck_labels,
                                generator=ShapesGenerator(), detector=detector,
                                n_repeats=3, random_state=0,
                                conditioning={"red circle": ["blue square"]})
    plan = checks.result.plan
    assert plan.conditioning["red circle"]["columns"] == ["blue square"]
    independence = checks.independence
    assert independence.shape == (6, 6)
    # Permuting 'red circle' within 'blue square' moves red circles, not blue squares.
    assert independence.loc["red circle", "red circle"] > 0.1
    assert abs(independence.loc["red circle", "blue square"]) < 0.02
    assert checks.checks["independent_permutation"] is True


def test_conditioning_survives_the_json_round_trip(shapes_test, bottleneck,
                                                   bottleneck_labels):
    result = _run(bottleneck, shapes_test.concept_table, bottleneck_labels,
                  conditioning="auto", n_repeats=2)
    back = results_from_dict(json.loads(dumps(results_to_dict(result))))
    assert back.conditioning == result.conditioning
    np.testing.assert_array_equal(back.plan.permuted_rows, result.plan.permuted_rows)
    assert back.plan.conditioning == result.plan.conditioning


def test_cross_validation_conditions_each_fold(bottleneck, shapes_test, bottleneck_labels):
    from sklearn.model_selection import KFold

    from sklearn_depict import cross_validate_importance

    table = _correlated(shapes_test)
    cv = KFold(3, shuffle=True, random_state=0)
    conditioning = {"red circle": ["blue square"]}
    result = cross_validate_importance(bottleneck, table, bottleneck_labels,
                                       generator=ShapesGenerator(), cv=cv, scoring="roc_auc",
                                       n_repeats=2, random_state=0, conditioning=conditioning)
    for fold, (_, test) in zip(result.folds, cv.split(table)):
        direct = _run(bottleneck, table.iloc[test], bottleneck_labels[test], n_repeats=2,
                      conditioning=conditioning)
        assert fold.conditioning == direct.conditioning
        np.testing.assert_array_equal(fold.importances, direct.importances)


def test_a_scorer_the_dry_run_rejects_fails_before_any_image_with_conditioning(
        red_circle_clf, shapes_test):
    counting = CountingGenerator()
    with pytest.raises(ValueError, match="before generating any image.*Only one class"):
        depict_importance(red_circle_clf, shapes_test.concept_table,
                          np.ones(len(shapes_test.target)), generator=counting,
                          scoring="roc_auc", conditioning="auto")
    assert counting.n_images == 0


def test_a_tuple_group_is_keyed_by_its_name_or_its_tuple(shapes_test, bottleneck,
                                                         bottleneck_labels):
    group = ("red circle", "red square")
    by_name = _run(bottleneck, shapes_test.concept_table, bottleneck_labels,
                   concepts=[group], conditioning={"red circle + red square": ["blue circle"]})
    by_tuple = _run(bottleneck, shapes_test.concept_table, bottleneck_labels,
                    concepts=[group], conditioning={group: ["blue circle"]})
    assert by_tuple.conditioning == by_name.conditioning
    assert by_tuple.conditioning["red circle + red square"]["columns"] == ["blue circle"]
    np.testing.assert_array_equal(by_tuple.importances, by_name.importances)


def test_the_command_line_conditions_with_auto(tmp_path, capsys):
    """explain --conditioning auto: a conditional run, reported as such, no marginal warning."""
    import json

    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from sklearn_depict import FlattenImages, make_shapes_dataset
    from sklearn_depict.cli import main

    data = make_shapes_dataset(60, random_state=0,
                               dependence={("red circle", "red square"): 0.9})
    table = data.concept_table
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    clf.fit(data.images, table["red circle"])
    joblib.dump(clf, tmp_path / "clf.joblib")
    table.to_csv(tmp_path / "table.csv", index=False)
    np.save(tmp_path / "y.npy", table["red circle"].to_numpy())
    args = ["explain", "--estimator", str(tmp_path / "clf.joblib"),
            "--concept-table", str(tmp_path / "table.csv"),
            "--labels", str(tmp_path / "y.npy"), "--generator", "shapes",
            "--n-repeats", "2", "--n-bootstraps", "20", "--examples", "0", "--quiet"]
    assert main([*args, "--conditioning", "auto", "--output-dir", str(tmp_path / "auto")]) == 0
    err = capsys.readouterr().err
    assert "associated above |0.5|" not in err
    saved = json.loads((tmp_path / "auto" / "results.json").read_text())
    assert "conditioning" in json.dumps(saved)
    assert main([*args, "--output-dir", str(tmp_path / "marginal")]) == 0
    assert "associated above |0.5|: red circle ~ red square" in capsys.readouterr().err
