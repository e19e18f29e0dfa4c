"""ShapesGenerator and the shapes dataset."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_depict import ShapesGenerator, make_concept_labels, make_shapes_dataset
from sklearn_depict.datasets.shapes import oracle_importance
from sklearn_depict.models.bottleneck import (
    make_shapes_concept_model,
    make_shapes_detector,
    shapes_detector,
)


def test_deterministic_and_independent_of_batch():
    generator = ShapesGenerator()
    captions = ["red circle", "green square, blue circle", ""]
    together = generator.generate(captions, [1, 2, 3])
    alone = np.concatenate([generator.generate([c], [s]) for c, s in zip(captions, [1, 2, 3])])
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, generator.generate(captions, [1, 2, 3]))


def test_seed_moves_shapes():
    generator = ShapesGenerator()
    a, b = generator.generate(["red circle", "red circle"], [1, 2])
    assert not np.array_equal(a, b)


def test_draws_exactly_the_named_colours():
    images = ShapesGenerator().generate(["red circle, blue square", "", "green circle"], [0, 0, 0])
    lit = (images > 0.5).any(axis=(1, 2))
    np.testing.assert_array_equal(lit, [[True, False, True], [False] * 3, [False, True, False]])


def test_counts_and_plurals_and_unknown_words():
    generator = ShapesGenerator(max_count=3, strict=False)
    assert generator.parse("a photo of 2 red circles and a blue square") == {
        "red circle": 2,
        "blue square": 1,
    }
    with pytest.raises(ValueError, match="max_count"):
        ShapesGenerator().parse("2 red circle")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        ShapesGenerator(strict=True).parse("red circle, purple star")


def test_extended_vocabulary_and_size():
    generator = ShapesGenerator(48, colors={"yellow": (1, 1, 0)}, shapes=["triangle", "diamond"])
    assert generator.vocabulary == ["yellow triangle", "yellow diamond"]
    image = generator.generate(["yellow triangle"], [0])[0]
    assert image.shape == (48, 48, 3)
    assert image[..., 0].max() == 1.0 and image[..., 2].max() == 0.0


def test_fingerprint_tracks_pixel_changing_parameters():
    base = ShapesGenerator().fingerprint
    assert ShapesGenerator().fingerprint == base
    assert ShapesGenerator(40).fingerprint != base
    assert ShapesGenerator(background=0.5).fingerprint != base
    assert ShapesGenerator(shapes=["circle", "triangle"]).fingerprint != base


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shapes": ["hexagon"]}, "cannot draw"),
        ({"colors": {"red": (2, 0, 0)}}, "RGB triple"),
        ({"image_size": 4}, "image_size"),
        ({"max_count": 0}, "max_count"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ShapesGenerator(**kwargs).generate(["red circle"], [0])


def test_generate_checks_its_arguments():
    with pytest.raises(ValueError, match="one seed per caption"):
        ShapesGenerator().generate(["red circle"], [0, 1])
    with pytest.raises(TypeError, match="Captions must be str"):
        ShapesGenerator().generate([3], [0])


def test_dataset_contents():
    data = make_shapes_dataset(300, random_state=0, prevalence=0.3)
    assert list(data.concept_table.columns) == ShapesGenerator().vocabulary
    assert set(np.unique(data.concept_table)) <= {0, 1}
    assert abs(data.concept_table.to_numpy().mean() - 0.3) < 0.05
    assert data.images.shape == (300, 32, 32, 3)
    assert len(data.captions) == 300 and data.weights.shape == (6,)
    expected = make_concept_labels(data.concept_table, data.weights)
    np.testing.assert_array_equal(data.target, expected)
    np.testing.assert_allclose(data.oracle, data.weights * data.concept_table.std(ddof=0))
    again = make_shapes_dataset(300, random_state=0, prevalence=0.3)
    np.testing.assert_array_equal(again.images, data.images)


def test_dataset_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        make_shapes_dataset(0)
    with pytest.raises(ValueError, match="prevalence"):
        make_shapes_dataset(5, prevalence=1.5)


def test_oracle_and_labels():
    np.testing.assert_allclose(oracle_importance([2.0, 1.0], [[0, 1], [1, 1]]), [1.0, 0.0])
    assert make_concept_labels([[1, 0], [0, 1]], [1, 0], threshold=0.5).tolist() == [1, 0]


def test_concept_detector_finds_concepts_in_held_out_renders():
    train = make_shapes_dataset(1500, random_state=0)
    test = make_shapes_dataset(400, random_state=1)
    model = make_shapes_concept_model().fit(train.images, train.concept_table)
    accuracy = (model.predict(test.images) == test.concept_table.to_numpy()).mean(axis=0)
    assert accuracy.min() > 0.97


def test_shapes_detector_is_exact_on_renders_and_steady_off_them():
    detector = shapes_detector(1500)
    test = make_shapes_dataset(400, random_state=1)
    truth = test.concept_table.to_numpy()

    def accuracy(images):
        found = np.column_stack([p[:, 1] > 0.5 for p in detector.predict_proba(images)])
        return (found == truth).mean(axis=0)

    assert accuracy(test.images).min() == 1.0
    # Generated images are never pixel-exact: the judge must not depend on exact
    # pixel counts. Noise flips about 1 % of lit/unlit pixels at the 0.5 cut.
    noisy = np.clip(test.images + np.random.RandomState(0).normal(0, 0.15, test.images.shape), 0, 1)
    assert accuracy(noisy).min() >= 0.99
    # shapes_detector is make_shapes_detector fitted on seeded renders.
    train = make_shapes_dataset(1500, random_state=0)
    refit = make_shapes_detector().fit(train.images, train.concept_table)
    np.testing.assert_array_equal(refit.predict(noisy), detector.predict(noisy))


def test_shapes_data_without_dependence_is_unchanged():
    """The default draw is today's: uniform(size=(n, 6)) < prevalence, from random_state."""
    data = make_shapes_dataset(30, random_state=3)
    again = make_shapes_dataset(30, random_state=3, dependence=None)
    expected = (np.random.RandomState(3).uniform(size=(30, 6)) < 0.5).astype(np.int64)
    np.testing.assert_array_equal(data.concept_table.to_numpy(), expected)
    np.testing.assert_array_equal(again.images, data.images)
    np.testing.assert_array_equal(again.weights, data.weights)


def test_shapes_dependence_correlates_the_named_pair_only():
    data = make_shapes_dataset(4000, random_state=0, prevalence=0.3,
                               dependence={("red circle", "blue square"): 0.9})
    correlation = data.concept_table.corr()
    # Thresholded at the prevalence, a latent 0.9 gives a 0/1 correlation near 0.6-0.7.
    assert correlation.loc["red circle", "blue square"] > 0.55
    others = correlation.to_numpy()[~np.eye(6, dtype=bool)]
    assert np.sum(np.abs(others) > 0.1) == 2
    np.testing.assert_allclose(data.concept_table.mean(), 0.3, atol=0.03)


@pytest.mark.parametrize("dependence, match", [
    ({("red circle", "purple"): 0.5}, "two different concepts"),
    ({("red circle", "red circle"): 0.5}, "two different concepts"),
    ({("red circle", "blue square"): 1.0}, "must lie in"),
    ({"red circle": 0.5}, "pairs of concept names"),
    ({("red circle", "blue square"): 0.9, ("red circle", "green square"): 0.9,
      ("blue square", "green square"): -0.9}, "positive definite"),
])
def test_shapes_dependence_errors(dependence, match):
    with pytest.raises(ValueError, match=match):
        make_shapes_dataset(10, random_state=0, dependence=dependence)
