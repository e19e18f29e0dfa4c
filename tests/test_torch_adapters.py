"""TorchImageClassifier and TorchImageRegressor on small CNNs and a tiny ViT.

The networks are built in code and trained for a few seconds on shapes
renders; nothing comes from a model hub.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import types

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer, r2_score, roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline

from sklearn_depict import (
    ShapesGenerator,
    TorchImageClassifier,
    TorchImageRegressor,
    depict_diagnostics,
    depict_importance,
    make_shapes_dataset,
)
from sklearn_depict.cli.main import main

torch = pytest.importorskip("torch")
F = torch.nn.functional

CONCEPT = "red circle"


def _cnn(n_outputs: int = 2) -> torch.nn.Module:
    # A Sequential of torch layers pickles by reference to torch alone, so a
    # saved adapter loads in any process (the CLI's included).
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, n_outputs),
    )  # fmt: skip


def _train(module, images, target, *, epochs, loss="ce", size=None, seed=0):
    """A few epochs of Adam on normalised images: seconds on two CPU cores."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    if size is not None:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    x = (x - 0.5) / 0.5
    y = torch.as_tensor(np.array(target))
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(50):
            output = module(x[batch])
            output = output.logits if hasattr(output, "logits") else output
            if loss == "ce":
                value = F.cross_entropy(output, y[batch].long())
            else:
                value = F.mse_loss(output[:, 0], y[batch].float())
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
    return module.eval()


class HandWritten(ClassifierMixin, BaseEstimator):
    """The glue a user writes without the adapter: the reference to match."""

    def __init__(self, net, size=None, mean=0.5, std=0.5):
        self.net = net
        self.size = size
        self.mean = mean
        self.std = std

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return np.array([0, 1])

    def predict_proba(self, X):
        x = torch.from_numpy(np.ascontiguousarray(np.asarray(X).transpose(0, 3, 1, 2)))
        if self.size is not None:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear",
                              align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        self.net.eval()
        with torch.inference_mode():
            output = self.net(x)
        logits = getattr(output, "logits", output).double().numpy()
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    train = make_shapes_dataset(400, random_state=0)
    test = make_shapes_dataset(80, random_state=1)
    return train, test


@pytest.fixture(scope="module")
def cnn(data):
    train, _ = data
    return _train(_cnn(), train.images, train.concept_table[CONCEPT], epochs=8)


@pytest.fixture(scope="module")
def cnn64():
    """Trained on 64 px renders: explained on 32 px images, it needs the resize."""
    train = make_shapes_dataset(300, image_size=64, random_state=2)
    return _train(_cnn(), train.images, train.concept_table[CONCEPT], epochs=6)


def test_probabilities_equal_a_hand_written_wrapper(cnn, data):
    _, test = data
    adapter = TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5, batch_size=16)
    expected = HandWritten(cnn).predict_proba(test.images)
    proba = adapter.predict_proba(test.images)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    assert (adapter.predict(test.images) == test.concept_table[CONCEPT]).mean() > 0.9
    np.testing.assert_allclose(np.exp(adapter.predict_log_proba(test.images)), proba, atol=1e-9)
    # decision_function is the log-odds of the positive class
    odds = np.log(proba[:, 1]) - np.log(proba[:, 0])
    np.testing.assert_allclose(adapter.decision_function(test.images), odds, atol=1e-6)
    assert not cnn.training


def test_depict_importance_through_the_adapter_equals_the_hand_written_route(cnn, data):
    _, test = data
    y = test.concept_table[CONCEPT].to_numpy()
    kwargs = dict(generator=ShapesGenerator(), scoring="roc_auc", n_repeats=3, random_state=0)
    ours = depict_importance(
        TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5), test.concept_table, y,
        **kwargs
    )
    theirs = depict_importance(HandWritten(cnn), test.concept_table, y, **kwargs)
    np.testing.assert_allclose(ours.importances, theirs.importances, atol=1e-12)
    assert ours.concept_names[np.argmax(ours.importances_mean)] == CONCEPT


