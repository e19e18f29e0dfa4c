"""Anytime DEPICT: ``tol=`` (_engine/blocks.py and _engine/anytime.py).

The contract: an anytime result equals the score drops of
``make_pipeline(CaptionToImage(g), estimator)`` over the within-block
permuted tables its plan publishes for the rows it used, to 1e-12; earlier
blocks keep their permutations (and images) as blocks are added; each block
makes only its new pairs; mistakes fail before any image is generated.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import get_scorer, make_scorer, roc_auc_score
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import (
    AnytimeTrace,
    CaptionToImage,
    ShapesGenerator,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict._engine.blocks import row_blocks
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.reporting.results_io import dumps, results_from_dict, results_to_dict


@pytest.fixture(scope="module")
def rows(shapes_train):
    """300 rows of shapes and their bottleneck labels."""
    data = make_shapes_dataset(300, random_state=2)
    return data.concept_table, make_concept_labels(data.concept_table, shapes_train.weights)


def _run(estimator, table, y, generator=None, **kwargs):
    kwargs.setdefault("n_repeats", 2)
    kwargs.setdefault("random_state", 0)
    kwargs.setdefault("scoring", "roc_auc")
    kwargs.setdefault("ci_random_state", 0)
    kwargs.setdefault("n_bootstraps", 200)
    return depict_importance(estimator, table, y, generator=generator or ShapesGenerator(),
                             **kwargs)


# --- blocks ------------------------------------------------------------------


def test_blocks_cover_every_row_once_and_a_single_row_joins_the_last():
    blocks = row_blocks(11, 5, seed=3)
    assert [len(b) for b in blocks] == [5, 6]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(11))
    assert [len(b) for b in row_blocks(12, 5, seed=3)] == [5, 5, 2]


# --- the contract -------------------------------------------------------------


@pytest.mark.parametrize("conditioning", [None, {"red circle": ["blue square"]}],
                         ids=["marginal", "conditional"])
def test_pipeline_over_published_tables_of_the_used_rows_equals_the_result(
        bottleneck, rows, conditioning):
    table, y = rows
    result = _run(bottleneck, table, y, tol=0.2, block_size=64, conditioning=conditioning)
    assert result.stopped_early and result.n_samples_used < len(table)
    plan = result.plan
    assert len(plan.table_rows) == result.n_samples_used
    pipeline = make_pipeline(CaptionToImage(ShapesGenerator()), bottleneck)
    scorer = get_scorer("roc_auc")
    used, y_used = table.iloc[plan.table_rows], y[plan.table_rows]
    baseline = scorer(pipeline, used, y_used)
    assert baseline == pytest.approx(result.baseline_score, abs=1e-12)
    for j, name in enumerate(result.concept_names):
        for r in range(result.importances.shape[1]):
            permuted = plan.permuted_table(table, name, r)
            assert list(permuted.index) == list(used.index)
            drop = baseline - scorer(pipeline, permuted, y_used[plan.row_indices])
            assert result.importances[j, r] == pytest.approx(drop, abs=1e-12)


def test_every_row_is_permuted_within_its_block_and_stratum(bottleneck, rows):
    table, y = rows
    result = _run(bottleneck, table, y, tol=1e-9, block_size=64,
                  conditioning={"red circle": ["blue square"]})
    assert not result.stopped_early and result.n_samples_used == len(table)
    block_of = np.empty(len(table), dtype=int)
    for b, block in enumerate(row_blocks(len(table), 64, _seed(0))):
        block_of[block] = b
    plan = result.plan
    sources = plan.table_rows[plan.permuted_rows]  # (n_concepts, n_repeats, n_rows)
    targets = plan.table_rows[plan.row_indices]
    assert (block_of[sources] == block_of[targets]).all()
    j = list(result.concept_names).index("red circle")
    square = table["blue square"].to_numpy()
    assert (square[sources[j]] == square[targets]).all()
    assert result.conditioning["red circle"]["columns"] == ["blue square"]


def _seed(random_state):
    return int(np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1))


def test_adding_blocks_never_changes_earlier_permutations(bottleneck, rows):
    table, y = rows
    early = _run(bottleneck, table, y, tol=10.0, block_size=64, min_blocks=2)
    late = _run(bottleneck, table, y, tol=1e-9, block_size=64)
    assert early.n_samples_used == 128 and late.n_samples_used == len(table)

    def sources(result):
        plan = result.plan
        rows_ = plan.table_rows[plan.row_indices]
        return dict(zip(rows_, plan.table_rows[plan.permuted_rows].transpose(2, 0, 1)))

    before, after = sources(early), sources(late)
    for row, drawn in before.items():
        np.testing.assert_array_equal(after[row], drawn)


def test_each_block_makes_only_its_new_pairs_without_a_cache(bottleneck, rows):
    table, y = rows
    counting = CountingGenerator()
    result = _run(bottleneck, table, y, generator=counting, tol=1e-9, block_size=64)
    assert len(result.anytime_trace.n_samples) == len(row_blocks(len(table), 64, _seed(0)))
    assert len(set(counting.pairs)) == len(counting.pairs)  # nothing made twice
    assert counting.n_images == result.n_images_distinct == result.n_images_generated
    assert result.anytime_trace.n_images[-1] == result.n_images_distinct


def test_anytime_images_are_the_full_runs_images(bottleneck, rows, tmp_path):
    """Seeds follow the row: a full run's cache serves the anytime run's pairs."""
    table, y = rows
    full = _run(bottleneck, table, y, generator=CaptionToImage(ShapesGenerator(),
                                                               cache=tmp_path))
    anytime = _run(bottleneck, table, y, generator=CaptionToImage(ShapesGenerator(),
                                                                  cache=tmp_path),
                   tol=0.2, block_size=64)
    made = set(zip(full.plan.captions, full.plan.seeds))
    mine = set(zip(anytime.plan.captions, anytime.plan.seeds))
    assert anytime.n_images_cached == len(mine & made) > 0
    assert anytime.n_images_generated == len(mine - made)
    baseline = anytime.plan.n_baseline
    assert set(zip(anytime.plan.captions[:baseline], anytime.plan.seeds[:baseline])) <= made


class _UndeclaredShape(ShapesGenerator):
    """The renderer, without a declared image shape: the probe generates an image."""

    image_shape = None


@pytest.mark.parametrize("row_zero_used", [True, False])
def test_the_probe_image_is_counted_once_whether_or_not_its_row_is_used(
        bottleneck, rows, tmp_path, row_zero_used):
    table, y = rows
    state = next(s for s in range(50)
                 if (0 in row_blocks(len(table), 64, _seed(s))[0]) == row_zero_used)
    result = _run(bottleneck, table, y, random_state=state, tol=10.0, block_size=64,
                  min_blocks=1,
                  generator=CaptionToImage(_UndeclaredShape(), cache=tmp_path))
    assert result.n_samples_used == 64
    assert result.n_images_cached == 0  # a fresh cache: nothing was read back
    # The probe's image (row 0's baseline) is one more image when row 0 is unused.
    assert result.n_images_generated == result.n_images_distinct + (not row_zero_used)


# --- stopping -------------------------------------------------------------------


def test_it_stops_at_the_first_block_whose_intervals_are_narrow_enough(bottleneck, rows):
    table, y = rows
    tol = 0.08
    result = _run(bottleneck, table, y, tol=tol, block_size=64, min_blocks=1)
    trace = result.anytime_trace
    widest = trace.max_half_widths
    assert widest[-1] <= tol and (widest[:-1] > tol).all()
    half = (result.importances_ci[:, 1] - result.importances_ci[:, 0]) / 2
    np.testing.assert_allclose(trace.half_widths[-1], half)
    assert trace.n_samples[-1] == result.n_samples_used
    assert result.stopped_early


def test_the_trace_holds_what_a_larger_tol_would_have_returned(bottleneck, rows):
    table, y = rows
    everything = _run(bottleneck, table, y, tol=1e-9, block_size=64).anytime_trace
    assert not np.isnan(everything.importances_ci).any()
    tol = float(np.median(everything.max_half_widths))
    step = int(np.argmax(everything.max_half_widths[1:] <= tol)) + 1  # min_blocks=2
    stopped = _run(bottleneck, table, y, tol=tol, block_size=64)
    assert stopped.n_samples_used == everything.n_samples[step]
    np.testing.assert_array_equal(stopped.importances_ci, everything.importances_ci[step])
    np.testing.assert_array_equal(stopped.importances_mean,
                                  everything.importances_mean[step])


def test_min_blocks_are_processed_before_stopping(bottleneck, rows):
    table, y = rows
    one = _run(bottleneck, table, y, tol=10.0, block_size=64, min_blocks=1)
    three = _run(bottleneck, table, y, tol=10.0, block_size=64, min_blocks=3)
    assert one.n_samples_used == 64 and three.n_samples_used == 192
    everything = _run(bottleneck, table, y, tol=10.0, block_size=64, min_blocks=50)
    assert everything.n_samples_used == len(table) and not everything.stopped_early


def test_a_block_with_one_class_is_not_scored_yet(bottleneck, rows):
    table, y = rows
    y = y.copy()
    first = row_blocks(len(table), 50, _seed(0))[0]
    y[first] = 1  # the first block holds one class: no ROC AUC yet
    result = _run(bottleneck, table, y, tol=10.0, block_size=50, min_blocks=1)
    trace = result.anytime_trace
    assert np.isnan(trace.half_widths[0]).all()
    assert result.n_samples_used == 100
    # The unscored block's NaN survives JSON (written as null).
    back = results_from_dict(json.loads(dumps(results_to_dict(result))))
    assert np.isnan(back.anytime_trace.importances_ci[0]).all()


# --- bad input, before any image -----------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tol": 0.0}, InvalidParameterError, "'tol'"),
        ({"tol": -0.1}, InvalidParameterError, "'tol'"),
        ({"tol": 0.05, "block_size": 1}, InvalidParameterError, "'block_size'"),
        ({"tol": 0.05, "block_size": 301}, ValueError, "block_size=301 is larger"),
        ({"tol": 0.05, "min_blocks": 0}, InvalidParameterError, "'min_blocks'"),
        ({"tol": 0.05, "ci_method": "t"}, ValueError, "ci_method='t'"),
        ({"tol": 0.05, "max_samples": 0.5}, ValueError, "max_samples=0.5"),
        ({"tol": 0.05, "max_samples": 200}, ValueError, "max_samples=200"),
        ({"tol": 0.05, "scoring": make_scorer(roc_auc_score, response_method="predict_proba")},
         ValueError, "Pass a named scorer"),
        ({"tol": 0.05, "scoring": ["roc_auc", "accuracy"]}, ValueError, "single scorer"),
        ({"block_size": 64}, ValueError, "only apply to an anytime run"),
        ({"min_blocks": 3}, ValueError, "only apply to an anytime run"),
    ],
)
def test_bad_anytime_input_fails_before_any_image(bottleneck, rows, kwargs, error, match):
    table, y = rows
    counting = CountingGenerator()
    with pytest.raises(error, match=match):
        _run(bottleneck, table, y, generator=counting, **kwargs)
    assert counting.n_images == 0


# --- results, JSON, display, report ---------------------------------------------


def test_the_trace_survives_the_json_round_trip(bottleneck, rows):
    table, y = rows
    result = _run(bottleneck, table, y, tol=0.2, block_size=64)
    back = results_from_dict(json.loads(dumps(results_to_dict(result))))
    assert back.n_samples_used == result.n_samples_used
    assert back.stopped_early is True
    assert isinstance(back.anytime_trace, AnytimeTrace)
    for key in ("half_widths", "importances_mean", "importances_ci"):
        np.testing.assert_array_equal(getattr(back.anytime_trace, key),
                                      getattr(result.anytime_trace, key))
    np.testing.assert_array_equal(back.plan.table_rows, result.plan.table_rows)
    pd.testing.assert_frame_equal(back.plan.permuted_table(table, "red circle", 0),
                                  result.plan.permuted_table(table, "red circle", 0))


def test_trace_display_and_report_panel(bottleneck, rows, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn_depict import AnytimeTraceDisplay
    from sklearn_depict.reporting.report import write_report

    table, y = rows
    result = _run(bottleneck, table, y, tol=0.2, block_size=64)
    display = AnytimeTraceDisplay.from_result(result)
    trace = result.anytime_trace
    assert len(display.lines_) == len(result.concept_names)
    np.testing.assert_array_equal(display.lines_[0].get_xdata(), trace.n_samples)
    assert display.tol_line_.get_ydata()[0] == 0.2
    with pytest.raises(ValueError, match="no anytime_trace"):
        AnytimeTraceDisplay.from_result(_run(bottleneck, table, y))
    paths = write_report(result, tmp_path, metric_name="roc_auc", n_examples=0)
    html = paths.report_html.read_text(encoding="utf-8")
    assert paths.anytime_png.exists()
    assert "Anytime run" in html and f"after {result.n_samples_used} of 300 rows" in html


def test_the_command_line_stops_with_tol(tmp_path, capsys):
    """explain --tol T --block-size B: an anytime run, reported as such."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from sklearn_depict import FlattenImages
    from sklearn_depict.cli import main

    data = make_shapes_dataset(200, random_state=0)
    table = data.concept_table
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    clf.fit(data.images, table["red circle"])
    joblib.dump(clf, tmp_path / "clf.joblib")
    table.to_csv(tmp_path / "table.csv", index=False)
    np.save(tmp_path / "y.npy", table["red circle"].to_numpy())
    args = ["explain", "--estimator", str(tmp_path / "clf.joblib"),
            "--concept-table", str(tmp_path / "table.csv"),
            "--labels", str(tmp_path / "y.npy"), "--generator", "shapes",
            "--scoring", "roc_auc", "--n-repeats", "2", "--n-bootstraps", "50",
            "--examples", "0", "--quiet", "--tol", "0.5", "--block-size", "50"]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Anytime: 100 of 200 rows used" in out and "the intervals settled" in out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["n_samples_used"] == 100 and saved["stopped_early"] is True
    assert (tmp_path / "out" / "anytime.png").exists()
    with pytest.raises(SystemExit):
        main([*args[:-2], "--block-size", "1", "--output-dir", str(tmp_path / "bad")])
    assert "expected an integer >= 2" in capsys.readouterr().err
