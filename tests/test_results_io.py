"""One results schema, one verdict wording, and a report that escapes what it shows."""

from __future__ import annotations

import fnmatch
import json
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.utils import Bunch

from sklearn_depict import (
    ConceptBottleneckClassifier,
    ImportancePlan,
    ShapesGenerator,
    depict_diagnostics,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)
from sklearn_depict.models.bottleneck import make_shapes_detector
from sklearn_depict.reporting.results_io import (
    SCHEMA_VERSION,
    dumps,
    read_results,
    results_from_dict,
    results_to_dict,
    write_results,
)
from sklearn_depict.reporting.verdicts import check_verdicts, format_checks, verdict_word
from sklearn_depict.stats.results import is_single_metric, metric_items

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def task():
    train = make_shapes_dataset(300, random_state=0)
    test = make_shapes_dataset(40, random_state=1)
    clf = ConceptBottleneckClassifier(weights=train.weights).fit(
        train.images, train.target, concept_table=train.concept_table
    )
    detector = make_shapes_detector().fit(train.images, train.concept_table)
    y = make_concept_labels(test.concept_table, train.weights)
    return clf, detector, test, y


@pytest.fixture(scope="module")
def single(task):
    clf, detector, test, y = task
    return depict_diagnostics(clf, test.concept_table, y, generator=ShapesGenerator(),
                              scoring="roc_auc", n_repeats=2, random_state=0,
                              ci_random_state=0, detector=detector,
                              X_images=test.images).result


@pytest.fixture(scope="module")
def multi(task):
    clf, _, test, y = task
    return depict_importance(clf, test.concept_table, y, generator=ShapesGenerator(),
                             scoring=["roc_auc", "accuracy"], n_repeats=2, random_state=0,
                             ci_random_state=0, ci_method="t")


def _assert_same(back, original, where="result"):
    """Every entry of ``original`` comes back with the same value and kind."""
    assert set(back) == set(original), where
    for key, value in original.items():
        got = back[key]
        here = f"{where}.{key}"
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got, value, check_dtype=False, obj=here)
        elif isinstance(value, np.ndarray):
            assert isinstance(got, np.ndarray), here
            assert got.dtype.kind == value.dtype.kind, here
            np.testing.assert_array_equal(got, value, err_msg=here)
        elif isinstance(value, ImportancePlan):
            assert isinstance(got, ImportancePlan), here
            for field in ("concept_names", "concept_columns", "captions", "seeds",
                          "n_bound", "n_values"):
                assert getattr(got, field) == getattr(value, field), f"{here}.{field}"
            for field in ("baseline_ids", "row_indices", "permuted_ids"):
                np.testing.assert_array_equal(getattr(got, field), getattr(value, field))
            assert got.n_distinct == value.n_distinct and got.n_naive == value.n_naive
        elif isinstance(value, Bunch):
            _assert_same(got, value, here)
        elif isinstance(value, float):
            assert got == value or (np.isnan(got) and np.isnan(value)), here
        else:
            assert got == value, here


def test_single_metric_round_trip_through_json_text(single):
    payload = results_to_dict(single, metric_name="roc_auc")
    assert payload["schema_version"] == SCHEMA_VERSION and payload["multi_metric"] is False
    back = results_from_dict(json.loads(dumps(payload)))
    assert is_single_metric(back)
    _assert_same(back, single)


def test_multi_metric_round_trip_through_a_file(multi, tmp_path):
    payload = results_to_dict(multi, oracle=np.arange(6.0), summary={"note": "x"})
    assert payload["metrics"] == ["roc_auc", "accuracy"] and payload["multi_metric"]
    back = read_results(write_results(payload, tmp_path / "sub" / "results.json"))
    assert not is_single_metric(back) and list(back) == ["roc_auc", "accuracy"]
    for name in back:
        _assert_same(back[name], multi[name], name)
    # the shared entries are stored once, and shared again when read back
    assert "concept_names" not in payload["results"]["accuracy"]
    assert back["accuracy"].plan is back["roc_auc"].plan