class SortedHandWritten(HandWritten):
    """A hand-written wrapper whose labels are sorted, as sklearn's classifiers' are.

    ``labels`` names the network's outputs in its order; ``classes_`` sorts
    them and the probability and decision columns follow ``classes_``.
    """

    def __init__(self, net, labels=(0, 1)):
        super().__init__(net)
        self.labels = labels

    @property
    def classes_(self):
        return np.sort(np.asarray(self.labels))

    def _order(self):
        return np.argsort(np.asarray(self.labels))

    def predict_proba(self, X):
        return super().predict_proba(X)[:, self._order()]

    def decision_function(self, X):
        proba = self.predict_proba(X)
        return np.log(proba[:, 1]) - np.log(proba[:, 0])


@pytest.mark.parametrize("labels", [["normal", "abnormal"], [1, 0]],
                         ids=["strings", "integers"])
def test_labels_given_out_of_order_score_as_sorted_classes(cnn, data, labels):
    # Output 0 of the network means "no red circle", output 1 "red circle".
    # Named out of sklearn's order, the adapter must still score the right
    # column: its classes_ are sorted and its columns follow them.
    _, test = data
    present = test.concept_table[CONCEPT].to_numpy() == 1
    y = np.where(present, labels[1], labels[0])
    adapter = TorchImageClassifier(cnn, classes=labels, mean=0.5, std=0.5)
    reference = SortedHandWritten(cnn, labels)
    assert adapter.classes_.tolist() == sorted(labels)
    np.testing.assert_allclose(adapter.predict_proba(test.images),
                               reference.predict_proba(test.images), atol=1e-6)
    np.testing.assert_allclose(adapter.decision_function(test.images),
                               reference.decision_function(test.images), atol=1e-5)
    np.testing.assert_array_equal(adapter.predict(test.images), reference.predict(test.images))
    assert (adapter.predict(test.images) == y).mean() > 0.9

    # sklearn's roc_auc scorer (decision_function first) equals AUROC by hand.
    by_hand = roc_auc_score(y == sorted(labels)[1],
                            reference.predict_proba(test.images)[:, 1])
    assert by_hand > 0.9
    assert get_scorer("roc_auc")(adapter, test.images, y) == pytest.approx(by_hand, abs=1e-9)

    kwargs = dict(generator=ShapesGenerator(), scoring="roc_auc", n_repeats=2, random_state=0)
    ours = depict_importance(adapter, test.concept_table, y, **kwargs)
    theirs = depict_importance(reference, test.concept_table, y, **kwargs)
    np.testing.assert_allclose(ours.importances, theirs.importances, atol=1e-9)
    assert ours.baseline_score > 0.9
    assert ours.concept_names[np.argmax(ours.importances_mean)] == CONCEPT


