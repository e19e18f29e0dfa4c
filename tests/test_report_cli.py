"""``sklearn-depict explain`` and ``demo --report``: the report files, end to end."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import sklearn_depict  # noqa: E402
from sklearn_depict import (  # noqa: E402
    ConceptBottleneckClassifier,
    ShapesGenerator,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict.cli.main import main  # noqa: E402
from sklearn_depict.models.bottleneck import make_shapes_concept_model  # noqa: E402

N_REPEATS = 3


class _Page(HTMLParser):
    """Collects the text, the image sources and any external links of a page."""

    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and not str(attrs[key]).startswith("data:"):
                self.links.append(attrs[key])

    def handle_data(self, data):
        self.text.append(data)


def _parse(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    page.joined = " ".join(page.text)
    return page


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny explanation task on shapes, written to files the way a user would."""
    folder = tmp_path_factory.mktemp("task")
    train = make_shapes_dataset(300, random_state=0)
    test = make_shapes_dataset(40, random_state=1)
    clf = ConceptBottleneckClassifier(weights=train.weights).fit(
        train.images, train.target, concept_table=train.concept_table
    )
    detector = make_shapes_concept_model().fit(train.images, train.concept_table)
    y = make_concept_labels(test.concept_table, train.weights)
    table = test.concept_table.copy()
    table.index = pd.Index([f"img-{i:03d}" for i in range(len(table))], name="image_id")

    paths = {
        "estimator": folder / "clf.joblib",
        "detector": folder / "detector.joblib",
        "concepts": folder / "concepts.csv",
        "labels": folder / "labels.csv",
        "images": folder / "images.npy",
        "oracle": folder / "oracle.json",
    }
    joblib.dump(clf, paths["estimator"])
    joblib.dump(detector, paths["detector"])
    table.to_csv(paths["concepts"])
    pd.DataFrame({"image_id": table.index, "label": y}).to_csv(paths["labels"], index=False)
    np.save(paths["images"], test.images)
    paths["oracle"].write_text(json.dumps(dict(zip(table.columns, train.weights.tolist()))))
    return paths, clf, table, y


def _explain_args(paths, out, *extra):
    return [
        "explain",
        "--estimator", str(paths["estimator"]),
        "--concept-table", str(paths["concepts"]),
        "--index-column", "image_id",
        "--labels", str(paths["labels"]),
        "--generator", "shapes",
        "--scoring", "roc_auc",
        "--n-repeats", str(N_REPEATS),
        "--random-state", "0",
        "--detector", str(paths["detector"]),
        "--images", str(paths["images"]),
        "--oracle", str(paths["oracle"]),
        "--examples", "3",
        "--example-concepts", "2",
        "--output-dir", str(out),
        "--quiet",
        *extra,
    ]


@pytest.fixture(scope="module")
def report_dir(files, tmp_path_factory):
    paths = files[0]
    out = tmp_path_factory.mktemp("report")
    assert main(_explain_args(paths, out)) == 0
    return out


