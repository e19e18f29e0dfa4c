"""The sharp edges a new user met on the command line, in plots and in reports."""

from __future__ import annotations

import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import sklearn_depict
from sklearn_depict import FlattenImages, make_shapes_dataset
from sklearn_depict.cli.main import main
from sklearn_depict.formatting import fixed, plot_label

CONCEPT = "blue square"


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A pixel classifier saved with importable steps, and its concept table."""
    folder = tmp_path_factory.mktemp("gaps")
    train = make_shapes_dataset(300, random_state=0)
    test = make_shapes_dataset(30, random_state=1)
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=500))
    clf.fit(train.images, train.concept_table[CONCEPT])
    joblib.dump(clf, folder / "clf.joblib")
    table = test.concept_table.copy()
    table.insert(0, "image_id", [f"img-{i:03d}" for i in range(len(table))])
    table.to_csv(folder / "with_id.csv", index=False)
    np.save(folder / "labels.npy", test.concept_table[CONCEPT].to_numpy())
    return folder, table


def _explain(folder, concepts, *extra):
    return [
        "explain", "--estimator", str(folder / "clf.joblib"), "--concept-table", str(concepts),
        "--labels", str(folder / "labels.npy"), "--generator", "shapes", "--scoring",
        "roc_auc", "--n-repeats", "2", "--examples", "0", "--quiet",
        "--output-dir", str(folder / "out"), *extra,
    ]  # fmt: skip


def test_an_identifier_column_is_refused(task, capsys):
    folder, _ = task
    with pytest.raises(SystemExit) as info:
        main(_explain(folder, folder / "with_id.csv"))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "['image_id']" in err and "--index-column image_id" in err and "--permute" in err
    assert not (folder / "out" / "cache").exists()  # nothing was generated
    assert main(_explain(folder, folder / "with_id.csv", "--index-column", "image_id")) == 0
    assert CONCEPT in capsys.readouterr().out.splitlines()[1]


def test_permute_names_the_concepts_explicitly(task, capsys):
    folder, table = task
    concepts = ",".join(c for c in table.columns if c != "image_id")
    args = _explain(folder, folder / "with_id.csv", "--permute", concepts, "--context",
                    "image_id", "--allow-unknown-words")
    assert main(args) == 0


def test_unknown_words_stop_the_run_unless_allowed(task, tmp_path, capsys):
    folder, table = task
    snake = table.rename(columns=lambda c: c.replace(" ", "_")).set_index("image_id")
    snake.to_csv(tmp_path / "snake.csv")
    args = _explain(folder, tmp_path / "snake.csv", "--index-column", "image_id")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "outside the vocabulary" in err and "'blue_square'" in err and "red circle" in err
    assert main([*args, "--allow-unknown-words"]) == 0  # the old behaviour: nothing drawn


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sklearn-depict {sklearn_depict.__version__}"


def test_a_pickle_of_main_functions_says_how_to_fix_it(task, tmp_path, capsys):
    folder, _ = task
    path = tmp_path / "glue.joblib"
    script = (
        "import joblib, numpy as np\n"
        "from sklearn.dummy import DummyClassifier\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import FunctionTransformer\n"
        "def flatten(X):\n"
        "    return X.reshape(len(X), -1)\n"
        "pipe = make_pipeline(FunctionTransformer(flatten), DummyClassifier())\n"
        "pipe.fit(np.zeros((4, 2, 2, 3)), [0, 1, 0, 1])\n"
        f"joblib.dump(pipe, {str(path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    args = _explain(folder, folder / "with_id.csv", "--index-column", "image_id")
    args[args.index("--estimator") + 1] = str(path)
    with pytest.raises(SystemExit):
        main(args)
    err = capsys.readouterr().err
    assert "Can't get attribute 'flatten'" in err
    assert "FlattenImages()" in err and "importable" in err


def test_a_saved_bare_torch_module_names_the_adapter(task, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    folder, _ = task
    path = tmp_path / "module.joblib"
    joblib.dump(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3072, 2)), path)
    args = _explain(folder, folder / "with_id.csv", "--index-column", "image_id")
    args[args.index("--estimator") + 1] = str(path)
    with pytest.raises(SystemExit):
        main(args)
    assert "TorchImageClassifier(module" in capsys.readouterr().err


def test_no_negative_zero_in_tables():
    from sklearn.utils import Bunch

    from sklearn_depict.cli.summary import format_ranking

    table = pd.DataFrame({"metric": ["roc_auc"] * 2, "rank": [1, 2], "concept": ["a", "b"],
                          "importance_mean": [0.25, -0.00001], "ci_low": [0.2, -0.00004],
                          "ci_high": [0.3, 0.00002]})
    first = Bunch(n_images_generated=4, n_images_cached=0, n_images_distinct=4)
    text = format_ranking(table, first)
    assert "-0.0000" not in text and "0.0000  [0.0000, 0.0000]" in text
    assert fixed(-0.00049, 3) == "0.000" and fixed(-0.0005, 3) == "-0.001"


def test_long_and_dollar_labels_in_plots(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from sklearn_depict.reporting.displays import ImportanceDisplay, IndependenceDisplay

    long = "patient has a documented history of chronic obstructive pulmonary disease"
    names = [long, "cost $5 to $10", "age"]
    importances = np.array([[0.3, 0.2], [0.1, 0.12], [0.0, 0.01]])
    display = ImportanceDisplay(importances, names).plot()
    labels = [t.get_text() for t in display.ax_.get_yticklabels()]
    assert all(len(line) <= 28 for label in labels for line in label.split("\n"))
    assert labels[0].endswith("…") and r"cost \$5 to \$10" in labels
    display.figure_.savefig(tmp_path / "importance.png")  # renders without mathtext errors
    heat = IndependenceDisplay(np.eye(3), permuted_names=names, detected_names=names).plot()
    ticks = [t.get_text() for t in heat.ax_.get_xticklabels()]
    assert r"cost \$5 to \$10" in ticks
    heat.figure_.savefig(tmp_path / "independence.png")
    assert plot_label("$x$") == r"\$x\$"


@pytest.mark.filterwarnings("ignore::sklearn_depict.DiagnosticWarning")
def test_check_messages_show_names_not_reprs():
    from sklearn_depict import ShapesGenerator, depict_diagnostics
    from sklearn_depict.models.bottleneck import make_shapes_detector

    train = make_shapes_dataset(200, random_state=0)
    test = make_shapes_dataset(30, random_state=1)
    clf = make_pipeline(FlattenImages(), LogisticRegression(max_iter=300))
    clf.fit(train.images, train.concept_table[CONCEPT])
    # A detector trained on shuffled concepts detects nothing: every check fails.
    table = train.concept_table
    shuffled = table.sample(frac=1.0, random_state=0).set_index(table.index)
    detector = make_shapes_detector().fit(train.images, shuffled)
    table = test.concept_table.set_axis(np.array(test.concept_table.columns, dtype=np.str_), axis=1)
    checks = depict_diagnostics(clf, table, test.concept_table[CONCEPT],
                                generator=ShapesGenerator(),
                                detector=detector, n_repeats=2, random_state=0)
    assert checks.failures
    text = " ".join(checks.failures)
    assert "“blue square”" in text
    assert "np.str_" not in text and "'blue square'" not in text