def test_sigmoid_softmax_and_id2label_heads_are_reordered(cnn, data):
    _, test = data
    torch.manual_seed(0)
    single = _cnn(n_outputs=1)
    logits = TorchImageRegressor(single).predict(test.images)
    # A single logit: sigmoid(logit) is the probability of the second label.
    adapter = TorchImageClassifier(single, classes=["normal", "abnormal"])
    assert adapter.classes_.tolist() == ["abnormal", "normal"]
    proba = adapter.predict_proba(test.images)
    np.testing.assert_allclose(proba[:, 0], 1 / (1 + np.exp(-logits)), atol=1e-12)
    np.testing.assert_allclose(adapter.decision_function(test.images), -logits, atol=1e-12)
    np.testing.assert_allclose(np.exp(adapter.predict_log_proba(test.images)), proba,
                               atol=1e-12)
    y = np.where(np.arange(len(logits)) % 2 == 0, "normal", "abnormal")
    assert get_scorer("roc_auc")(adapter, test.images, y) == pytest.approx(
        roc_auc_score(y == "abnormal", 1 / (1 + np.exp(-logits))), abs=1e-12)
    as_proba = TorchImageClassifier(torch.nn.Sequential(single, torch.nn.Sigmoid()),
                                    classes=["normal", "abnormal"], output="probabilities")
    np.testing.assert_allclose(as_proba.predict_proba(test.images), proba, atol=1e-6)

    # Three outputs named out of order: columns, logits and labels follow classes_.
    three = _cnn(n_outputs=3)
    raw = TorchImageRegressor(three).predict(test.images)
    adapter = TorchImageClassifier(three, classes=["c", "a", "b"])
    assert adapter.classes_.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(adapter.decision_function(test.images), raw[:, [1, 2, 0]],
                               atol=1e-12)
    np.testing.assert_array_equal(adapter.predict(test.images),
                                  np.array(["c", "a", "b"])[raw.argmax(axis=1)])

    # Labels from a Hugging Face config.id2label, out of order too.
    labelled = copy.deepcopy(cnn)
    labelled.config = types.SimpleNamespace(id2label={0: "normal", 1: "abnormal"})
    adapter = TorchImageClassifier(labelled, mean=0.5, std=0.5)
    assert adapter.classes_.tolist() == ["abnormal", "normal"]
    np.testing.assert_allclose(
        adapter.predict_proba(test.images),
        SortedHandWritten(cnn, ["normal", "abnormal"]).predict_proba(test.images), atol=1e-6)
    with pytest.raises(AttributeError, match="distinct label"):
        TorchImageClassifier(cnn, classes=["a", "a"]).classes_  # noqa: B018


@pytest.mark.slow
def test_resize_and_normalisation_are_applied(cnn64, data):
    _, test = data  # 32 px images for a model trained at 64 px
    adapter = TorchImageClassifier(cnn64, classes=[0, 1], input_size=64, mean=0.5, std=0.5)
    proba = adapter.predict_proba(test.images)
    np.testing.assert_allclose(proba, HandWritten(cnn64, size=64).predict_proba(test.images),
                               atol=1e-6)
    truth = test.concept_table[CONCEPT].to_numpy()
    assert (adapter.predict(test.images) == truth).mean() > 0.9
    # Without the resize, or without the normalisation, the outputs differ.
    unresized = TorchImageClassifier(cnn64, classes=[0, 1], mean=0.5, std=0.5)
    assert np.abs(unresized.predict_proba(test.images) - proba).max() > 1e-2
    raw = TorchImageClassifier(cnn64, classes=[0, 1], input_size=(64, 64))
    assert np.abs(raw.predict_proba(test.images) - proba).max() > 1e-2


def test_clone_is_cheap_and_params_round_trip(cnn):
    adapter = TorchImageClassifier(cnn, classes=[0, 1], mean=[0.5] * 3, std=0.5)
    copy = clone(adapter)
    assert copy.module is cnn
    assert copy.mean == adapter.mean and copy.mean is not adapter.mean
    assert copy.get_params()["classes"] == [0, 1]
    copy.set_params(batch_size=7, classes=["yes", "no"])
    assert copy.batch_size == 7 and adapter.batch_size == 64
    assert copy.classes_.tolist() == ["no", "yes"]  # sorted, as sklearn's classes_ are
    assert "TorchImageClassifier" in repr(copy)


