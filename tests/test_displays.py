"""The plots: ImportanceDisplay, PermutationExamplesDisplay, IndependenceDisplay."""

from __future__ import annotations

import subprocess
import sys

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sklearn_depict import (  # noqa: E402
    CaptionToImage,
    ConceptBottleneckClassifier,
    ShapesGenerator,
    depict_diagnostics,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
    oracle_importance,
)
from sklearn_depict.models.bottleneck import make_shapes_concept_model  # noqa: E402
from sklearn_depict.reporting.displays import (  # noqa: E402
    ImportanceDisplay,
    IndependenceDisplay,
    PermutationExamplesDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def task():
    train = make_shapes_dataset(300, random_state=0)
    test = make_shapes_dataset(50, random_state=1)
    clf = ConceptBottleneckClassifier(weights=train.weights).fit(
        train.images, train.target, concept_table=train.concept_table
    )
    detector = make_shapes_concept_model().fit(train.images, train.concept_table)
    y = make_concept_labels(test.concept_table, train.weights)
    oracle = oracle_importance(train.weights, clf.concept_probabilities(test.images))
    return train, test, clf, detector, y, oracle


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("display-cache")


@pytest.fixture(scope="module")
def result(task, cache_dir):
    _, test, clf, detector, y, _ = task
    return depict_diagnostics(
        clf, test.concept_table, y, generator=CaptionToImage(ShapesGenerator(), cache=cache_dir),
        scoring="roc_auc", n_repeats=4, random_state=0, detector=detector,
        X_images=test.images,
    ).result


@pytest.fixture(scope="module")
def multi_result(task):
    _, test, clf, _, y, _ = task
    return depict_importance(
        clf, test.concept_table, y, generator=ShapesGenerator(), scoring=["roc_auc", "accuracy"],
        n_repeats=3, random_state=0,
    )


def _labels_top_down(ax):
    ticks = ax.get_yticks()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    return [label for _, label in sorted(zip(ticks, labels), reverse=True)]


def test_importance_display_boxes_sorted_by_mean(result, task):
    oracle = task[5]
    display = ImportanceDisplay.from_result(result, oracle=oracle, confidence=0.95)
    names = list(result.concept_names)
    order = np.argsort(-result.importances_mean, kind="stable")
    assert len(display.boxes_["boxes"]) == len(names) == 6
    assert display.concept_order_ == [names[i] for i in order]
    assert _labels_top_down(display.ax_) == [names[i] for i in order]
    # The boxes hold the raw repeats of each concept, top to bottom.
    for k, i in enumerate(order):
        median = display.boxes_["medians"][k].get_xdata()[0]
        assert median == pytest.approx(np.median(result.importances[i]))
    # The intervals are those of the result, in plot order.
    segments = display.ci_lines_.get_segments()
    assert len(segments) == 6
    for segment, i in zip(segments, order):
        np.testing.assert_allclose(segment[:, 0], result.importances_ci[i])
    np.testing.assert_allclose(display.mean_markers_.get_xdata(), result.importances_mean[order])
    # The oracle is drawn, scaled to the importances.
    assert display.oracle_markers_ is not None
    np.testing.assert_allclose(
        display.oracle_markers_.get_xdata(), oracle[order] * display.oracle_scale_
    )
    assert display.oracle_scale_ * np.max(np.abs(oracle)) == pytest.approx(
        np.max(np.abs(result.importances_mean))
    )
    assert display.figure_ is display.ax_.figure
    assert "roc_auc" not in display.ax_.get_xlabel()  # single metric: unnamed
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert "oracle (scaled)" in legend and any("95% CI" in t for t in legend)


def test_importance_display_without_oracle_on_given_axes(result):
    _, ax = plt.subplots()
    display = ImportanceDisplay.from_result(result, ax=ax, max_concepts=3, legend=False)
    assert display.ax_ is ax
    assert display.oracle_markers_ is None and display.oracle_scale_ is None
    assert len(display.boxes_["boxes"]) == 3
    assert ax.get_legend() is None


def test_importance_display_from_arrays_computes_intervals():
    importances = np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.4]])
    display = ImportanceDisplay(importances, ["a", "b"], oracle=[1.0, 2.0]).plot(
        scale_oracle=False
    )
    assert display.concept_order_ == ["b", "a"]
    np.testing.assert_allclose(display.oracle_markers_.get_xdata(), [2.0, 1.0])
    assert len(display.ci_lines_.get_segments()) == 2
    with pytest.raises(ValueError, match="oracle has 3 values"):
        ImportanceDisplay(importances, ["a", "b"], oracle=[1, 2, 3]).plot()


