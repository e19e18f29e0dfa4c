"""Concept associations, suggested concept groups and their display."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from sklearn_depict import (
    ShapesGenerator,
    concept_associations,
    depict_importance,
    suggest_concept_groups,
)
from sklearn_depict.stats.associations import cluster_concepts


def _latent_pairs(n=4000, rho=0.9, seed=0):
    """Two correlated pairs (a, b) and (c, d) and an independent e, continuous."""
    rng = np.random.default_rng(seed)
    cov = [[1.0, rho], [rho, 1.0]]
    ab = rng.multivariate_normal([0, 0], cov, size=n)
    cd = rng.multivariate_normal([0, 0], cov, size=n)
    e = rng.normal(size=n)
    return pd.DataFrame({"a": ab[:, 0], "c": cd[:, 0], "b": ab[:, 1], "e": e, "d": cd[:, 1]})


def test_spearman_of_a_latent_gaussian_pair_is_the_truth():
    rho = 0.7
    table = _latent_pairs(rho=rho)
    associations = concept_associations(table)
    # Spearman's rho of a bivariate normal with correlation rho.
    truth = 6 / np.pi * np.arcsin(rho / 2)
    assert associations.loc["a", "b"] == pytest.approx(truth, abs=0.03)
    assert associations.loc["c", "d"] == pytest.approx(truth, abs=0.03)
    for other in ["a", "b", "c", "d"]:
        assert abs(associations.loc["e", other]) < 0.05
    assert list(associations.columns) == list(table.columns)
    assert list(associations.index) == list(table.columns)
    np.testing.assert_array_equal(associations.to_numpy(), associations.to_numpy().T)
    np.testing.assert_array_equal(np.diag(associations), 1.0)
    assert set(associations.attrs["methods"].values()) == {"spearman"}


def test_spearman_keeps_the_sign_of_binary_pairs():
    flag = np.array([0, 1] * 20)
    table = pd.DataFrame({"day": flag, "night": 1 - flag, "lamp": 1 - flag})
    associations = concept_associations(table)
    assert associations.loc["day", "night"] == pytest.approx(-1.0)
    assert associations.loc["night", "lamp"] == pytest.approx(1.0)


def test_cramers_v_equals_the_bias_corrected_hand_computation():
    counts = np.array([[12, 5, 3], [2, 9, 9]])  # colour x place
    colours, places = [], []
    for i, colour in enumerate(["red", "green"]):
        for j, place in enumerate(["park", "beach", "city"]):
            colours += [colour] * counts[i, j]
            places += [place] * counts[i, j]
    table = pd.DataFrame({"colour": colours, "place": places})
    n, r, k = counts.sum(), 2, 3
    chi2 = chi2_contingency(counts, correction=False)[0]
    phi2 = max(0.0, chi2 / n - (r - 1) * (k - 1) / (n - 1))
    r_corrected = r - (r - 1) ** 2 / (n - 1)
    k_corrected = k - (k - 1) ** 2 / (n - 1)
    expected = np.sqrt(phi2 / min(r_corrected - 1, k_corrected - 1))
    associations = concept_associations(table)
    assert associations.loc["colour", "place"] == pytest.approx(expected, rel=1e-12)
    # The correction shrinks the plain V, sqrt(chi2 / (n * (min(r, k) - 1))).
    assert expected < np.sqrt(chi2 / n)
    assert associations.attrs["methods"]["colour", "place"] == "cramers_v"


def test_cramers_v_of_independent_categories_is_near_zero():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 3000),
                          "b": rng.choice(["u", "v"], 3000)})
    assert concept_associations(table).loc["a", "b"] < 0.05


def test_correlation_ratio_of_a_mixed_pair_by_hand():
    table = pd.DataFrame({"place": ["a", "a", "b", "b", "c", "c"],
                          "people": [1, 3, 2, 4, 5, 7]})
    # Mean 22/6; group means 2, 3, 6: between = 52/3, total = 70/3.
    associations = concept_associations(table)
    assert associations.loc["place", "people"] == pytest.approx(np.sqrt(52 / 70), rel=1e-12)
    assert associations.loc["people", "place"] == associations.loc["place", "people"]
    assert associations.attrs["methods"]["place", "people"] == "correlation_ratio"
    forced = concept_associations(table, method="correlation_ratio")
    pd.testing.assert_frame_equal(forced, associations)


def test_method_forcing():
    table = pd.DataFrame({"cat": [0, 1, 1, 0, 1, 0, 1, 1], "dog": [0, 1, 1, 0, 1, 1, 0, 1]})
    spearman = concept_associations(table, method="spearman")
    cramers = concept_associations(table, method="cramers_v")
    assert set(cramers.attrs["methods"].values()) == {"cramers_v"}
    # For two flags the plain V is |phi| = |Spearman|; the bias correction shrinks it.
    assert 0 <= cramers.loc["cat", "dog"] < abs(spearman.loc["cat", "dog"])
    only = concept_associations(table, columns=["dog"])
    assert only.shape == (1, 1) and only.iloc[0, 0] == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"method": "pearson"}, "method must be one of"),
     ({"method": "spearman"}, r"method='spearman' needs numeric columns, but \['place'\]"),
     ({"method": "correlation_ratio"}, "every pair needs one of each"),
     ({"columns": ["cat", "horse"]}, r"\['horse'\] are not in the concept table"),
     ({"columns": ["cat", "cat"]}, "distinct columns")],
)
def test_bad_requests_are_named(kwargs, match):
    table = pd.DataFrame({"cat": [0, 1, 1], "dog": [1, 0, 2], "place": ["a", "b", "a"]})
    with pytest.raises(ValueError, match=match):
        concept_associations(table, **kwargs)


def test_the_table_is_validated_like_everywhere():
    with pytest.raises(ValueError, match="NaN or infinite"):
        concept_associations(pd.DataFrame({"a": [0.0, np.nan], "b": [1, 0]}))
    with pytest.raises(ValueError, match="needs concept names"):
        concept_associations(np.eye(3))
    with pytest.raises(TypeError, match="columns must be a list"):
        concept_associations(pd.DataFrame({"a": [0, 1]}), columns="a")


def test_a_constant_column_is_nan_off_the_diagonal_and_a_singleton():
    table = pd.DataFrame({"cat": [0, 1, 0, 1], "sky": [1, 1, 1, 1], "dog": [0, 1, 0, 1],
                          "place": ["x", "x", "x", "x"]})
    associations = concept_associations(table)
    assert np.isnan(associations.loc["sky", "cat"]) and np.isnan(associations.loc["cat", "place"])
    assert np.isnan(associations.loc["sky", "place"])
    assert associations.loc["sky", "sky"] == 1.0
    assert suggest_concept_groups(table, threshold=0.0001) == {
        "cat + dog": ["cat", "dog"], "sky": ["sky"], "place": ["place"]}


def test_groups_at_thresholds():
    table = _latent_pairs(rho=0.9)
    assert suggest_concept_groups(table, threshold=0.5) == {
        "a + b": ["a", "b"], "c + d": ["c", "d"], "e": ["e"]}
    assert suggest_concept_groups(table, threshold=1.0) == {c: [c] for c in table.columns}
    assert suggest_concept_groups(table, threshold=0.0) == {
        "a + c + b + e + d": ["a", "c", "b", "e", "d"]}
    assert suggest_concept_groups(table, columns=["e", "b", "a"]) == {
        "e": ["e"], "b + a": ["b", "a"]}
    assert suggest_concept_groups(table[["e"]]) == {"e": ["e"]}


def test_complete_linkage_does_not_chain():
    # a-b and b-c are associated at 0.6, a-c at 0: average linkage would merge
    # c into (a, b) at 1 - 0.3; complete linkage keeps every pair above threshold.
    associations = pd.DataFrame([[1, 0.6, 0.0], [0.6, 1, 0.6], [0.0, 0.6, 1]],
                                index=list("abc"), columns=list("abc"))
    labels = cluster_concepts(associations, threshold=0.3).labels
    assert len(set(labels)) == 2
    assert labels[0] == labels[1] or labels[1] == labels[2]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5", True])
def test_threshold_must_be_in_zero_one(threshold):
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        suggest_concept_groups(pd.DataFrame({"a": [0, 1], "b": [1, 0]}), threshold)


def test_depict_importance_takes_the_suggested_groups(bottleneck, shapes_test,
                                                       bottleneck_labels):
    table = shapes_test.concept_table.copy()
    # Draw a red square in most images with a red circle: a correlated pair.
    rng = np.random.default_rng(0)
    table["red square"] = np.where(rng.random(len(table)) < 0.9, table["red circle"],
                                   table["red square"])
    groups = suggest_concept_groups(table)
    assert groups["red circle + red square"] == ["red circle", "red square"]
    assert len(groups) == table.shape[1] - 1
    kwargs = {"generator": ShapesGenerator(), "n_repeats": 2, "random_state": 0,
              "scoring": "roc_auc"}
    grouped = depict_importance(bottleneck, table, bottleneck_labels, concepts=groups, **kwargs)
    assert list(grouped.concept_names) == list(groups)
    as_tuple = depict_importance(bottleneck, table, bottleneck_labels,
                                 concepts=[("red circle", "red square")], **kwargs)
    np.testing.assert_array_equal(
        grouped.importances[list(groups).index("red circle + red square")],
        as_tuple.importances[0])


class TestDisplay:
    @pytest.fixture(autouse=True)
    def _agg(self):
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        yield
        plt.close("all")

    def test_heat_map_in_leaf_order_with_groups_outlined(self):
        from sklearn_depict import ConceptAssociationDisplay

        table = _latent_pairs(n=2000, rho=0.9)
        display = ConceptAssociationDisplay.from_table(table, threshold=0.5)
        order = display.order_
        # Each correlated pair sits side by side.
        assert sorted(order) == sorted(table.columns)
        assert abs(order.index("a") - order.index("b")) == 1
        assert abs(order.index("c") - order.index("d")) == 1
        ticks = [t.get_text() for t in display.ax_.get_xticklabels()]
        assert ticks == order == [t.get_text() for t in display.ax_.get_yticklabels()]
        associations = concept_associations(table)
        np.testing.assert_allclose(display.im_.get_array(),
                                   associations.loc[order, order].to_numpy())
        j, k = order.index("a"), order.index("b")
        assert display.text_[j, k].get_text() == format(associations.loc["a", "b"], ".2f")
        assert len(display.groups_) == 2
        assert {(p.get_x(), p.get_width()) for p in display.groups_} == {
            (min(order.index("a"), order.index("b")) - 0.5, 2),
            (min(order.index("c"), order.index("d")) - 0.5, 2)}
        assert display.figure_ is display.ax_.figure
        assert display.colorbar_ is not None

    def test_styles_nan_and_no_outline(self):
        import matplotlib.pyplot as plt

        from sklearn_depict.reporting.displays import ConceptAssociationDisplay

        table = pd.DataFrame({"cat": [0, 1, 0, 1], "sky": [1, 1, 1, 1],
                              "place": ["x", "y", "x", "y"]})
        _, ax = plt.subplots()
        display = ConceptAssociationDisplay.from_table(
            table, threshold=None, ax=ax, values_format=".1f", colorbar=False,
            text_kw={"fontsize": 13}, imshow_kw={"alpha": 0.5})
        assert display.ax_ is ax and display.colorbar_ is None and display.groups_ == []
        assert display.im_.get_alpha() == 0.5
        sky = display.order_.index("sky")
        other = (sky + 1) % 3
        assert display.text_[sky, other].get_text() == "n/a"
        assert display.text_[sky, sky].get_text() == "1.0"
        assert display.text_[0, 0].get_fontsize() == 13
        with pytest.raises(TypeError, match="DataFrame that concept_associations"):
            ConceptAssociationDisplay(np.eye(2)).plot()


def test_off_manifold_rate_counts_unseen_combinations():
    from sklearn_depict.stats.manifold import off_manifold_rate

    real = pd.DataFrame({"chair": [1, 1, 0, 0, 1], "table": [1, 1, 0, 0, 0],
                         "note": list("abcde")})
    # Permuting 'table' alone: row 1 becomes (1, 0), seen in row 4; row 2
    # becomes (0, 1), never seen; rows 3 and 4 are seen combinations.
    shuffled = real.assign(table=[1, 0, 1, 0, 0])
    assert off_manifold_rate(real, shuffled, columns=["chair", "table"]) == 1 / 5
    assert off_manifold_rate(real, [shuffled, real], columns=["chair", "table"]) == 1 / 10
    # With the unique note, every changed row is a new combination.
    assert off_manifold_rate(real, shuffled) == 2 / 5
    assert off_manifold_rate(real, real) == 0.0
    with pytest.raises(ValueError, match=r"permuted table 0 lacks the column\(s\) \['table'\]"):
        off_manifold_rate(real, real[["chair"]], columns=["chair", "table"])
    with pytest.raises(ValueError, match="at least one permuted table"):
        off_manifold_rate(real, [])
    with pytest.raises(TypeError, match="pass DataFrames"):
        off_manifold_rate(real, [real.to_numpy()])


def test_report_and_command_line_show_the_correlated_pairs(tmp_path, capsys):
    """Marginal permutation of a correlated pair: named before the run, shown in the report."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from sklearn_depict import FlattenImages, make_shapes_dataset
    from sklearn_depict.cli import main

    data = make_shapes_dataset(60, random_state=0)
    table = data.concept_table.copy()
    table["red square"] = table["red circle"]  # a perfectly associated pair
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    clf.fit(data.images, table["red circle"])
    joblib.dump(clf, tmp_path / "clf.joblib")
    table.to_csv(tmp_path / "table.csv", index=False)
    np.save(tmp_path / "y.npy", table["red circle"].to_numpy())
    out = tmp_path / "out"
    assert main(["explain", "--estimator", str(tmp_path / "clf.joblib"),
                 "--concept-table", str(tmp_path / "table.csv"),
                 "--labels", str(tmp_path / "y.npy"), "--generator", "shapes",
                 "--n-repeats", "2", "--n-bootstraps", "20", "--examples", "0", "--quiet",
                 "--output-dir", str(out)]) == 0
    err = capsys.readouterr().err
    assert "associated above |0.5|: red circle ~ red square (+1.00)" in err
    assert (out / "associations.png").is_file()
    page = (out / "report.html").read_text()
    assert "<h2>Correlated concepts</h2>" in page and "permuted marginally" in page
    assert "<td>red circle</td><td>red square</td>" in page