def test_joblib_round_trip_and_the_cli_loads_the_adapter(cnn, data, tmp_path, capsys):
    _, test = data
    adapter = TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5)
    path = tmp_path / "model.joblib"
    joblib.dump(adapter, path)
    loaded = joblib.load(path)
    assert loaded.module is not cnn
    np.testing.assert_array_equal(loaded.predict_proba(test.images),
                                  adapter.predict_proba(test.images))
    test.concept_table.to_csv(tmp_path / "concepts.csv")
    np.save(tmp_path / "labels.npy", test.concept_table[CONCEPT].to_numpy())
    # The network is a torch Sequential: the file refers to nothing in this
    # test module, so it loads in the CLI as in any other process.
    status = main(
        ["explain", "--estimator", str(path), "--concept-table", str(tmp_path / "concepts.csv"),
         "--labels", str(tmp_path / "labels.npy"), "--generator", "shapes", "--scoring",
         "roc_auc", "--n-repeats", "2", "--examples", "0", "--output-dir",
         str(tmp_path / "report"), "--quiet"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert CONCEPT in out.splitlines()[1]  # ranked first
    assert (tmp_path / "report" / "report.html").exists()


def test_fit_says_the_module_is_trained_elsewhere(cnn, data):
    train, _ = data
    adapter = TorchImageClassifier(cnn, classes=[0, 1])
    with pytest.raises(TypeError, match="trained elsewhere"):
        adapter.fit(train.images, train.concept_table[CONCEPT])
    with pytest.raises(TypeError, match="trained elsewhere"):
        cross_val_score(adapter, train.images[:40], train.concept_table[CONCEPT][:40], cv=2,
                        error_score="raise")


def test_errors_name_the_fix(cnn, data):
    _, test = data
    with pytest.raises(TypeError, match="TorchImageClassifier"):
        depict_importance(cnn, test.concept_table, test.target, generator=ShapesGenerator())
    adapter = TorchImageClassifier(cnn, classes=[0, 1])
    with pytest.raises(ValueError, match=r"expects 3-channel images.*np.repeat"):
        adapter.predict(test.images[..., :1])
    with pytest.raises(ValueError, match="looks channels-first"):
        adapter.predict(test.images.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"divide by 255"):
        adapter.predict(test.images * 255)
    with pytest.raises(ValueError, match=r"returns 2 output\(s\).*3 classes"):
        TorchImageClassifier(cnn, classes=[0, 1, 2]).predict_proba(test.images)
    with pytest.raises(AttributeError, match="pass classes="):
        TorchImageClassifier(cnn).classes_  # noqa: B018
    with pytest.raises(AttributeError, match="pass classes="):
        depict_importance(TorchImageClassifier(cnn), test.concept_table, test.target,
                          generator=ShapesGenerator())
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        TorchImageClassifier(LogisticRegression(), classes=[0, 1]).predict(test.images)
    with pytest.raises(ValueError, match="one per channel"):
        TorchImageClassifier(cnn, classes=[0, 1], mean=[0.5, 0.5], std=0.5).predict(
            test.images)
    with pytest.raises(ValueError, match="mean and std go together"):
        TorchImageClassifier(cnn, classes=[0, 1], mean=0.5).predict(test.images)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="sees no CUDA"):
            TorchImageClassifier(cnn, classes=[0, 1], device="cuda").predict(test.images[:2])


def test_single_logit_head_and_probability_outputs(data):
    _, test = data
    torch.manual_seed(0)
    net = _cnn(n_outputs=1)
    adapter = TorchImageClassifier(net, classes=["absent", "present"])
    logits = TorchImageRegressor(net).predict(test.images)
    proba = adapter.predict_proba(test.images)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logits)), atol=1e-12)
    np.testing.assert_allclose(adapter.decision_function(test.images), logits, atol=1e-12)
    np.testing.assert_allclose(np.exp(adapter.predict_log_proba(test.images)), proba,
                               atol=1e-12)
    as_proba = TorchImageClassifier(torch.nn.Sequential(net, torch.nn.Sigmoid()),
                                    classes=["absent", "present"], output="probabilities")
    np.testing.assert_allclose(as_proba.predict_proba(test.images), proba, atol=1e-6)
    assert not hasattr(as_proba, "decision_function")


def test_regressor_twin(data):
    train, test = data
    counts = train.concept_table.sum(axis=1).to_numpy()
    net = _train(_cnn(n_outputs=1), train.images, counts, epochs=6, loss="mse")
    reg = TorchImageRegressor(net, mean=0.5, std=0.5)
    truth = test.concept_table.sum(axis=1).to_numpy()
    assert r2_score(truth, reg.predict(test.images)) > 0.5
    result = depict_importance(reg, test.concept_table, truth, generator=ShapesGenerator(),
                               n_repeats=2, random_state=0)
    assert np.all(result.importances_mean > 0.05)  # every shape counts
    with pytest.raises(TypeError, match="trained elsewhere"):
        reg.fit(train.images, counts)