def test_importance_display_picks_a_metric(multi_result):
    display = ImportanceDisplay.from_result(multi_result, metric="accuracy")
    assert "accuracy" in display.ax_.get_xlabel()
    np.testing.assert_allclose(
        display.mean_markers_.get_xdata(),
        np.sort(multi_result["accuracy"].importances_mean)[::-1],
    )
    first = ImportanceDisplay.from_result(multi_result)
    assert "roc_auc" in first.ax_.get_xlabel()
    with pytest.raises(ValueError, match="Unknown metric"):
        ImportanceDisplay.from_result(multi_result, metric="f1")
    with pytest.raises(TypeError, match="depict_importance"):
        ImportanceDisplay.from_result({"a": 1})


def test_examples_display_grid_and_captions(result, cache_dir, counting_generator):
    concept = "green square"
    display = PermutationExamplesDisplay.from_result(
        result, concept, generator=counting_generator, cache=cache_dir, repeat=1,
        n_examples=3, caption_width=500,
    )
    # The run's cache already holds every image: nothing is generated.
    assert counting_generator.n_images == 0
    assert display.axes_.shape == (2, 3) and display.images_.shape == (2, 3)
    assert display.captions_.shape == (2, 3)
    plan = result.plan
    j = list(plan.concept_names).index(concept)
    scored = list(plan.row_indices)
    for k, row in enumerate(display.rows_):
        position = scored.index(row)
        base_id = plan.baseline_ids[row]
        perm_id = plan.permuted_ids[j, 1, position]
        assert base_id != perm_id
        for top, pair in ((0, base_id), (1, perm_id)):
            caption = plan.captions[pair]
            assert display.captions_[top, k] == caption
            assert display.axes_[top, k].get_title() == (caption or "(empty caption)")
            expected = ShapesGenerator().generate([caption], [plan.seeds[pair]])[0]
            np.testing.assert_array_equal(display.images_[top, k].get_array(), expected)
        # Only the permuted concept changed in the caption.
        changed = set(display.captions_[0, k].split(", ")) ^ set(
            display.captions_[1, k].split(", ")
        )
        assert changed == {concept}
    assert list(display.rows_) == sorted(display.rows_)
    assert "green square" in display.axes_[1, 0].get_ylabel()


def test_examples_display_shortens_long_captions():
    image = np.zeros((4, 4, 3), dtype=np.float32)
    long = "a very long caption " * 10
    display = PermutationExamplesDisplay(
        [image], [image[..., :1]], baseline_captions=[long], permuted_captions=[""]
    ).plot(caption_width=20, max_caption_lines=2)
    title = display.axes_[0, 0].get_title()
    assert title.count("\n") == 1 and title.endswith("…")
    assert display.axes_[1, 0].get_title() == "(empty caption)"
    assert display.captions_[0, 0] == long
    assert list(display.rows_) == [-1]


def test_examples_display_rejects_bad_requests(result):
    generator = ShapesGenerator()
    with pytest.raises(ValueError, match="Unknown concept"):
        PermutationExamplesDisplay.from_result(result, "purple", generator=generator)
    with pytest.raises(ValueError, match="repeat must lie"):
        PermutationExamplesDisplay.from_result(result, "red circle", generator=generator,
                                               repeat=4)


def test_independence_display_heat_map(result):
    matrix = result.diagnostics.independence
    display = IndependenceDisplay.from_result(result)
    np.testing.assert_array_equal(display.im_.get_array(), matrix.to_numpy())
    vmax = np.abs(matrix.to_numpy()).max()
    assert display.im_.norm.vmin == pytest.approx(-vmax)
    assert display.im_.norm.vmax == pytest.approx(vmax)
    assert display.text_.shape == matrix.shape
    assert display.text_[0, 0].get_text() == f"{matrix.iloc[0, 0]:.2f}"
    assert display.colorbar_ is not None
    assert [t.get_text() for t in display.ax_.get_xticklabels()] == list(matrix.columns)
    assert [t.get_text() for t in display.ax_.get_yticklabels()] == list(matrix.index)
    again = IndependenceDisplay.from_diagnostics(result.diagnostics, colorbar=False,
                                                 values_format=None)
    assert again.colorbar_ is None and again.text_ is None


