"""Shared fixtures: shapes data, fitted image classifiers and a counting generator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_depict import (
    ConceptBottleneckClassifier,
    ShapesGenerator,
    make_concept_labels,
    make_shapes_dataset,
)


def flatten(images):
    return np.asarray(images).reshape(len(images), -1)


class CountingGenerator:
    """A ShapesGenerator that counts every image it is asked to make."""

    def __init__(self, inner=None):
        self.inner = ShapesGenerator() if inner is None else inner
        self.n_images = 0
        self.n_calls = 0
        self.pairs: list[tuple[str, int]] = []

    @property
    def fingerprint(self):
        return self.inner.fingerprint

    @property
    def image_shape(self):
        # Declared like the inner generator's, so that the estimator is tried on
        # a noise image of that size rather than on a generated one.
        return getattr(self.inner, "image_shape", None)

    def check_captions(self, captions):
        # The inner generator's own check, run before anything is generated.
        check = getattr(self.inner, "check_captions", None)
        if check is not None:
            check(captions)

    def generate(self, captions, seeds):
        self.n_calls += 1
        self.n_images += len(captions)
        self.pairs.extend(zip(captions, seeds))
        return self.inner.generate(captions, seeds)


@pytest.fixture(scope="session")
def shapes_train():
    return make_shapes_dataset(1200, random_state=0)


@pytest.fixture(scope="session")
def shapes_test():
    return make_shapes_dataset(120, random_state=1)


@pytest.fixture(scope="session")
def bottleneck(shapes_train):
    """A concept-bottleneck classifier with known weights, trained on real renders."""
    return ConceptBottleneckClassifier(weights=shapes_train.weights).fit(
        shapes_train.images, shapes_train.target, concept_table=shapes_train.concept_table
    )


@pytest.fixture(scope="session")
def bottleneck_labels(shapes_train, shapes_test):
    return make_concept_labels(shapes_test.concept_table, shapes_train.weights)


@pytest.fixture(scope="session")
def red_circle_clf(shapes_train):
    """A pixel classifier for 'red circle': y depends on that concept alone."""
    y = shapes_train.concept_table["red circle"].to_numpy()
    return make_pipeline(
        FunctionTransformer(flatten), LogisticRegression(max_iter=1000)
    ).fit(shapes_train.images, y)


@pytest.fixture
def counting_generator():
    return CountingGenerator()


class RealDigits:
    """A "generator" that returns a real digit whose measured caption is the one asked for.

    The seed picks among the real images with that caption, so every caption
    is drawn faithfully, from a real image: DEPICT with a perfect generator.
    """

    def __init__(self, data):
        import hashlib

        self.images = data.images
        self.rows = {}
        for i, caption in enumerate(data.captions):
            self.rows.setdefault(caption, []).append(i)
        # Another concept table (another thickness split) is another generator.
        key = hashlib.sha256("\n".join(data.captions).encode()).hexdigest()[:16]
        self.fingerprint = f"real-digits-{data.images.shape[1]}-{key}"

    def generate(self, captions, seeds):
        return np.stack([
            self.images[self.rows[c][int(s) % len(self.rows[c])]]
            for c, s in zip(captions, seeds)
        ])


@pytest.fixture(scope="session")
def real_digits():
    """The RealDigits class: ``real_digits(data)`` for a make_digits_dataset Bunch."""
    return RealDigits


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory):
    """A tiny random-weight Stable Diffusion pipeline saved to a folder (needs diffusers)."""
    pytest.importorskip("diffusers")
    from sklearn_depict.generators.diffusers import make_tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny-sd")
    make_tiny_pipeline(seed=0).save_pretrained(folder, safe_serialization=True)
    return folder
