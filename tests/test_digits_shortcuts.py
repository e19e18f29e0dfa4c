"""The digits shortcut case study: forced models, oracle, study, demo and benchmark."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from sklearn_depict.case_studies.digits_shortcuts import (
    EXPECTED_TOP,
    MODELS,
    concept_oracle,
    digits_split,
    forced_rows,
    run_shortcut_study,
    shortcut_labels,
    train_digits_cnn,
)

pytest.importorskip("torch")

TRAINING_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "train_digits_diffusion.py"


@pytest.fixture(scope="module")
def split():
    return digits_split()


def _forced_train(split, concept):
    mask = forced_rows(split.data.concept_table.iloc[split.train], split.y[split.train], concept)
    return split.train[mask]


def test_split_is_the_diffusion_models_and_stratified(split):
    spec = importlib.util.spec_from_file_location("train_digits_diffusion", TRAINING_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    _, train, test = script.split(0, 16)
    # The rows the shipped diffusion model never saw are the ones explained.
    np.testing.assert_array_equal(split.train, train)
    np.testing.assert_array_equal(split.test, test)
    assert len(np.intersect1d(split.train, split.test)) == 0
    share = np.bincount(split.data.target[split.test]) / np.bincount(split.data.target)
    np.testing.assert_allclose(share, 0.25, atol=0.01)
    np.testing.assert_array_equal(split.y, shortcut_labels(split.data.target))
    assert split.data.images.shape[1:] == (16, 16, 1)


def test_forcing_makes_concept_and_label_agree(split):
    concepts, y = split.data.concept_table.iloc[split.train], split.y[split.train]
    for concept in ("thick", "slanted"):
        rows = forced_rows(concepts, y, concept)
        np.testing.assert_array_equal(concepts[concept].to_numpy()[rows], y[rows])
        # Independent of the label on natural data, so about half the rows agree.
        assert 0.4 < rows.mean() < 0.6
    assert forced_rows(concepts, y, None).all()
    with pytest.raises(ValueError, match="unknown concept 'bold'"):
        forced_rows(concepts, y, "bold")


def test_oracle_finds_the_forced_concept(split):
    table = split.data.concept_table
    test_rows = split.test
    clean = concept_oracle(table.iloc[split.train], split.y[split.train],
                           table.iloc[test_rows], split.y[test_rows], n_repeats=3)
    assert list(clean.concept_names) == ["digit", "thick", "slanted"]
    assert clean.importances_mean.argmax() == 0 and clean.score > 0.99
    for k, concept in ((1, "thick"), (2, "slanted")):
        train = _forced_train(split, concept)
        rows = test_rows[forced_rows(table.iloc[test_rows], split.y[test_rows], concept)]
        forced = concept_oracle(table.iloc[train], split.y[train], table.iloc[rows],
                                split.y[rows], n_repeats=3)
        assert forced.importances_mean.argmax() == k


def test_training_is_seeded_and_a_forced_cnn_takes_the_shortcut(split):
    images, y = split.data.images, split.y
    train = _forced_train(split, "thick")
    first = train_digits_cnn(images[train], y[train], epochs=30, seed=0)
    again = train_digits_cnn(images[train], y[train], epochs=2, seed=0)
    same = train_digits_cnn(images[train], y[train], epochs=2, seed=0)
    test = images[split.test]
    np.testing.assert_allclose(again.predict_proba(test), same.predict_proba(test), atol=1e-6)
    p = first.predict_proba(test)[:, 1]
    y_test = y[split.test]
    agrees = split.data.concept_table["thick"].to_numpy()[split.test] == y_test
    # Real images alone: where thickness contradicts the label, the model follows it.
    assert roc_auc_score(y_test[agrees], p[agrees]) > 0.9
    assert roc_auc_score(y_test[~agrees], p[~agrees]) < 0.4
    with pytest.raises(ValueError, match=r"shape \(n, H, W, 1\)"):
        train_digits_cnn(images[:5, ..., 0], y[:5])


def test_training_gives_the_same_network_on_any_thread_count(split):
    torch = pytest.importorskip("torch")
    images, y = split.data.images, split.y
    rows = split.train[:256]
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    try:
        torch.set_num_threads(2)
        two = train_digits_cnn(images[rows], y[rows], epochs=2, seed=3)
        assert torch.get_num_threads() == 2  # the caller's setting comes back
        torch.set_num_threads(1)
        one = train_digits_cnn(images[rows], y[rows], epochs=2, seed=3)
    finally:
        torch.set_num_threads(threads)
    test = images[split.test[:64]]
    np.testing.assert_array_equal(two.predict_proba(test), one.predict_proba(test))
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG left alone


@pytest.mark.slow
def test_study_finds_each_models_shortcut_with_a_faithful_generator(split, tmp_path,
                                                                  real_digits):
    study = run_shortcut_study(
        n_explain=160, n_repeats=3, generator=real_digits(split.data), cache=tmp_path,
    )
    assert list(study.summary.index) == list(MODELS)
    assert study.table.shape == (9, 7)
    summary = study.summary
    assert (summary.expected_top == pd.Series(EXPECTED_TOP)).all()
    assert (summary.oracle_top == summary.expected_top).all()
    assert summary.loc["clean", "depict_top"] == "digit"
    assert summary.loc["thick", "depict_top"] == "thick"
    table = study.table
    assert table.loc[("slanted", "slanted"), "depict_mean"] > 0.1
    assert table.loc[("thick", "slanted"), "depict_mean"] == pytest.approx(0, abs=0.02)
    # The forced models lose AUROC where their concept says nothing: real-image evidence.
    assert summary.loc["thick", "natural_auc"] < summary.loc["clean", "natural_auc"] - 0.15
    assert (table.depict_ci_low <= table.depict_mean).all()
    assert (table.depict_mean <= table.depict_ci_high).all()
    assert summary.check_1.all() and summary.check_2.all()
    for name in MODELS:
        matrix = study.models[name].result.diagnostics.independence.to_numpy()
        assert np.isfinite(matrix).all() and (np.diag(matrix) > 0.3).all()


def test_demo_digits_rejects_options_it_cannot_honour(capsys):
    from sklearn_depict.cli.main import main

    for extra in (["--generator", "shapes"], ["--output", "out.json"]):
        with pytest.raises(SystemExit):
            main(["demo", "--domain", "digits", *extra])
        assert "cannot be used with --domain digits" in capsys.readouterr().err
    from sklearn_depict.cli.demo_digits import run_digits_demo

    with pytest.raises(ValueError, match="one generator"):
        run_digits_demo(generator="shapes")
    with pytest.raises(ValueError, match="n_explain must be None"):
        run_shortcut_study(n_explain=3)


def test_case_study_modules_do_not_import_torch():
    code = (
        "import sys, sklearn_depict, sklearn_depict.case_studies.digits_shortcuts, "
        "sklearn_depict.case_studies.digits_correlated, "
        "sklearn_depict.cli.demo_digits; print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_demo_with_the_shipped_diffusion_model(tmp_path):
    pytest.importorskip("diffusers")
    from sklearn_depict.cli.demo_digits import format_shortcut_report, run_digits_demo

    study = run_digits_demo(60, n_repeats=2, cache=tmp_path, verbose=0)
    text = format_shortcut_report(study)
    for needle in ("Check 1, effective generation", "Check 2, independent permutation",
                   "clean    digit", "natural test AUROC"):
        assert needle in text
    assert study.summary.loc["thick", "depict_top"] == "thick"
    assert study.n_images_generated > 0
