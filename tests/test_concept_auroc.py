"""The paper's two checks on a categorical concept (the digit of the digits domain)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_depict import depict_diagnostics
from sklearn_depict.datasets.digits import DigitsConceptDetector, make_digits_dataset
from sklearn_depict.diagnostics import DiagnosticWarning
from sklearn_depict.stats.concept_auroc import (
    _categories,
    _concept_auroc,
    _outputs,
    _presence,
    concept_probabilities,
)


@pytest.fixture(scope="module")
def digits():
    return make_digits_dataset(image_size=16, random_state=0)


@pytest.fixture(scope="module")
def judge(digits):
    return DigitsConceptDetector().fit(digits.images[:1000], digits.concept_table[:1000])


class RealDigitsGenerator:
    """Draws a real digit whose measured caption is the requested one.

    The seed picks which of the matching real images. With ``fixed_digit`` the
    digit word of every caption is replaced first: a generator that ignores
    the digit concept.
    """

    def __init__(self, data, fixed_digit=None):
        self.fixed_digit = fixed_digit
        self.fingerprint = f"real-digits-{fixed_digit}"
        self.images = data.images
        self.by_caption = {}
        for i, caption in enumerate(data.captions):
            self.by_caption.setdefault(caption, []).append(i)

    def generate(self, captions, seeds):
        out = []
        for caption, seed in zip(captions, seeds):
            if self.fixed_digit is not None:
                caption = ", ".join([self.fixed_digit, *caption.split(", ")[1:]])
            rows = self.by_caption[caption]
            out.append(self.images[rows[int(seed) % len(rows)]])
        return np.stack(out)


def _flat(images):
    return np.asarray(images).reshape(len(images), -1)


def _run(digits, judge, generator):
    rows = slice(1000, 1300)
    y = (digits.target[rows] >= 5).astype(int)
    clf = make_pipeline(FunctionTransformer(_flat), LogisticRegression(max_iter=2000))
    clf.fit(digits.images[:1000], (digits.target[:1000] >= 5).astype(int))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        diagnostics = depict_diagnostics(
            clf,
            digits.concept_table.iloc[rows],
            y,
            generator=generator,
            scoring="roc_auc",
            n_repeats=3,
            random_state=0,
            detector=judge,
            X_images=digits.images[rows],
        )
    failures = [str(w.message) for w in caught if issubclass(w.category, DiagnosticWarning)]
    return diagnostics.result.diagnostics, failures


def test_macro_one_vs_rest_auroc_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=200)
    proba = rng.dirichlet(np.ones(4), size=200)
    proba[np.arange(200), y] += 0.3  # informative, not perfect
    proba /= proba.sum(axis=1, keepdims=True)
    binary = rng.integers(0, 2, size=200)
    score = rng.random(200) + 0.5 * binary
    table = pd.DataFrame({"kind": np.array(["a", "b", "c", "d"], dtype=object)[y],
                          "flag": binary})
    outputs = [proba, np.column_stack([1 - score, score])]
    categories = _categories(table, ["kind", "flag"], outputs, detector=None)
    assert categories[0].tolist() == ["a", "b", "c", "d"] and categories[1] is None
    labels = _presence(table, ["kind", "flag"], categories)
    scores = concept_probabilities(outputs, 2, categories=categories)
    assert labels.shape == scores.shape == (200, 5)
    got = _concept_auroc(labels, scores, np.array([0, 0, 0, 0, 1]))
    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert got[0] == pytest.approx(expected, abs=1e-12)
    assert got[1] == pytest.approx(roc_auc_score(binary, score), abs=1e-12)


def test_two_word_text_concept_scores_like_a_binary_one():
    # Both values are words, so presence is the same for every row (the old NaN).
    sex = np.array(["female", "male"] * 50, dtype=object)
    p_male = np.linspace(0.1, 0.9, 100) * 0.5 + 0.5 * (sex == "male")
    table = pd.DataFrame({"sex": sex})
    outputs = _outputs([np.column_stack([1 - p_male, p_male])], 1, "detector")
    categories = _categories(table, ["sex"], outputs, detector=None)
    labels = _presence(table, ["sex"], categories)
    scores = concept_probabilities(outputs, 1, categories=categories)
    got = _concept_auroc(labels, scores, np.array([0, 0]))
    assert got[0] == pytest.approx(roc_auc_score(sex == "male", p_male))
    # A phrase concept with absent (empty) values keeps its presence meaning.
    phrase = pd.DataFrame({"dog": ["a dog", ""] * 50})
    outputs = _outputs([np.column_stack([1 - p_male, p_male])], 1, "detector")
    assert _categories(phrase, ["dog"], outputs, detector=None) == [None]


def test_classes_that_do_not_fit_the_outputs_are_reported():
    table = pd.DataFrame({"kind": ["a", "b", "c"] * 10})
    outputs = [np.full((30, 4), 0.25)]
    with pytest.raises(ValueError, match="4 class probabilities.*“kind”"):
        _categories(table, ["kind"], outputs, detector=None)


def test_digit_checks_are_finite_and_pass_with_a_faithful_generator(digits, judge):
    diagnostics, failures = _run(digits, judge, RealDigitsGenerator(digits))
    assert diagnostics.detector_concepts == ["digit", "thick", "slanted"]
    # The digit used to be "present" in every row, which gave NaN everywhere.
    assert np.all(np.isfinite(diagnostics.detector_real_auc))
    assert np.all(np.isfinite(diagnostics.detector_generated_auc))
    assert diagnostics.detector_real_auc[0] > 0.95
    assert abs(diagnostics.detector_gaps[0]) < 0.05
    matrix = diagnostics.independence.to_numpy()
    assert np.all(np.isfinite(matrix))
    assert matrix[0, 0] > 0.3  # permuting the digit ruins reading it
    assert diagnostics.checks["effective_generation"] is True
    assert not [f for f in failures if "“digit”" in f and "only" in f]


def test_generator_ignoring_the_digit_fails_check_two_for_it(digits, judge):
    diagnostics, failures = _run(digits, judge, RealDigitsGenerator(digits, "three"))
    matrix = diagnostics.independence
    assert abs(matrix.loc["digit", "digit"]) < 0.02
    assert diagnostics.checks["independent_permutation"] is False
    assert any("permuting “digit” lowers" in f for f in failures)
