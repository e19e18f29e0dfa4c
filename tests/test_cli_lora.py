"""``sklearn-depict explain --lora``: a LoRA adapter on the command line.

Offline, on the tiny random-weight pipeline saved to a folder and an adapter
trained on it for two steps; nothing comes from a hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

import joblib  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from sklearn_depict import (  # noqa: E402
    CaptionToImage,
    DiffusersGenerator,
    FlattenImages,
    depict_importance,
    make_shapes_dataset,
)
from sklearn_depict.cli.main import main  # noqa: E402
from sklearn_depict.text_to_image import fit_text_to_image  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
CONCEPTS = ["red circle", "blue square"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def task(tiny_sd_dir, tmp_path_factory):
    """An adapter of the tiny pipeline, a pixel classifier and a small concept table."""
    folder = tmp_path_factory.mktemp("cli-lora")
    train = make_shapes_dataset(60, random_state=0)
    fit_text_to_image(
        train.captions, train.images, base=str(tiny_sd_dir), method="lora",
        output_dir=folder / "adapter", max_train_steps=2, batch_size=2, verbose=0,
    )  # fmt: skip
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=500))
    clf.fit(train.images, train.concept_table["red circle"])
    joblib.dump(clf, folder / "clf.joblib")
    test = make_shapes_dataset(6, random_state=1)
    table = test.concept_table[CONCEPTS]
    table.to_csv(folder / "table.csv", index=False)
    y = np.array([0, 1, 0, 1, 0, 1])
    np.save(folder / "labels.npy", y)
    return folder, clf, table, y


def _explain(folder, generator, out, *extra):
    return [
        "explain", "--estimator", str(folder / "clf.joblib"),
        "--concept-table", str(folder / "table.csv"), "--labels", str(folder / "labels.npy"),
        "--generator", str(generator), "--local-files-only", "--steps", "2",
        "--scoring", "accuracy", "--n-repeats", "1", "--random-state", "0",
        "--n-bootstraps", "20",
        "--examples", "0", "--quiet", "--output-dir", str(out), *extra,
    ]  # fmt: skip


def _api_run(clf, table, y, cache, **lora):
    generator = DiffusersGenerator(
        str(lora.pop("base")), num_inference_steps=2, local_files_only=True, **lora
    )
    # The command's permutations: the same random_state draws the same pairs.
    return depict_importance(clf, table, y, scoring="accuracy", n_repeats=1, random_state=0,
                             generator=CaptionToImage(generator, cache=cache))


def test_explain_applies_the_lora_at_its_scale(task, tiny_sd_dir, tmp_path):
    folder, clf, table, y = task
    adapter, out = folder / "adapter", tmp_path / "out"
    assert main(_explain(folder, tiny_sd_dir, out, "--lora", str(adapter),
                         "--lora-scale", "0.5")) == 0  # fmt: skip
    assert (out / "report.html").is_file()
    cache = str(out / "cache")
    # The command made exactly the images of the base model with the adapter
    # at 0.5: that generator finds every one in the cache ...
    same = _api_run(clf, table, y, cache, base=tiny_sd_dir, lora=[str(adapter)],
                    lora_scale=0.5)  # fmt: skip
    assert same.n_images_generated == 0 and same.n_images_cached > 0
    # ... and neither the base model alone nor another scale does.
    for other in ({}, {"lora": [str(adapter)], "lora_scale": 1.0}):
        result = _api_run(clf, table, y, cache, base=tiny_sd_dir, **other)
        assert result.n_images_generated == result.n_images_distinct


def test_a_lora_folder_as_generator_names_lora(task, tiny_sd_dir, tmp_path, capsys):
    folder, *_ = task
    adapter, out = folder / "adapter", tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(_explain(folder, adapter, out))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is a folder of LoRA adapters" in err
    # The adapter's training record names its base: the fix is spelled out.
    assert f"--generator {tiny_sd_dir.resolve()} --lora {adapter}" in " ".join(err.split())
    assert not out.exists()
    # The API says the same in its own words.
    with pytest.raises(ValueError, match=r"holds LoRA adapters, not a pipeline.*lora="):
        DiffusersGenerator(str(adapter), num_inference_steps=2).generate(["red circle"], [0])


@pytest.mark.parametrize(
    "extra, generator, message",
    [
        (["--lora", "{adapter}"], "shapes", "--lora adapts a diffusers model"),
        (["--lora-scale", "0.5"], "{base}", "give --lora too"),
        (["--lora", "{missing}"], "{base}", "is neither a folder nor a file"),
        (["--lora", "{adapter}", "--lora-scale", "1", "--lora-scale", "2"], "{base}",
         "lora_scale lists 2 scales for 1 adapter"),
    ],
)  # fmt: skip
def test_bad_lora_options_stop_before_any_image(task, tiny_sd_dir, tmp_path, capsys, extra,
                                                generator, message):
    folder, *_ = task
    names = {"adapter": folder / "adapter", "base": tiny_sd_dir, "missing": tmp_path / "nope"}
    out = tmp_path / "out"
    args = _explain(folder, generator.format(**names), out,
                    *[part.format(**names) for part in extra])  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_help_lists_the_lora_options(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert "--lora PATH" in out and "--lora-scale S" in out
