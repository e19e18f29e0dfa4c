"""Mistakes that one image shows fail before the run generates its images.

Every case counts the images generated before the error: none when the real
images or the generator's declared size show it, at most the one probe image
otherwise, which the cache keeps for the run. A model that fails later, inside
the chunked loop, says which model failed on how many images.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import (
    CaptionToImage,
    ConceptCaptioner,
    FlattenImages,
    ImageCache,
    ShapesGenerator,
    depict_importance,
)
from sklearn_depict._engine.probe import PreflightError, predict_probe, size_mismatch
from sklearn_depict.cli.main import main
from sklearn_depict.diagnostics import depict_diagnostics
from sklearn_depict.models.bottleneck import make_shapes_concept_model

CONCEPT = "red circle"
N_ROWS = 30


@pytest.fixture(scope="module")
def pixel_clf(shapes_train):
    """A scikit-learn model on the raw pixels of 32×32×3 images: 3,072 features."""
    return make_pipeline(FlattenImages(), LogisticRegression(max_iter=300)).fit(
        shapes_train.images[:400], shapes_train.concept_table[CONCEPT][:400])


@pytest.fixture(scope="module")
def detector(shapes_train):
    """Six outputs, one per shapes concept."""
    return make_shapes_concept_model().fit(shapes_train.images[:400],
                                           shapes_train.concept_table[:400])


@pytest.fixture(scope="module")
def rows(shapes_test):
    return (shapes_test.concept_table.iloc[:N_ROWS],
            shapes_test.concept_table[CONCEPT][:N_ROWS].to_numpy(),
            shapes_test.images[:N_ROWS])


def _upsampled(images):
    return np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)


# --------------------------------------------------------------------------- §2: diagnostics

DIAGNOSTICS_CASES = {
    "X_images at 64 px for a 32 px model": (
        lambda images, detector: dict(X_images=_upsampled(images)),
        PreflightError,
        r"cannot predict X_images .*the images are 64×64×3 = 12,288 values; LogisticRegression "
        r"expects 3,072 = 32×32×3\. Give X_images as the estimator takes images",
    ),
    "X_images channels-first": (
        lambda images, detector: dict(X_images=images.transpose(0, 3, 1, 2)),
        PreflightError,
        r"X_images has shape \(30, 3, 32, 32\), which looks channels-first .*np\.moveaxis",
    ),
    "detector outputs are not detector_concepts": (
        lambda images, detector: dict(detector=detector,
                                      detector_concepts=["red circle", "blue square"]),
        PreflightError,
        r"one output per detector concept, but its predict_proba on the probe image\(s\) is a "
        r"list of 6 arrays, for 2 concept\(s\) \(detector_concepts: .*Set detector_concepts",
    ),
    "the same, found on the real images": (
        lambda images, detector: dict(detector=detector, X_images=images,
                                      detector_concepts=["red circle"]),
        PreflightError,
        r"list of 6 arrays, for 1 concept\(s\) \(detector_concepts",
    ),
    "an unfitted detector": (
        lambda images, detector: dict(detector=clone(detector), X_images=images),
        NotFittedError,
        r"The detector Pipeline is not fitted yet.*detector\.fit\(images, concepts\)",
    ),
}


@pytest.mark.parametrize("case", list(DIAGNOSTICS_CASES))
def test_diagnostics_inputs_fail_before_the_first_image(case, pixel_clf, detector, rows):
    make_kwargs, error, match = DIAGNOSTICS_CASES[case]
    table, y, images = rows
    counting = CountingGenerator()
    with pytest.raises(error, match=match):
        depict_diagnostics(pixel_clf, table, y, generator=counting, n_repeats=2,
                           **make_kwargs(images, detector))
    assert counting.n_images == 0


def test_the_default_detector_concepts_are_named_as_such(pixel_clf, detector, rows):
    table, y, _ = rows
    counting = CountingGenerator()
    with pytest.raises(PreflightError, match=r"1 concept\(s\) \(by default every permuted "
                                             r"column, as detector_concepts is not given"):
        depict_diagnostics(pixel_clf, table, y, generator=counting, detector=detector,
                           concepts=[CONCEPT])
    assert counting.n_images == 0


def test_good_inputs_cost_no_extra_image(pixel_clf, detector, rows):
    table, y, images = rows
    counting = CountingGenerator()
    checks = depict_diagnostics(pixel_clf, table, y, generator=counting, detector=detector,
                                X_images=images, n_repeats=2, random_state=0)
    assert counting.n_images == checks.result.n_images_distinct
    assert checks.checks["effective_generation"] is not None


# --------------------------------------------------------------------------- §2: model sizes


def test_a_pixel_model_at_another_size_than_the_generator(pixel_clf, rows):
    table, y, _ = rows
    counting = CountingGenerator(ShapesGenerator(64))
    with pytest.raises(ValueError, match=(
            r"Pipeline\(FlattenImages, LogisticRegression\) cannot take the generated images: "
            r"the images are 64×64×3 = 12,288 values; LogisticRegression expects 3,072 = "
            r"32×32×3\. .*ShapesGenerator\(image_size=\.\.\.\).*before generating")):
        depict_importance(pixel_clf, table, y, generator=counting, scoring="roc_auc")
    assert counting.n_images == 0  # the generator declares its size: a noise image told


class Undeclared:
    """A ShapesGenerator that does not declare its image size; records its pairs."""

    def __init__(self, image_size=32):
        self.inner = ShapesGenerator(image_size)
        self.pairs = []

    @property
    def fingerprint(self):
        return f"undeclared-{self.inner.fingerprint}"

    def generate(self, captions, seeds):
        self.pairs.extend(zip(captions, (int(s) for s in seeds)))
        return self.inner.generate(captions, seeds)


def test_without_a_declared_size_one_probe_image_is_spent_and_kept(pixel_clf, rows, tmp_path):
    table, y, _ = rows
    generator = Undeclared(64)
    cache = ImageCache(tmp_path)
    with pytest.raises(ValueError, match=r"the images are 64×64×3 .* on the run's first image"):
        depict_importance(pixel_clf, table, y, scoring="roc_auc",
                          generator=CaptionToImage(generator, cache=cache))
    first = ConceptCaptioner().captions(table)[0]
    assert [caption for caption, _ in generator.pairs] == [first]
    assert len(cache) == 1  # kept

    # A model that takes 64 px reads the probe image back rather than drawing it again.
    big = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300)).fit(
        _upsampled(rows[2]), y)
    result = depict_importance(big, table, y, scoring="roc_auc", n_repeats=2, random_state=0,
                               generator=CaptionToImage(generator, cache=cache))
    assert len(generator.pairs) == len(set(generator.pairs)) == result.n_images_distinct
    assert result.n_images_generated == result.n_images_distinct - 1
    assert result.n_images_cached == 1


def test_the_probe_image_counts_as_generated(pixel_clf, rows, tmp_path):
    table, y, _ = rows
    kwargs = dict(scoring="roc_auc", n_repeats=2, random_state=0)
    cold = Undeclared()
    result = depict_importance(pixel_clf, table, y, **kwargs,
                               generator=CaptionToImage(cold, cache=tmp_path))
    assert len(cold.pairs) == result.n_images_generated == result.n_images_distinct
    assert result.n_images_cached == 0
    reference = depict_importance(pixel_clf, table, y, generator=ShapesGenerator(), **kwargs)
    np.testing.assert_array_equal(result.importances, reference.importances)
    # Without a cache nothing would keep a probe image: none is drawn.
    uncached = Undeclared()
    result = depict_importance(pixel_clf, table, y, generator=uncached, **kwargs)
    assert len(uncached.pairs) == result.n_images_generated == result.n_images_distinct


def test_a_diffusers_generator_spends_one_image(tiny_sd_dir, pixel_clf, rows, tmp_path,
                                                monkeypatch):
    """DiffusersGenerator declares no size: its first image is the probe, and is kept."""
    from sklearn_depict import DiffusersGenerator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    table, y, _ = rows
    generator = DiffusersGenerator(tiny_sd_dir, num_inference_steps=2, local_files_only=True,
                                   height=64, width=64)
    calls = []
    original = generator.generate
    monkeypatch.setattr(generator, "generate",
                        lambda captions, seeds: calls.append(len(captions)) or original(
                            captions, seeds))
    cache = ImageCache(tmp_path)
    with pytest.raises(ValueError, match=r"the images are 64×64×3 = 12,288 values"):
        depict_importance(pixel_clf, table[:10], y[:10], scoring="roc_auc",
                          generator=CaptionToImage(generator, cache=cache))
    assert calls == [1] and len(cache) == 1


def _tiny_vit():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=32, patch_size=8, num_channels=3, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32,
        id2label={0: "absent", 1: "present"}, label2id={"absent": 0, "present": 1},
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.ViTForImageClassification(config)


def test_a_hugging_face_model_at_another_size(rows):
    from sklearn_depict import TorchImageClassifier

    table, y, _ = rows
    adapter = TorchImageClassifier(_tiny_vit())
    labels = np.where(y == 1, "present", "absent")
    # The adapter explains the model's own error, naming what fixes it.
    with pytest.raises(ValueError, match=r"Check input_size \(or the image_processor's size\)"
                                         r".*config says image_size=32"):
        adapter.predict_proba(np.zeros((2, 64, 64, 3), dtype=np.float32))
    counting = CountingGenerator(ShapesGenerator(64))
    with pytest.raises(ValueError, match=r"TorchImageClassifier cannot take the generated images"
                                         r": the module gets 64×64 images but takes 32×32: give "
                                         r"the adapter input_size=\(32, 32\), or an "
                                         r"image_processor"):
        depict_importance(adapter, table, labels, generator=counting, scoring="roc_auc")
    assert counting.n_images == 0
    result = depict_importance(clone(adapter).set_params(input_size=32), table, labels,
                               generator=counting, scoring="roc_auc", n_repeats=1)
    assert counting.n_images == result.n_images_distinct


def test_size_mismatch_reads_only_size_errors():
    images = np.zeros((1, 16, 16, 1))
    assert size_mismatch(ValueError("X has 256 features, but SVC is expecting 64 features as "
                                    "input."), images) == (
        "the images are 16×16×1 = 256 values; SVC expects 64 = 8×8×1")
    inner = ValueError("Input image size (16*16) doesn't match model (8*8).")
    try:
        try:
            raise inner
        except ValueError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as outer:
        assert "takes 8×8" in size_mismatch(outer, images)
    assert size_mismatch(ValueError("Input contains NaN."), images) is None


class NaNModel:
    """Gives NaN for every image, as a model might for noise."""

    classes_ = np.array([0, 1])

    def predict_proba(self, images):
        return np.full((len(images), 2), np.nan)


def test_made_up_images_only_try_the_call():
    noise = np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32)
    kwargs = dict(role="estimator", source="a noise image")
    outputs = predict_probe(NaNModel(), ["predict_proba"], noise, check_output=False, **kwargs)
    assert outputs["predict_proba"].shape == (1, 2)
    with pytest.raises(ValueError, match="NaN"):  # a generated or real image: checked
        predict_probe(NaNModel(), ["predict_proba"], noise, **kwargs)


# --------------------------------------------------------------------------- §3: the loop


class GreedyModel(ClassifierMixin, BaseEstimator):
    """A pixel model that runs out of memory on more than ``limit`` images at once."""

    def __init__(self, limit=8, batch_size=32):
        self.limit = limit
        self.batch_size = batch_size

    def fit(self, X, y):
        self.model_ = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        if len(X) > self.limit:
            raise RuntimeError(f"CUDA out of memory. Tried to allocate {len(X)} images.")
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def test_a_failing_estimator_says_which_model_and_how_many_images(shapes_train, rows):
    table, y, _ = rows
    model = GreedyModel().fit(shapes_train.images[:200], shapes_train.concept_table[CONCEPT][:200])
    with pytest.raises(RuntimeError, match="CUDA out of memory") as info:
        depict_importance(model, table, y, scoring="roc_auc",
                          generator=CaptionToImage(ShapesGenerator(), batch_size=16))
    notes = " ".join(getattr(info.value, "__notes__", []))
    first = ConceptCaptioner().captions(table)[0]
    assert f"while GreedyModel.predict_proba predicted a chunk of 16 image(s), starting with " \
           f"caption {first!r} and seed" in notes
    assert "lower batch_size (CaptionToImage(batch_size=...)" in notes
    assert "or the model's own batch_size=32" in notes
    # What the note says to do works.
    result = depict_importance(model, table, y, scoring="roc_auc", n_repeats=2,
                               generator=CaptionToImage(ShapesGenerator(), batch_size=8))
    assert result.importances.shape == (6, 2)


def test_a_torch_adapter_out_of_memory_names_both_batch_sizes(rows):
    torch = pytest.importorskip("torch")
    from sklearn_depict import TorchImageClassifier

    class OutOfMemory(torch.nn.Module):
        """A CNN head that runs out of memory on more than 4 images, as on a GPU."""

        def __init__(self):
            super().__init__()
            self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                            torch.nn.Linear(3, 2))

        def forward(self, batch):
            if len(batch) > 4:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.head(batch)

    table, y, _ = rows
    adapter = TorchImageClassifier(OutOfMemory(), classes=[0, 1], batch_size=16)
    with pytest.raises(torch.OutOfMemoryError) as info:
        depict_importance(adapter, table, y, scoring="roc_auc",
                          generator=CaptionToImage(ShapesGenerator(), batch_size=16))
    assert "Check input_size" not in str(info.value)  # no preprocessing fixes memory
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "while TorchImageClassifier.decision_function predicted a chunk of 16 image(s)" in notes
    assert "or the model's own batch_size=16" in notes
    result = depict_importance(adapter.set_params(batch_size=4), table, y, scoring="roc_auc",
                               n_repeats=1, generator=CaptionToImage(ShapesGenerator(),
                                                                     batch_size=16))
    assert result.importances.shape == (6, 1)


# --------------------------------------------------------------------------- §2: command line


@pytest.fixture(scope="module")
def files(tmp_path_factory, pixel_clf, detector, rows):
    folder = tmp_path_factory.mktemp("probe-cli")
    table, y, images = rows
    joblib.dump(pixel_clf, folder / "clf.joblib")
    joblib.dump(detector, folder / "detector.joblib")
    joblib.dump(clone(detector), folder / "unfitted.joblib")
    table.to_csv(folder / "concepts.csv", index=False)
    np.save(folder / "labels.npy", y)
    np.save(folder / "images.npy", images)
    np.save(folder / "images64.npy", _upsampled(images))
    np.save(folder / "channels_first.npy", images.transpose(0, 3, 1, 2))
    return folder


def _explain(folder, output, *extra):
    return [
        "explain", "--estimator", str(folder / "clf.joblib"), "--concept-table",
        str(folder / "concepts.csv"), "--labels", str(folder / "labels.npy"), "--generator",
        "shapes", "--scoring", "roc_auc", "--n-repeats", "2", "--examples", "0", "--quiet",
        "--output-dir", str(output), *extra,
    ]  # fmt: skip


CLI_CASES = {
    "--images at 64 px": (["--images", "images64.npy"],
                          "cannot predict --images (2 of the real images, shape (2, 64, 64, 3)): "
                          "the images are 64×64×3 = 12,288 values"),
    "--images channels-first": (["--images", "channels_first.npy"],
                                "--images has shape (30, 3, 32, 32), which looks channels-first"),
    "--detector-concepts": (["--detector", "detector.joblib", "--detector-concepts",
                             "red circle,blue square"],
                            "Set --detector-concepts to the table columns"),
    "an unfitted --detector": (["--detector", "unfitted.joblib"],
                               "The detector Pipeline is not fitted yet"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_inputs_fail_before_the_first_image(case, files, tmp_path, capsys):
    extra, message = CLI_CASES[case]
    extra = [str(files / e) if e.endswith((".npy", ".joblib")) else e for e in extra]
    assert main(_explain(files, tmp_path / "out", *extra)) == 1
    assert message in capsys.readouterr().err
    assert not list((tmp_path / "out").rglob("*.entry"))  # no image was generated


def test_cli_output_dir_that_cannot_be_written(files, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as info:
        main(_explain(files, blocker / "out"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--output-dir cannot be written: a file stands where a folder is needed" in err
    assert "give --output-dir a folder you can write to" in err
    with pytest.raises(SystemExit):
        main(_explain(files, tmp_path / "out", "--cache", str(blocker)))
    assert "--cache cannot be written" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes to read-only folders")
def test_cli_read_only_output_dir(files, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit):
            main(_explain(files, locked))
    finally:
        locked.chmod(0o700)
    assert "--output-dir cannot be written: Permission denied" in capsys.readouterr().err
    assert not (locked / "cache").exists()