def test_independence_display_marks_missing_values():
    frame = pd.DataFrame([[0.4, np.nan], [0.0, 0.3]], index=["a", "b"], columns=["a", "b"])
    display = IndependenceDisplay(frame).plot()
    assert display.text_[0, 1].get_text() == "n/a"


def test_independence_display_needs_a_detector(multi_result):
    with pytest.raises(ValueError, match="detector"):
        IndependenceDisplay.from_result(multi_result)


def test_plots_need_matplotlib_only_when_drawing(monkeypatch):
    code = (
        "import sys, sklearn_depict, sklearn_depict.reporting.displays, "
        "sklearn_depict.reporting.report, "
        "sklearn_depict.cli.main;"
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-depict\[plot\]"'):
        ImportanceDisplay(np.zeros((1, 2)), ["a"]).plot()


def _examples_arrays(n=2):
    images = np.zeros((n, 4, 4, 3))
    captions = [f"caption {i}" for i in range(n)]
    return images, images + 0.5, {"baseline_captions": captions, "permuted_captions": captions}


def test_style_dictionaries_are_named_like_sklearn():
    display = ImportanceDisplay(np.arange(6.0).reshape(2, 3), ["a", "b"], oracle=[1.0, 2.0]).plot(
        boxplot_kw={"widths": 0.3}, ci_kw={"colors": "green"}, oracle_kw={"markersize": 11}
    )
    assert display.oracle_markers_.get_markersize() == 11
    assert matplotlib.colors.same_color(display.ci_lines_.get_colors()[0], "green")
    baseline, permuted, captions = _examples_arrays()
    examples = PermutationExamplesDisplay(baseline, permuted, **captions).plot(
        imshow_kw={"alpha": 0.5}
    )
    assert examples.images_[0, 0].get_alpha() == 0.5
    heat = IndependenceDisplay([[0.1, 0.0], [0.0, 0.2]]).plot(
        imshow_kw={"alpha": 0.25}, text_kw={"fontsize": 13}
    )
    assert heat.im_.get_alpha() == 0.25 and heat.text_[0, 0].get_fontsize() == 13


@pytest.mark.parametrize(
    "make, old",
    [(lambda: ImportanceDisplay(np.zeros((2, 3)), ["a", "b"]), "ci_kwargs"),
     (lambda: IndependenceDisplay(np.eye(2)), "text_kwargs")],
)
def test_style_dictionaries_have_one_name(make, old):
    # scikit-learn's *_kw names only; the package was never released with others.
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{old}'"):
        make().plot(**{old: {}})


def test_report_table_and_plot_write_pvalues_alike(tmp_path):
    """One formatter: the HTML table and the plot show the same p-value text."""
    from sklearn.utils import Bunch

    from sklearn_depict.formatting import pvalue_text
    from sklearn_depict.reporting.report import write_report

    importances = np.array([[0.30, 0.32, 0.31], [0.05, 0.00, 0.10], [0.0, 0.0, 0.0]])
    pvalues = np.array([1 / 1001, 0.0312, 1.0])
    result = Bunch(
        importances=importances, importances_mean=importances.mean(axis=1),
        importances_std=importances.std(axis=1),
        importances_ci=np.array([[0.29, 0.33], [-0.01, 0.11], [0.0, 0.0]]),
        pvalues=pvalues, ci_method="bootstrap", ranking=np.array([1, 2, 3]),
        tie_groups=[["a"], ["b"], ["c"]], concept_names=np.array(["a", "b", "c"]),
        baseline_score=0.9,
    )
    page = write_report(result, tmp_path, n_examples=0).report_html.read_text()
    display = ImportanceDisplay.from_result(result)
    plotted = [t.get_text() for t in display.pvalue_texts_]
    assert plotted == ["p < 0.001", "p = 0.031", "p = 1.000"]
    for text in ("&lt; 0.001", "0.031", "1.000"):
        assert f'<td class="num">{text}</td>' in page
    # The four-digit form the table used to show next to the plot's "<0.001".
    assert "0.0010" not in page
    assert [pvalue_text(p) for p in (np.nan, 0.001, 0.00099)] == ["n/a", "0.001", "< 0.001"]
