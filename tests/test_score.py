"""Tests of ``_engine/score.py``: every score of a run from stored predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import config_context
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import check_scoring, get_scorer

from sklearn_depict import ConceptCaptioner, make_shapes_dataset
from sklearn_depict._engine.plan import make_plan, resolve_concepts
from sklearn_depict._engine.score import score_baseline, score_plan
from sklearn_depict.concepts import make_concept_table
from sklearn_depict.stats.fast_scoring import fast_scorers
from sklearn_depict.stats.replay import make_replay

N_REPEATS = 3


@pytest.fixture(autouse=True)
def _inside_the_engine():
    # The public functions validate their parameters once; inside, the replay
    # stand-in (no fit) goes through sklearn's scorers unvalidated, as there.
    with config_context(skip_parameter_validation=True):
        yield


@pytest.fixture(scope="module")
def stored():
    """A plan and made-up stored predictions for its distinct pairs."""
    data = make_shapes_dataset(80, random_state=0)
    captioner = ConceptCaptioner()
    table = make_concept_table(data.concept_table, captioner=captioner)
    names, columns = resolve_concepts(table, None)
    plan = make_plan(table, concept_names=names, concept_columns=columns,
                     captioner=captioner, n_repeats=N_REPEATS, n_scored=len(data.target),
                     random_state=0)
    # A model that sees "red circle" only: its output follows that word and
    # the image's noise (its seed), whatever else the caption says.
    noise = (np.asarray(plan.seeds) % 997) / 997
    positive = np.where(["red circle" in c for c in plan.captions], 0.6 + 0.4 * noise,
                        0.4 * noise)
    y = data.concept_table["red circle"].to_numpy()
    model = LogisticRegression().fit(np.c_[y, 1 - y], y)  # classes_ [0, 1], predict_proba
    responses = {"predict_proba": np.c_[1 - positive, positive],
                 "predict": (positive > 0.5).astype(int)}
    return plan, make_replay(model, ("predict", "predict_proba"), responses), y


@pytest.mark.parametrize("scoring", ["roc_auc", "neg_log_loss", "accuracy"])
def test_every_score_is_sklearns_on_the_gathered_ids(stored, scoring):
    plan, replay, y = stored
    scorer = check_scoring(replay, scoring=scoring)
    routes = fast_scorers(scoring, replay, y, None, plan.row_indices)
    baseline = score_baseline(scorer, replay, plan, y, None)
    metric = score_plan(plan, replay, routes, y, None, baseline)[None]
    assert metric.baseline_score == pytest.approx(baseline[0], rel=1e-12, abs=1e-12)
    assert metric.permuted_scores.shape == (len(plan.concept_names), N_REPEATS)
    sklearn_scorer = get_scorer(scoring)
    for j in range(len(plan.concept_names)):
        for r in range(N_REPEATS):
            expected = sklearn_scorer(replay, plan.permuted_ids[j, r], y)
            assert metric.permuted_scores[j, r] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # The vectorised route scored them (and was checked against sklearn).
    assert metric.route.scorer is not None


def test_derivatives_are_returned_not_stored(stored):
    plan, replay, y = stored
    scorer = check_scoring(replay, scoring="roc_auc")
    routes = fast_scorers("roc_auc", replay, y, None, plan.row_indices)
    baseline = score_baseline(scorer, replay, plan, y, None)
    with_d = score_plan(plan, replay, routes, y, None, baseline, derivatives=True)[None]
    without = score_plan(plan, replay, routes, y, None, baseline)[None]
    assert with_d.derivatives.shape == (len(plan.concept_names), len(y))
    assert without.derivatives is None
    np.testing.assert_array_equal(with_d.permuted_scores, without.permuted_scores)
    # The routes handed in are values: scoring leaves them as they were.
    assert all(route.scorer is not None for route in routes.values())


def test_a_permutation_that_changes_no_prediction_scores_the_baseline(stored):
    plan, replay, y = stored
    for scoring in ("roc_auc", "neg_log_loss", "accuracy"):
        scorer = check_scoring(replay, scoring=scoring)
        routes = fast_scorers(scoring, replay, y, None, plan.row_indices)
        metric = score_plan(plan, replay, routes, y, None,
                            score_baseline(scorer, replay, plan, y, None))[None]
        blind = [j for j, name in enumerate(plan.concept_names) if name != "red circle"]
        # The model sees red circles only: every other concept changes nothing,
        # and the baseline went through the same arithmetic as the permutations.
        assert (metric.permuted_scores[blind] == metric.baseline_score).all(), scoring


def test_a_callable_returning_several_metrics_gets_one_route_each(stored):
    plan, replay, y = stored

    def two(estimator, X, y_true):
        proba = estimator.predict_proba(X)[:, 1]
        return {"mean": float(proba.mean()), "hit": float(((proba > 0.5) == y_true).mean())}

    routes = fast_scorers(two, replay, y, None, plan.row_indices)
    metrics = score_plan(plan, replay, routes, y, None,
                         score_baseline(two, replay, plan, y, None))
    assert set(metrics) == {"mean", "hit"}
    for metric in metrics.values():
        assert metric.route.scorer is None
        assert metric.permuted_scores.shape == (len(plan.concept_names), N_REPEATS)
