"""skorch models in pipelines that pickle, and the documentation's worked example."""

from __future__ import annotations

import runpy
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_depict import (
    ChannelsFirst,
    ShapesGenerator,
    TorchImageClassifier,
    depict_importance,
    make_shapes_dataset,
)

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "explain_own_model.py"
CONCEPT = "green square"


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    train = make_shapes_dataset(300, random_state=0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 2),
    )  # fmt: skip
    net = skorch.NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=2e-2,
        max_epochs=6, batch_size=50, train_split=None, verbose=0,
    )  # fmt: skip
    pipe = make_pipeline(ChannelsFirst(), net)
    return pipe.fit(train.images, train.concept_table[CONCEPT].to_numpy().astype(np.int64))


def test_a_skorch_pipeline_is_explained_and_pickles(fitted, tmp_path):
    test = make_shapes_dataset(60, random_state=1)
    proba = fitted.predict_proba(test.images)
    net = fitted[-1]
    # The adapter around the trained module gives the same probabilities.
    adapter = TorchImageClassifier(net.module_, classes=net.classes_)
    np.testing.assert_allclose(adapter.predict_proba(test.images), proba, atol=1e-6)
    path = tmp_path / "skorch.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_allclose(loaded.predict_proba(test.images), proba, atol=1e-7)
    result = depict_importance(loaded, test.concept_table, test.concept_table[CONCEPT],
                               generator=ShapesGenerator(), scoring="roc_auc", n_repeats=3,
                               random_state=0)
    assert result.concept_names[np.argmax(result.importances_mean)] == CONCEPT


@pytest.mark.slow
def test_the_documentation_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "accuracy on real test images: 1.000" in out
    assert "1. red circle" in out
    assert "'independent_permutation': True" in out
    assert "skorch model relies most on: red circle" in out
    assert (tmp_path / "own-model-report" / "report.html").exists()
    assert joblib.load(tmp_path / "skorch.joblib")[0].__class__ is ChannelsFirst
