"""The paper's two checks, on generators built to pass and to fail them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.utils import Bunch

from sklearn_depict import ShapesGenerator, depict_importance
from sklearn_depict.diagnostics import DiagnosticWarning, auroc, depict_diagnostics
from sklearn_depict.models.bottleneck import make_shapes_concept_model


class IgnoringGenerator:
    """Never draws one concept, whatever the caption says."""

    def __init__(self, ignored):
        self.ignored = ignored
        self.inner = ShapesGenerator()

    @property
    def fingerprint(self):
        return f"ignoring-{self.ignored}-{self.inner.fingerprint}"

    def generate(self, captions, seeds):
        stripped = [", ".join(p for p in c.split(", ") if p != self.ignored) for c in captions]
        return self.inner.generate(stripped, seeds)


class LeakyGenerator:
    """Entangles two concepts: draws a blue square exactly when there is a red circle."""

    fingerprint = "leaky-v1"

    def generate(self, captions, seeds):
        fixed = []
        for caption in captions:
            parts = [p for p in caption.split(", ") if p != "blue square"]
            if "red circle" in parts:
                parts.append("blue square")
            fixed.append(", ".join(parts))
        return ShapesGenerator().generate(fixed, seeds)


@pytest.fixture(scope="module")
def detector(shapes_train):
    return make_shapes_concept_model().fit(shapes_train.images, shapes_train.concept_table)


def _diagnose(generator, clf, data, y, detector, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = depict_diagnostics(clf, data.concept_table, y, generator=generator,
                                    detector=detector, X_images=data.images, n_repeats=4,
                                    random_state=0, **kwargs)
    return checks, [w for w in caught if issubclass(w.category, DiagnosticWarning)]


def test_faithful_generator_passes_both_checks(bottleneck, shapes_test, bottleneck_labels,
                                               detector):
    checks, warned = _diagnose(ShapesGenerator(), bottleneck, shapes_test, bottleneck_labels,
                               detector)
    assert checks.checks == {"effective_generation": True, "independent_permutation": True}
    assert warned == []
    assert abs(checks.score_gap) < 0.05
    np.testing.assert_allclose(checks.detector_real_auc, 1.0, atol=0.02)
    matrix = checks.independence.to_numpy()
    assert matrix.shape == (6, 6)
    assert np.diag(matrix).min() > 0.3
    off = matrix[~np.eye(6, dtype=bool)]
    assert np.abs(off).max() < 0.05
    assert checks.failures == []


def test_generator_ignoring_a_concept_fails_both_checks(bottleneck, shapes_test,
                                                        bottleneck_labels, detector):
    checks, warned = _diagnose(IgnoringGenerator("green square"), bottleneck, shapes_test,
                               bottleneck_labels, detector)
    assert checks.checks == {"effective_generation": False, "independent_permutation": False}
    k = checks.detector_concepts.index("green square")
    assert checks.detector_gaps[k] > 0.3
    assert abs(checks.independence.loc["green square", "green square"]) < 0.05
    messages = " ".join(str(w.message) for w in warned)
    assert "“green square”" in messages and "may ignore this concept" in messages
    assert "on real images" in messages  # the target model's score gap


def test_leaky_generator_fails_independence(bottleneck, shapes_test, detector):
    """As with chest X-rays in the paper: correlated concepts, entangled in generation.

    In this table blue squares mostly come with red circles, and the generator
    draws the blue square from the red circle. Permuting 'red circle' then
    moves the blue squares away from the rows labelled with one.
    """
    concepts = shapes_test.concept_table.copy()
    flip = np.random.RandomState(0).uniform(size=len(concepts)) < 0.1
    concepts["blue square"] = np.where(flip, 1 - concepts["red circle"], concepts["red circle"])
    captions = [", ".join(c for c in concepts.columns if row[c]) for _, row in concepts.iterrows()]
    images = ShapesGenerator().generate(captions, shapes_test.seeds.tolist())
    y = concepts["red circle"].to_numpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checks = depict_diagnostics(bottleneck, concepts, y, generator=LeakyGenerator(),
                                    detector=detector, X_images=images, n_repeats=4,
                                    random_state=0)
    assert checks.checks["independent_permutation"] is False
    assert checks.independence.loc["red circle", "blue square"] > 0.2
    assert abs(checks.independence.loc["green circle", "blue square"]) < 0.05
    assert any("entangled" in str(w.message) and "“blue square”" in str(w.message)
               for w in caught)


def test_checks_reuse_the_generated_images(bottleneck, shapes_test, bottleneck_labels,
                                           detector):
    from conftest import CountingGenerator

    plain, with_checks = CountingGenerator(), CountingGenerator()
    depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels, generator=plain,
                      n_repeats=3, random_state=0)
    result = depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                generator=with_checks, n_repeats=3, random_state=0,
                                scoring=None, detector=detector,
                                X_images=shapes_test.images).result
    assert with_checks.n_images == plain.n_images
    assert "diagnostics" in result and "diagnostics" in result.timings


def test_check_one_without_detector_and_multi_metric(bottleneck, shapes_test,
                                                     bottleneck_labels):
    result = depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                                generator=ShapesGenerator(), n_repeats=2, random_state=0,
                                scoring=["roc_auc", "accuracy"],
                                X_images=shapes_test.images).result
    for bunch in result.values():
        assert bunch.diagnostics.checks["independent_permutation"] is None
        assert bunch.diagnostics.checks["effective_generation"] is True
        assert bunch.diagnostics.generated_score == bunch.baseline_score
    real_auc = roc_auc_score(bottleneck_labels, bottleneck.predict_proba(shapes_test.images)[:, 1])
    assert result["roc_auc"].diagnostics.real_score == pytest.approx(real_auc, abs=1e-12)


def test_tolerances_and_bad_detector_inputs(bottleneck, shapes_test, bottleneck_labels,
                                            detector):
    with pytest.raises(ValueError, match="Unknown tolerance"):
        depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                           generator=ShapesGenerator(), detector=detector,
                           tolerances={"gap": 0.1})
    with pytest.raises(ValueError, match="one output per detector concept"):
        depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                           generator=ShapesGenerator(), detector=detector,
                           detector_concepts=["red circle", "red square"])
    with pytest.raises(ValueError, match="one real image per row"):
        depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                           generator=ShapesGenerator(), X_images=shapes_test.images[:5])


def test_auroc_matches_sklearn():
    rng = np.random.RandomState(0)
    labels = rng.randint(0, 2, size=(200, 4))
    scores = np.round(rng.uniform(size=(200, 4)), 1)  # many ties
    expected = [roc_auc_score(labels[:, k], scores[:, k]) for k in range(4)]
    np.testing.assert_allclose(auroc(labels, scores), expected, atol=1e-12)
    assert np.isnan(auroc(np.ones((5, 1)), np.arange(5.0)[:, None]))[0]


def test_check_inputs_fail_before_any_image(bottleneck, shapes_test, bottleneck_labels,
                                            detector):
    from conftest import CountingGenerator

    counting = CountingGenerator()
    for bad in [dict(detector=detector, tolerances={"gap": 0.1}),
                dict(detector=detector, detector_concepts=["no such column"]),
                dict(X_images=shapes_test.images[:5])]:
        with pytest.raises(ValueError):
            depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                               generator=counting, **bad)
    with pytest.raises(ValueError, match="needs detector= .* or X_images="):
        depict_diagnostics(bottleneck, shapes_test.concept_table, bottleneck_labels,
                           generator=counting)
    assert counting.n_images == 0


def test_check_options_belong_to_depict_diagnostics(bottleneck, shapes_test,
                                                   bottleneck_labels, detector):
    with pytest.raises(TypeError, match="unexpected keyword argument 'detector'"):
        depict_importance(bottleneck, shapes_test.concept_table, bottleneck_labels,
                          generator=ShapesGenerator(), detector=detector)


def test_checks_are_pure_functions_of_ids_and_probabilities():
    from sklearn_depict._engine.plan import ImportancePlan
    from sklearn_depict.diagnostics import detector_checks

    # Two rows, one concept: id 0/1 are the baseline, 2/3 the swapped images.
    plan = ImportancePlan(concept_names=["a"], concept_columns=[["a"]], captions=["a", "", "",
                          "a"], seeds=[0, 1, 0, 1], baseline_ids=np.array([0, 1]),
                          row_indices=np.array([0, 1]),
                          permuted_ids=np.array([[[2, 3]]]), n_bound=4)
    labels = np.array([[True], [False]])
    proba = np.array([[0.9], [0.1], [0.2], [0.8]])
    out = Bunch()
    failures = detector_checks(out, plan, labels, proba, None, ["a"],
                               {"generation_gap": 0.1, "min_drop": 0.1, "max_leak": 0.05})
    assert out.detector_generated_auc.tolist() == [1.0]
    assert out.independence.loc["a", "a"] == 1.0  # AUROC 1 -> 0 after the swap
    assert failures == []
