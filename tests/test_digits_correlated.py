"""Marginal against conditional DEPICT on digits whose thickness goes with the digit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from sklearn_depict import ConditioningWarning, concept_permutation_importance
from sklearn_depict.case_studies.digits_correlated import (
    format_correlated_report,
    run_correlated_study,
)
from sklearn_depict.case_studies.digits_shortcuts import digits_split, forced_rows

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def split():
    return digits_split(thick_threshold="global")


@pytest.fixture(scope="module")
def study(split, real_digits, tmp_path_factory):
    """The study with real images as a faithful generator (no diffusion model)."""
    return run_correlated_study(n_explain=200, n_repeats=5, generator=real_digits(split.data),
                                cache=tmp_path_factory.mktemp("digits-correlated"))


def _contains_zero(row):
    return row.ci_low <= 0.0 <= row.ci_high


@pytest.mark.slow  # trains two networks (about 10 s)
def test_global_thickness_is_associated_with_the_digit_not_the_label(study):
    assoc = study.associations
    assert assoc.cramers_v_global > 0.4 and assoc.cramers_v_within < 0.05
    assert abs(assoc.label_correlation) < 0.05
    assert assoc.thick_share["one"] > 0.8 and assoc.thick_share["three"] < 0.3


@pytest.mark.slow  # trains two networks (about 10 s)
def test_digit_only_model_has_no_conditional_thick_importance(study):
    table = study.table
    given = table.loc[("digit_only", "natural", "given digit", "thick")]
    assert _contains_zero(given) and abs(given["mean"]) < 0.03
    # Conditioning left thick room to move: the near-zero is not a frozen concept.
    assert given.n_strata == 10 and given.changed_fraction > 0.3
    assert given.marginal_changed_fraction > given.changed_fraction
    assert table.loc[("digit_only", "natural", "marginal", "digit"), "ci_low"] > 0.2
    assert study.summary.loc[("digit_only", "natural"), "warning"] == ""


@pytest.mark.slow  # trains two networks (about 10 s)
def test_shortcut_model_large_marginally_and_frozen_given_the_digit(study):
    table = study.table
    marginal = table.loc[("thick_shortcut", "forced", "marginal", "thick")]
    assert marginal["mean"] > 0.2 and marginal.ci_low > 0.1
    assert marginal["mean"] > 5 * abs(table.loc[("thick_shortcut", "forced", "marginal",
                                                  "digit"), "mean"])
    # On the forced rows thick is a function of the digit: conditioning cannot move it.
    given = table.loc[("thick_shortcut", "forced", "given digit", "thick")]
    assert given["mean"] == 0.0 and given.ci_low == 0.0 and given.ci_high == 0.0
    assert given.changed_fraction == 0.0 and given.marginal_changed_fraction > 0.4
    assert "unchanged in every row" in study.summary.loc[("thick_shortcut", "forced"),
                                                         "warning"]
    # On the natural rows thick says nothing about the label beyond the digit.
    natural = table.loc[("thick_shortcut", "natural", "given digit", "thick")]
    assert _contains_zero(natural) and natural.changed_fraction > 0.3
    summary = study.summary
    assert summary.loc[("thick_shortcut", "forced"), "real_auc"] > 0.9
    assert summary.loc[("thick_shortcut", "natural"), "real_auc"] < 0.7


@pytest.mark.slow  # trains two networks (about 10 s)
def test_real_images_draw_thickness_as_captioned(study):
    thickness = study.thickness
    assert thickness.loc["all", "n"] == 200
    # A real image with the caption asked for is measured as its caption says.
    np.testing.assert_array_equal(thickness["agreement"], 1.0)
    np.testing.assert_array_equal(thickness["thick_if_thick"], 1.0)
    np.testing.assert_array_equal(thickness["thick_if_thin"], 0.0)
    assert (thickness.width_thick > thickness.width_thin).all()


@pytest.mark.slow  # trains two networks (about 10 s)
def test_report_names_every_number(study):
    text = format_correlated_report(study)
    for needle in ("Cramér's V): 0.47", "thick_shortcut forced   thick",
                   "ConditioningWarning (thick_shortcut, forced rows)",
                   "How the generator draws thick", "all      200", "all thick"):
        assert needle in text, needle
    scores = study.summary[["real_auc", "generated_auc", "all_thick_auc", "all_thin_auc"]]
    assert ((scores > 0) & (scores <= 1)).all().all()
    assert study.summary.loc[("digit_only", "natural"), "n_train"] == 1347
    with pytest.raises(ValueError, match="n_explain must be None"):
        run_correlated_study(n_explain=5)


def test_conditional_importance_is_exactly_zero_when_the_label_follows_the_digit(split):
    """Why the shortcut's conditional importance is 0: exact, on the concept table.

    Within a stratum of ``digit`` the label is constant, so the permuted rows
    hold the same (digit, thick, label) triples as the real ones: any model of
    digit and thick keeps its score, whatever it does with thick.
    """
    data, y = split.data, split.y
    table = data.concept_table
    train = split.train[forced_rows(table.iloc[split.train], y[split.train], "thick")]
    head = make_pipeline(
        # Digit and thick only: slanted is not permuted with thick, so it stays out.
        ColumnTransformer([("digit", OneHotEncoder(), ["digit"]),
                           ("thick", "passthrough", ["thick"])]),
        LogisticRegression(max_iter=2000),
    ).fit(table.iloc[train], y[train])
    rows = split.test
    marginal = concept_permutation_importance(head, table.iloc[rows], y[rows],
                                              scoring="roc_auc", random_state=0)
    given = concept_permutation_importance(head, table.iloc[rows], y[rows], scoring="roc_auc",
                                           random_state=0, conditioning={"thick": ["digit"]})
    thick = list(given.concept_names).index("thick")
    assert given.conditioning["thick"]["changed_fraction"] > 0.3
    np.testing.assert_array_equal(given.importances[thick], 0.0)
    assert np.abs(marginal.importances[thick]).max() > 0.01
    forced = rows[forced_rows(table.iloc[rows], y[rows], "thick")]
    with pytest.warns(ConditioningWarning, match="unchanged in every row"):
        concept_permutation_importance(head, table.iloc[forced], y[forced], scoring="roc_auc",
                                       random_state=0, conditioning={"thick": ["digit"]})