@pytest.mark.filterwarnings("ignore::sklearn_depict.DiagnosticWarning")
def test_features_make_a_concept_detector(cnn, data):
    train, test = data
    backbone = TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5, features="4")
    embeddings = backbone.transform(test.images[:5])
    assert embeddings.shape == (5, 16)  # the second conv block's maps, averaged
    by_callable = TorchImageClassifier(
        cnn, classes=[0, 1], mean=0.5, std=0.5, features=lambda module, x: module[:6](x)
    ).transform(test.images[:5])
    assert by_callable.shape == (5, 16)
    detector = make_pipeline(
        clone(backbone).set_params(features=lambda module, x: module[:7](x)),
        MultiOutputClassifier(LogisticRegression(max_iter=2000)),
    ).fit(train.images, train.concept_table)
    checks = depict_diagnostics(
        TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5), test.concept_table,
        test.concept_table[CONCEPT], generator=ShapesGenerator(), detector=detector,
        X_images=test.images, n_repeats=2, random_state=0,
    )
    # The detector sees the concept the CNN was trained on; permuting it moves
    # the detector for it and for nothing else.
    own = checks.independence.loc[CONCEPT, CONCEPT]
    assert own > 0.3
    assert checks.detector_real_auc[list(checks.detector_concepts).index(CONCEPT)] > 0.9
    with pytest.raises(ValueError, match="names no submodule"):
        clone(backbone).set_params(features="head").transform(test.images[:2])
    assert not hasattr(TorchImageClassifier(cnn, classes=[0, 1]), "transform")


# --------------------------------------------------------------------------- Hugging Face


@pytest.fixture(scope="module")
def vit(data):
    transformers = pytest.importorskip("transformers")
    train, _ = data
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64,
        id2label={0: "no red circle", 1: "red circle"},
        label2id={"no red circle": 0, "red circle": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config)
    return _train(model, train.images, train.concept_table[CONCEPT], epochs=3)


def _processor(cls_name, **kwargs):
    transformers = pytest.importorskip("transformers")
    import warnings

    with warnings.catch_warnings():
        # Without torchvision, transformers falls back to its PIL processors.
        warnings.simplefilter("ignore")
        return getattr(transformers, cls_name)(**kwargs)


def test_hugging_face_id2label_and_image_processor(vit, data, tmp_path):
    _, test = data
    processor = _processor("ViTImageProcessor", size={"height": 32, "width": 32},
                           image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    adapter = TorchImageClassifier(vit, image_processor=processor)
    assert adapter.classes_.tolist() == ["no red circle", "red circle"]
    proba = adapter.predict_proba(test.images)
    np.testing.assert_allclose(proba, HandWritten(vit).predict_proba(test.images), atol=1e-6)
    labels = np.where(test.concept_table[CONCEPT] == 1, "red circle", "no red circle")
    result = depict_importance(adapter, test.concept_table, labels, generator=ShapesGenerator(),
                               scoring="roc_auc", n_repeats=2, random_state=0)
    assert result.importances.shape == (6, 2)
    # A processor for another size resizes; explicit parameters win over it.
    bigger = _processor("ViTImageProcessor", size={"height": 48, "width": 48},
                        image_mean=[0.5] * 3, image_std=[0.5] * 3)
    np.testing.assert_allclose(
        TorchImageClassifier(vit, image_processor=bigger, input_size=32).predict_proba(
            test.images), proba, atol=1e-12)
    np.testing.assert_allclose(
        TorchImageClassifier(vit, classes=[0, 1], mean=0.5, std=0.5).predict_proba(
            test.images), proba, atol=1e-12)
    # Token sequences are averaged into one embedding per image.
    embed = clone(adapter).set_params(features="vit.layernorm").transform(test.images[:4])
    assert embed.shape == (4, 32)
    # The model and its processor survive a joblib round trip.
    joblib.dump(adapter, tmp_path / "vit.joblib")
    loaded = joblib.load(tmp_path / "vit.joblib")
    assert loaded.classes_.tolist() == adapter.classes_.tolist()
    np.testing.assert_allclose(loaded.predict_proba(test.images), proba, atol=1e-12)


def test_autocast_dtype_on_cpu(cnn, data):
    _, test = data
    full = TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5)
    half = clone(full).set_params(dtype="bfloat16")
    np.testing.assert_allclose(half.predict_proba(test.images),
                               full.predict_proba(test.images), atol=0.05)
    with pytest.raises(ValueError, match="not understood"):
        clone(full).set_params(dtype="float8").predict(test.images)