def test_explain_writes_every_file(report_dir, files):
    _, _, table, _ = files
    names = {p.name for p in report_dir.iterdir()}
    assert {"results.json", "importances.csv", "importances.png", "independence.png",
            "report.html", "cache"} <= names
    examples = sorted(n for n in names if n.startswith("examples_"))
    assert len(examples) == 2 and all(n.endswith(".png") for n in examples)
    for name in ("importances.png", "independence.png", *examples):
        assert (report_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = pd.read_csv(report_dir / "importances.csv")
    assert sorted(csv.concept) == sorted(table.columns)
    assert list(csv["rank"]) == [1, 2, 3, 4, 5, 6]


def test_results_json_is_complete_and_exact(report_dir, files):
    _, clf, table, y = files
    payload = json.loads((report_dir / "results.json").read_text())
    assert payload["version"] == sklearn_depict.__version__
    assert payload["metrics"] == ["roc_auc"]
    assert payload["concept_names"] == list(table.columns)
    assert (payload["n_samples"], payload["n_scored"], payload["n_repeats"]) == (40, 40, 3)
    res = payload["results"]["roc_auc"]
    assert np.shape(res["importances"]) == (6, N_REPEATS)
    assert np.shape(res["importances_ci"]) == (6, 2)
    assert len(res["importances_mean"]) == len(res["ranking"]) == 6
    assert sorted(c for group in res["tie_groups"] for c in group) == sorted(table.columns)
    diagnostics = res["diagnostics"]
    assert diagnostics["checks"] == {"effective_generation": True,
                                     "independent_permutation": True}
    assert np.shape(diagnostics["independence"]["data"]) == (6, 6)
    assert diagnostics["independence"]["index"] == list(table.columns)
    assert diagnostics["failures"] == []
    assert set(payload["timings"]) >= {"planning", "generation", "prediction", "scoring"}
    plan = payload["plan"]
    assert np.shape(plan["permuted_ids"]) == (6, N_REPEATS, 40)
    assert len(plan["captions"]) == len(plan["seeds"]) == payload["n_images_distinct"]
    assert payload["options"]["n_repeats"] == N_REPEATS
    assert payload["options"]["index_column"] == "image_id"
    assert len(payload["oracle"]) == 6

    # Nothing lossy: the numbers are exactly those of the function.
    # The CLI seeds the bootstrap with --random-state.
    direct = depict_importance(clf, table, y, generator=ShapesGenerator(), scoring="roc_auc",
                               n_repeats=N_REPEATS, random_state=0, ci_random_state=0)
    np.testing.assert_array_equal(np.array(res["importances"]), direct.importances)
    np.testing.assert_array_equal(np.array(res["importances_ci"]), direct.importances_ci)
    assert res["baseline_score"] == direct.baseline_score
    assert plan["captions"] == direct.plan.captions


def test_report_html_is_self_contained_and_names_every_concept(report_dir, files):
    _, _, table, _ = files
    page = _parse(report_dir / "report.html")
    assert page.tags[0] == "html"
    for concept in table.columns:
        assert concept in page.joined
    assert page.links == []  # no external assets
    # importances, 2 example grids, the independence and the association heat maps
    assert len(page.images) == 1 + 2 + 1 + 1
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert "pass" in page.joined and "Tie groups" in page.joined
    assert "Independence heat map" in page.joined


def test_rerun_resumes_from_the_cache(report_dir, files):
    paths = files[0]
    assert main(_explain_args(paths, report_dir)) == 0
    payload = json.loads((report_dir / "results.json").read_text())
    assert payload["n_images_generated"] == 0
    assert payload["n_images_cached"] == payload["n_images_distinct"]


def test_interrupted_run_resumes(files, tmp_path, monkeypatch, capsys):
    paths = files[0]
    real_generate = ShapesGenerator.generate
    calls = []

    def interrupting(self, captions, seeds):
        calls.append(len(captions))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_generate(self, captions, seeds)

    monkeypatch.setattr(ShapesGenerator, "generate", interrupting)
    args = _explain_args(paths, tmp_path, "--batch-size", "32", "--examples", "0")
    assert main(args) == 130
    assert "run the same command again" in capsys.readouterr().err
    monkeypatch.setattr(ShapesGenerator, "generate", real_generate)
    assert main(args) == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    done = sum(calls[:2])  # the two chunks done before the interruption
    assert payload["n_images_cached"] == done
    assert payload["n_images_generated"] == payload["n_images_distinct"] - done


def test_explain_label_column_several_metrics_no_detector(files, tmp_path, capsys):
    paths, _, table, y = files
    odd = "<i>odd</i> & co"
    frame = table.assign(**{odd: 0, "label": y})
    concepts = tmp_path / "concepts.parquet"
    frame.reset_index().to_parquet(concepts)
    out = tmp_path / "out"
    code = main([
        "explain", "--estimator", str(paths["estimator"]), "--concept-table", str(concepts),
        "--index-column", "image_id", "--label-column", "label", "--generator", "shapes",
        "--scoring", "roc_auc,accuracy", "--n-repeats", "2", "--examples", "0",
        "--output-dir", str(out), "--cache", str(tmp_path / "cache"), "--quiet",
    ])
    assert code == 0
    assert "Report written to" in capsys.readouterr().out
    payload = json.loads((out / "results.json").read_text())
    assert payload["metrics"] == ["roc_auc", "accuracy"]
    assert payload["concept_names"] == [*table.columns, odd]  # the label is no concept
    assert payload["results"]["accuracy"].get("diagnostics") is None
    assert not (out / "independence.png").exists()
    assert not list(out.glob("examples_*.png"))
    html = (out / "report.html").read_text()
    assert odd not in html and "&lt;i&gt;odd&lt;/i&gt; &amp; co" in html
    page = _parse(out / "report.html")
    assert "No checks ran" in page.joined
    csv = pd.read_csv(out / "importances.csv")
    assert sorted(set(csv.metric)) == ["accuracy", "roc_auc"] and len(csv) == 14


def _fails(args, capsys, code=2):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_explain_reports_bad_inputs_clearly(files, tmp_path, capsys):
    paths = files[0]
    out = tmp_path / "out"

    missing = {**paths, "estimator": tmp_path / "nope.joblib"}
    assert "estimator file not found" in _fails(_explain_args(missing, out), capsys)

    corrupt = tmp_path / "corrupt.csv"
    corrupt.write_text("a,b\n1,2\n3,4,5,6\n")
    err = _fails(_explain_args({**paths, "concepts": corrupt}, out), capsys)
    assert "could not be parsed" in err

    pickled = tmp_path / "labels.npy"
    np.save(pickled, np.array([{"a": 1}] * 40, dtype=object), allow_pickle=True)
    err = _fails(_explain_args({**paths, "labels": pickled}, out), capsys)
    assert "pickled" in err

    not_a_model = tmp_path / "list.joblib"
    joblib.dump([1, 2, 3], not_a_model)
    err = _fails(_explain_args({**paths, "estimator": not_a_model}, out), capsys)
    assert "does not hold a fitted estimator" in err

    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a joblib file at all")
    err = _fails(_explain_args({**paths, "estimator": garbage}, out), capsys)
    assert "could not be loaded" in err

    err = _fails([*_explain_args(paths, out), "--scoring", "not_a_metric"], capsys)
    assert "unknown scorer" in err
    assert not out.exists()


def test_explain_reports_run_errors_in_one_line(files, tmp_path, capsys):
    paths = files[0]
    code = main([*_explain_args(paths, tmp_path / "out"), "--permute", "purple circle"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "purple circle" in err


def test_demo_report(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--n-samples", "60", "--n-repeats", "2", "--n-train", "300", "--quiet",
            "--report", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Pearson r with the oracle" in printed and "Report written to" in printed
    for name in ("results.json", "importances.csv", "importances.png", "independence.png",
                 "report.html"):
        assert (out / name).is_file()
    payload = json.loads((out / "results.json").read_text())
    assert payload["results"]["roc_auc"]["diagnostics"]["checks"] == {
        "effective_generation": True, "independent_permutation": True}
    page = _parse(out / "report.html")
    for concept in payload["concept_names"]:
        assert concept in page.joined