def test_nan_is_written_as_null_and_read_back_as_nan():
    result = Bunch(importances=np.array([[np.nan, 0.5]]), importances_mean=np.array([np.nan]),
                   baseline_score=np.nan, concept_names=np.array(["a"], dtype=object))
    text = dumps(results_to_dict(result))
    assert "NaN" not in text and "null" in text
    back = results_from_dict(json.loads(text))
    assert np.isnan(back.baseline_score) and np.isnan(back.importances[0, 0])


def test_reading_refuses_other_payloads_and_newer_schemas(single):
    payload = results_to_dict(single)
    with pytest.raises(ValueError, match="schema version 2; this sklearn-depict reads"):
        results_from_dict({**payload, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ValueError, match="format='something else'"):
        results_from_dict({**payload, "format": "something else"})
    with pytest.raises(ValueError, match="got list"):
        results_from_dict([payload])


def test_one_test_for_single_or_multi_metric(single, multi):
    assert is_single_metric(single) and not is_single_metric(multi)
    assert [name for name, _ in metric_items(single, "roc_auc")] == ["roc_auc"]
    assert [name for name, _ in metric_items(multi)] == ["roc_auc", "accuracy"]
    with pytest.raises(TypeError, match="Expected the result of depict_importance"):
        metric_items({"roc_auc": [1, 2]})


def test_one_verdict_wording_for_text_and_report(single, multi):
    lines = format_checks(single.diagnostics)
    assert lines[0].startswith("Check 1, effective generation: PASS (detector AUROC")
    assert lines[1].startswith("Check 2, independent permutation: PASS (smallest own drop")
    assert format_checks(multi["roc_auc"].get("diagnostics")) == []
    failed = {"checks": {"effective_generation": False, "independent_permutation": None},
              "score_gap": -0.3, "failures": ["effective generation: the gap is too big."]}
    assert format_checks(failed) == [
        "Check 1, effective generation: FAIL (score real vs generated, gap -0.300)",
        "Check 2, independent permutation: not run",
        "  effective generation: the gap is too big.",
    ]
    assert [v.word for v in check_verdicts(failed)] == ["fail", "not run"]
    assert [verdict_word(v) for v in (True, False, None)] == ["pass", "fail", "not run"]


def test_the_cli_prints_the_shared_check_lines(single):
    from sklearn_depict.cli.summary import format_ranking
    from sklearn_depict.reporting.report import importance_table

    text = format_ranking(importance_table(single, metric_name="roc_auc"), single)
    for line in format_checks(single.diagnostics):
        assert line in text.splitlines()


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


HOSTILE = '<script>alert("x")</script>'


def test_report_escapes_hostile_names_captions_and_options(task, tmp_path):
    pytest.importorskip("matplotlib").use("Agg")
    from sklearn_depict.reporting.report import write_report

    clf, detector, test, y = task
    table = test.concept_table.rename(columns={"red circle": HOSTILE, "blue square": "<b>&amp;"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = depict_importance(
            clf, table, y, generator=ShapesGenerator(strict=False),
            n_repeats=2, random_state=0, scoring="roc_auc",
        )
    paths = write_report(
        result, tmp_path, generator=ShapesGenerator(strict=False), metric_name=HOSTILE,
        n_examples=2, n_example_concepts=6, title=HOSTILE, description=HOSTILE,
        options={HOSTILE: [HOSTILE, "</code>"]},
    )
    html = paths.report_html.read_text(encoding="utf-8")
    assert "<script" not in html and "<b>" not in html and "</code></code>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;b&gt;&amp;amp;" in html  # escaped once, as text, not as an entity
    page = _Tags()
    page.feed(html)
    page.close()
    assert "script" not in page.tags and "b" not in page.tags
    joined = "".join(page.text)
    assert HOSTILE in joined and "<b>&amp;" in joined  # the user reads the names as given
    # the example grid of the hostile concept was drawn and its heading escaped
    assert any(p.name.startswith("examples_script-alert") for p in paths.examples)


def test_the_templates_ship_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.lower().startswith("jinja2>=3.1") for r in config["project"]["dependencies"])
    patterns = config["tool"]["setuptools"]["package-data"]["sklearn_depict.reporting"]
    folder = ROOT / "sklearn_depict" / "reporting" / "templates"
    shipped = [p.relative_to(folder.parent).as_posix() for p in folder.iterdir()]
    assert "templates/report.html.j2" in shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
