"""Confidence intervals of mean importances, ranking and ties."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_depict import ShapesGenerator, depict_importance
from sklearn_depict.stats.ranking import importance_intervals, rank_with_ties


@pytest.mark.parametrize("method, low, high", [("t", 0.93, 0.97), ("bootstrap", 0.85, 0.96)])
def test_interval_coverage_on_a_simulated_case(method, low, high):
    """Importances drawn around a known mean: the 95% interval covers it ~95%."""
    rng = np.random.RandomState(0)
    true_mean = 0.3
    n_trials = 2000 if method == "t" else 400
    draws = rng.normal(true_mean, 0.05, size=(n_trials, 10))
    intervals = importance_intervals(draws, method=method, random_state=0, n_bootstrap=500)
    covered = (intervals[:, 0] <= true_mean) & (true_mean <= intervals[:, 1])
    assert low <= covered.mean() <= high


def test_interval_is_narrower_than_the_spread_of_repeats():
    draws = np.random.RandomState(1).normal(0.2, 0.05, size=(1, 50))
    low, high = importance_intervals(draws)[0]
    assert high - low < draws.std()


def test_single_repeat_gives_nan_and_bad_arguments():
    assert np.isnan(importance_intervals(np.ones((3, 1)))).all()
    with pytest.raises(ValueError, match="confidence"):
        importance_intervals(np.ones((2, 3)), confidence=1.5)
    with pytest.raises(ValueError, match="method"):
        importance_intervals(np.ones((2, 3)), method="jackknife")


def test_ranking_and_tie_groups():
    mean = [0.1, 0.5, 0.11, 0.0]
    intervals = [[0.05, 0.15], [0.45, 0.55], [0.08, 0.14], [-0.01, 0.01]]
    ranking, groups = rank_with_ties(mean, intervals)
    assert ranking.tolist() == [3, 1, 2, 4]
    assert groups == [[1], [2, 0], [3]]


def test_result_carries_intervals_ranking_and_ties(bottleneck, shapes_test,
                                                   bottleneck_labels):
    result = depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                               generator=ShapesGenerator(), scoring="roc_auc", n_repeats=6,
                               random_state=0)
    ci = result.importances_ci
    assert ci.shape == (6, 2)
    assert np.all(ci[:, 0] <= result.importances_mean)
    assert np.all(result.importances_mean <= ci[:, 1])
    assert sorted(result.ranking.tolist()) == list(range(1, 7))
    top = int(np.argmax(result.importances_mean))
    assert result.ranking[top] == 1
    flat = [name for group in result.tie_groups for name in group]
    assert sorted(flat) == sorted(result.concept_names)
    assert result.tie_groups[0][0] == result.concept_names[top]


def test_tie_groups_do_not_chain_through_overlaps():
    """The issue's case: a middle concept overlaps both, the two ends are disjoint."""
    names = ["red square", "green circle", "red circle", "blue circle"]
    mean = [0.30, 0.025, -0.015, -0.040]
    intervals = [[0.25, 0.35], [-0.009, 0.059], [-0.030, 0.000], [-0.060, -0.021]]
    ranking, groups = rank_with_ties(mean, intervals)
    assert ranking.tolist() == [1, 2, 3, 4]
    named = [[names[i] for i in group] for group in groups]
    assert named == [["red square"], ["green circle", "red circle"], ["blue circle"]]


def test_tie_groups_are_runs_of_pairwise_overlapping_intervals():
    """On many random cases: runs of the ranking, pairwise overlapping, maximal."""
    rng = np.random.RandomState(0)

    def overlap(a, b):
        return a[0] <= b[1] and b[0] <= a[1]

    for _ in range(300):
        n = rng.randint(1, 9)
        mean = rng.normal(size=n)
        half = rng.uniform(0.05, 1.0, size=n)
        intervals = np.column_stack([mean - half, mean + half])
        ranking, groups = rank_with_ties(mean, intervals)
        order = np.argsort(-mean, kind="stable").tolist()
        assert [i for group in groups for i in group] == order
        for g, group in enumerate(groups):
            for a in group:
                for b in group:
                    assert overlap(intervals[a], intervals[b])
            if g + 1 < len(groups):
                # The next group's leader could not join: it misses one member.
                leader = groups[g + 1][0]
                assert not all(overlap(intervals[leader], intervals[m]) for m in group)


def test_tie_groups_without_intervals_are_one_group():
    mean = [0.3, 0.1, 0.2]
    _, groups = rank_with_ties(mean, np.full((3, 2), np.nan))
    assert groups == [[0, 2, 1]]
