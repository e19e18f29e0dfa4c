"""Every warning of the package points at the caller's line, not at the package."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import UndefinedMetricWarning

from sklearn_depict import (
    CaptionToImage,
    ShapesGenerator,
    cross_validate_importance,
    depict_diagnostics,
    depict_importance,
)
from sklearn_depict.concepts import DuplicateIndexWarning, check_concept_table
from sklearn_depict.diagnostics import DiagnosticWarning


def _caught(call, category):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = [w for w in caught if issubclass(w.category, category)]
    assert found, f"no {category.__name__} was issued"
    return found


@pytest.fixture
def small(shapes_test):
    table = shapes_test.concept_table.iloc[:40]
    return table, table["red circle"].to_numpy()


@pytest.mark.parametrize("entry", ["depict_importance", "cross_validate_importance",
                                   "CaptionToImage.transform"])
def test_a_table_warning_points_at_the_caller(red_circle_clf, small, entry):
    table, y = small
    duplicated = table.set_axis([0] * len(table))  # every row shares one noise seed
    calls = {
        "depict_importance": lambda: depict_importance(
            red_circle_clf, duplicated, y, generator=ShapesGenerator(), n_repeats=1,
            random_state=0, ci_method="t"),
        "cross_validate_importance": lambda: cross_validate_importance(
            red_circle_clf, duplicated, y, generator=ShapesGenerator(), cv=2, n_repeats=1,
            random_state=0, ci_method="t"),
        "CaptionToImage.transform": lambda: CaptionToImage(ShapesGenerator()).transform(
            duplicated),
    }  # fmt: skip
    found = _caught(calls[entry], DuplicateIndexWarning)
    assert {w.filename for w in found} == {__file__}


def test_a_failed_check_points_at_the_caller(red_circle_clf, small):
    table, y = small
    blank = np.zeros((len(table), 32, 32, 3), dtype=np.float32)  # far from the renders
    found = _caught(lambda: depict_diagnostics(
        red_circle_clf, table, y, generator=ShapesGenerator(), X_images=blank,
        scoring="accuracy", n_repeats=1, random_state=0, ci_method="t"), DiagnosticWarning)
    assert {w.filename for w in found} == {__file__}


def test_a_scorer_warning_on_the_baseline_points_at_the_caller(small):
    # A model that never predicts the positive class: precision is ill-defined,
    # and sklearn warns on the baseline, which the engine scores before any
    # permuted image and warns about again once the run is scored.
    table, y = small
    never = DummyClassifier(strategy="constant", constant=0).fit(
        np.zeros((len(y), 32, 32, 3)), y)
    found = _caught(lambda: depict_importance(
        never, table, y, generator=ShapesGenerator(), scoring="precision", n_repeats=1,
        random_state=0, ci_method="t"), UndefinedMetricWarning)
    assert __file__ in {w.filename for w in found}


def test_external_stacklevel_points_past_every_package_frame():
    from sklearn_depict._warnings import external_stacklevel

    assert external_stacklevel() == 1  # called from outside: its caller is the user
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        check_concept_table(pd.DataFrame({"a": [1, 2]}, index=[0, 0]))
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
