"""Tests of sklearn_depict.datasets.shapes_judge, the CNN judge of shapes images."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn_depict import ShapesGenerator, make_shapes_dataset  # noqa: E402
from sklearn_depict.datasets.shapes_judge import ShapesCNNJudge, shapes_cnn_judge  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_cnn_judge_reads_held_out_renders():
    judge = shapes_cnn_judge(2000, width=8, epochs=6, random_state=0)
    test = make_shapes_dataset(1000, random_state=4321)  # renders it was not trained on
    truth = test.concept_table.to_numpy()
    found = judge.predict(test.images)
    assert found.shape == truth.shape
    accuracy = (found == truth).mean(axis=0)
    assert accuracy.min() >= 0.995, accuracy
    assert judge.concept_names_ == ShapesGenerator().vocabulary

    # predict_proba speaks the multi-output scikit-learn format, so the judge
    # can stand in for shapes_detector(), and agrees with predict
    proba = judge.predict_proba(test.images[:50])
    assert len(proba) == 6 and all(p.shape == (50, 2) for p in proba)
    np.testing.assert_allclose(np.sum(proba, axis=2), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(np.column_stack([p[:, 1] > 0.5 for p in proba]), found[:50])

    # an empty scene shows nothing, a single shape only itself
    only = judge.predict(ShapesGenerator().generate(["", "blue square"], [5, 6]))
    np.testing.assert_array_equal(only, [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]])


def test_cnn_judge_training_is_seeded():
    data = make_shapes_dataset(200, random_state=0)
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = ShapesCNNJudge(width=4, epochs=1).fit(data.images, data.concept_table)
    # the caller's global torch RNG is left where it was
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())
    second = ShapesCNNJudge(width=4, epochs=1).fit(data.images, data.concept_table)
    np.testing.assert_array_equal(
        first.decision_function(data.images[:20]), second.decision_function(data.images[:20])
    )


def test_cnn_judge_rejects_bad_input_before_training():
    data = make_shapes_dataset(20, random_state=0)
    with pytest.raises(ValueError, match=r"\(n, height, width, 3\)"):
        ShapesCNNJudge().fit(data.images[..., 0], data.concept_table)
    with pytest.raises(ValueError, match="one row per image"):
        ShapesCNNJudge().fit(data.images, data.concept_table[:10])
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        ShapesCNNJudge(epochs=0).fit(data.images, data.concept_table)