def test_image_processor_size_shapes(data):
    from sklearn_depict.models.torch_adapters import _processor_settings

    vit = _processor("ViTImageProcessor", size={"height": 40, "width": 24})
    assert _processor_settings(vit)["resize"] == ("exact", (40, 24))
    clip = _processor("CLIPImageProcessor", size={"shortest_edge": 48},
                      crop_size={"height": 40, "width": 40})
    settings = _processor_settings(clip)
    assert settings["resize"] == ("shortest_edge", 48) and settings["crop"] == (40, 40)
    np.testing.assert_allclose(settings["mean"], clip.image_mean)
    # shortest edge, then the centre crop
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40 * 40 * 3, 2))
    _, test = data
    assert TorchImageClassifier(net, classes=[0, 1], image_processor=clip).predict_proba(
        test.images[:3]).shape == (3, 2)
    with pytest.raises(RuntimeError, match="the module failed on a batch of shape"):
        TorchImageClassifier(net, classes=[0, 1], image_processor=vit).predict(test.images[:2])


def test_importing_the_adapters_does_not_import_torch():
    code = (
        "import sys, sklearn_depict\n"
        "from sklearn_depict import ChannelsFirst, FlattenImages\n"
        "import sklearn_depict.models.torch_adapters\n"
        "cls = sklearn_depict.TorchImageClassifier\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --------------------------------------------------------------------------- GPU


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize("dtype", [None, "float16", "bfloat16"])
def test_on_cuda_with_autocast(cnn, data, dtype, tmp_path):
    _, test = data
    cpu = TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5).predict_proba(
        test.images)
    gpu_net = clone_module(cnn).to("cuda")
    adapter = TorchImageClassifier(gpu_net, classes=[0, 1], mean=0.5, std=0.5, dtype=dtype)
    proba = adapter.predict_proba(test.images)
    tolerance = {None: 1e-4, "float16": 2e-2, "bfloat16": 6e-2}[dtype]
    np.testing.assert_allclose(proba, cpu, atol=tolerance)
    # A CUDA model pickled here loads on a machine without a GPU (mapped to the CPU).
    path = str(tmp_path / "cuda_adapter.joblib")
    joblib.dump(adapter, path)
    code = (
        "import joblib, torch\n"
        "assert not torch.cuda.is_available()\n"
        f"a = joblib.load({path!r})\n"
        "assert next(a.module.parameters()).device.type == 'cpu'\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={"CUDA_VISIBLE_DEVICES": "", **_env()})
    assert done.returncode == 0, done.stderr


@pytest.mark.gpu
@cuda
def test_depict_importance_on_cuda_matches_cpu(cnn, data):
    _, test = data
    y = test.concept_table[CONCEPT].to_numpy()
    kwargs = dict(generator=ShapesGenerator(), scoring="roc_auc", n_repeats=3, random_state=0)
    cpu = depict_importance(TorchImageClassifier(cnn, classes=[0, 1], mean=0.5, std=0.5),
                            test.concept_table, y, **kwargs)
    gpu = depict_importance(
        TorchImageClassifier(clone_module(cnn), classes=[0, 1], mean=0.5, std=0.5,
                             device="cuda", dtype="float16"),
        test.concept_table, y, **kwargs,
    )
    np.testing.assert_allclose(gpu.importances_mean, cpu.importances_mean, atol=0.02)


def clone_module(module):
    import copy

    return copy.deepcopy(module)


def _env():
    import os

    return {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
