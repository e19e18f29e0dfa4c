"""Tests of ``_engine/plan.py``: the distinct (caption, seed) pairs and who shows which."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import check_random_state

from sklearn_depict import ConceptCaptioner
from sklearn_depict._engine.plan import (
    make_plan,
    permutation_indices,
    resolve_concepts,
    resolve_max_samples,
)
from sklearn_depict.concepts import make_concept_table

TABLE = pd.DataFrame({
    "red circle": [1, 0, 1, 0, 1, 0, 0, 1],
    "blue square": [0, 0, 1, 1, 0, 1, 0, 1],
    "green circle": [2, 0, 1, 0, 0, 3, 1, 0],
})


def _plan(table=TABLE, concepts=None, n_repeats=4, n_scored=None, random_state=0):
    captioner = ConceptCaptioner()
    concept_table = make_concept_table(table, captioner=captioner)
    names, columns = resolve_concepts(concept_table, concepts)
    return make_plan(concept_table, concept_names=names, concept_columns=columns,
                     captioner=captioner, n_repeats=n_repeats,
                     n_scored=len(table) if n_scored is None else n_scored,
                     random_state=random_state)


def test_pairs_are_distinct_and_cover_every_score():
    plan = _plan()
    pairs = list(zip(plan.captions, plan.seeds))
    assert len(set(pairs)) == len(pairs) == plan.n_distinct
    ids = np.concatenate([plan.baseline_ids, plan.permuted_ids.ravel()])
    assert set(ids.tolist()) == set(range(plan.n_distinct))
    # The baseline's pairs come first, so they can be generated (and scored) first.
    assert set(plan.baseline_ids.tolist()) == set(range(plan.n_baseline))


def test_the_bound_holds_whatever_the_repeats():
    n_values = [TABLE[c].nunique() for c in TABLE]
    bound = len(TABLE) * (1 + sum(k - 1 for k in n_values))
    for n_repeats in (1, 5, 50):
        plan = _plan(n_repeats=n_repeats)
        assert plan.n_bound == bound and plan.n_values == n_values
        assert plan.n_distinct <= bound
        assert plan.n_naive == len(TABLE) * (1 + 3 * n_repeats)


def test_a_row_shows_its_own_seed_and_the_permuted_value():
    plan = _plan(random_state=3)
    _, permutations = permutation_indices(3, len(TABLE), len(TABLE), 4)
    seeds = np.asarray(plan.seeds)
    for j, column in enumerate(TABLE.columns):
        for r in range(4):
            ids = plan.permuted_ids[j, r]
            # Seeds follow the row: every row keeps its own noise.
            np.testing.assert_array_equal(seeds[ids], seeds[plan.baseline_ids])
            permuted = TABLE.copy()
            permuted[column] = TABLE[column].to_numpy()[permutations[r]]
            expected = ConceptCaptioner().captions(permuted)
            assert [plan.captions[i] for i in ids] == list(expected)


def test_the_draws_are_sklearns():
    # permutation_importance shuffles each column with a RandomState seeded
    # from one draw, composing the shuffles over the repeats
    # (tests/test_sklearn_compat.py compares with the installed sklearn).
    rows, permutations = permutation_indices(7, 8, 8, 3)
    np.testing.assert_array_equal(rows, np.arange(8))
    state = check_random_state(check_random_state(7).randint(np.iinfo(np.int32).max + 1))
    index, composed = np.arange(8), np.arange(8)
    for r in range(3):
        state.shuffle(index)
        composed = composed[index]
        np.testing.assert_array_equal(permutations[r], composed)


def test_groups_share_one_permutation():
    plan = _plan(concepts={"shapes": ["red circle", "blue square"]}, n_repeats=2)
    assert plan.concept_names == ["shapes"]
    assert plan.concept_columns == [["red circle", "blue square"]]
    assert plan.permuted_ids.shape == (1, 2, len(TABLE))


def test_max_samples_scores_a_subset():
    plan = _plan(n_scored=5)
    assert plan.row_indices.shape == (5,) and plan.permuted_ids.shape == (3, 4, 5)
    assert resolve_max_samples(0.5, 8) == 4 and resolve_max_samples(3, 8) == 3
    with pytest.raises(ValueError, match="at least one row"):
        resolve_max_samples(0.01, 8)
    with pytest.raises(ValueError, match="max_samples must be <= n_samples"):
        resolve_max_samples(9, 8)


def test_unknown_and_repeated_concepts_are_refused():
    table = make_concept_table(TABLE, captioner=ConceptCaptioner())
    with pytest.raises(ValueError, match="Unknown concept column"):
        resolve_concepts(table, ["purple"])
    with pytest.raises(TypeError, match="must be a list of column names"):
        resolve_concepts(table, "red circle")
    with pytest.raises(ValueError, match="at least one concept"):
        resolve_concepts(table, [])
