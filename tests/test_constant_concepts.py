"""A concept that takes a single value in the table: warned, marked, not shown as evidence."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_depict import (
    ConstantConceptWarning,
    ShapesGenerator,
    depict_importance,
)
from sklearn_depict.cli.summary import format_ranking
from sklearn_depict.reporting.report import importance_table, write_report
from sklearn_depict.reporting.results_io import results_from_dict, results_to_dict


class _Refusing:
    """A generator that refuses to make any image."""

    fingerprint = "refusing"

    def generate(self, captions, seeds):
        raise RuntimeError("no image may be generated")


@pytest.fixture(scope="module")
def constant_table(shapes_test):
    table = shapes_test.concept_table.copy()
    table["blue square"] = 0
    return table


def test_warning_names_the_column_before_any_image(constant_table, red_circle_clf):
    y = constant_table["red circle"].to_numpy()
    with pytest.warns(ConstantConceptWarning, match="“blue square” takes a single value"), \
            pytest.raises(RuntimeError, match="no image may be generated"):
        depict_importance(red_circle_clf, constant_table, y, generator=_Refusing(),
                          n_repeats=1, random_state=0)


def test_groups_are_constant_only_when_every_column_is(constant_table, red_circle_clf):
    y = constant_table["red circle"].to_numpy()
    table = constant_table.assign(**{"red square": 1})
    kwargs = dict(generator=ShapesGenerator(), n_repeats=1, random_state=0,
                  scoring="roc_auc")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = depict_importance(
            red_circle_clf, table, y,
            concepts={"blues": ["blue circle", "blue square"], "squares": ["red square",
                                                                      "blue square"],
                      "red": ["red circle"]}, **kwargs)
    constant = [w for w in caught if w.category is ConstantConceptWarning]
    assert len(constant) == 1 and "“squares” takes" in str(constant[0].message)
    assert "blues" not in str(constant[0].message)
    assert constant[0].filename == __file__  # it points at the caller
    np.testing.assert_array_equal(result.constant_concepts, [False, True, False])
    assert np.all(result.importances[1] == 0.0)


def test_result_json_csv_cli_and_report_mark_the_constant_concept(
        constant_table, red_circle_clf, tmp_path):
    pytest.importorskip("matplotlib").use("Agg")
    y = constant_table["red circle"].to_numpy()
    with pytest.warns(ConstantConceptWarning):
        result = depict_importance(red_circle_clf, constant_table, y,
                                   generator=ShapesGenerator(), n_repeats=2,
                                   random_state=0, scoring="roc_auc")
    names = list(result.concept_names)
    expected = np.array([name == "blue square" for name in names])
    np.testing.assert_array_equal(result.constant_concepts, expected)

    # The results JSON keeps it, as a boolean array.
    back = results_from_dict(results_to_dict(result, metric_name="roc_auc"))
    assert back.constant_concepts.dtype == bool
    np.testing.assert_array_equal(back.constant_concepts, expected)
    # A payload written before the key existed still reads.
    payload = results_to_dict(result, metric_name="roc_auc")
    del payload["constant_concepts"]
    assert "constant_concepts" not in results_from_dict(payload)

    table = importance_table(result, metric_name="roc_auc")
    assert table.set_index("concept")["constant"].to_dict() == dict(zip(names, expected))
    lines = format_ranking(table, result).splitlines()
    (line,) = [line for line in lines if "blue square" in line]
    assert line.endswith("constant in this table") and "[" not in line

    paths = write_report(result, tmp_path, metric_name="roc_auc", n_examples=0)
    html = paths.report_html.read_text()
    row = html.split("<td>blue square</td>")[1].split("</tr>")[0]
    assert "constant in this table" in row and "num" not in row
    assert "Constant in this table: blue square." in html
    csv = pd.read_csv(paths.importances_csv)
    assert csv.loc[csv.concept == "blue square", "constant"].item()
