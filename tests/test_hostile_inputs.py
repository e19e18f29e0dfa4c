"""Hostile and odd input, table-driven.

Every case ends either in a clear, specific error raised by sklearn-depict (not
a traceback from deep inside numpy or pandas), or in a documented, correct
result, checked by the case's own assertion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import CountingGenerator, flatten
from sklearn_depict import (
    CaptionToImage,
    ConceptCaptioner,
    ShapesGenerator,
    cross_validate_importance,
    depict_importance,
)
from sklearn_depict._sklearn_compat import InvalidParameterError
from sklearn_depict.concepts import DuplicateIndexWarning


class RedScore:
    """A cheap, fitted, duck-typed image classifier: how red is the image?"""

    classes_ = np.array([0, 1])

    def predict_proba(self, images):
        p = 1 / (1 + np.exp(-(np.asarray(images)[..., 0].mean(axis=(1, 2)) * 40 - 1)))
        return np.column_stack([1 - p, p])

    def predict(self, images):
        return (self.predict_proba(images)[:, 1] > 0.5).astype(int)


TABLE = pd.DataFrame(
    {
        "red circle": [1, 0, 1, 0, 1, 0, 1, 0],
        "blue square": [0, 0, 1, 1, 0, 0, 1, 1],
        "green circle": [1, 1, 0, 0, 0, 1, 1, 0],
    }
)
Y = TABLE["red circle"].to_numpy()


# Captions with words outside the shapes vocabulary: the engine must cope with
# them, so these cases use a generator that ignores such words.
LENIENT = ShapesGenerator(16, strict=False)


def explain(table=TABLE, y=Y, estimator=None, **kwargs):
    # Options of the images go on the CaptionToImage passed as generator.
    options = {k: kwargs.pop(k) for k in ("cache", "batch_size", "concept_names") if k in kwargs}
    kwargs.setdefault("generator", ShapesGenerator(16))
    if options:
        kwargs["generator"] = CaptionToImage(kwargs["generator"], **options)
    kwargs.setdefault("n_repeats", 2)
    kwargs.setdefault("random_state", 0)
    return depict_importance(RedScore() if estimator is None else estimator, table, y,
                             **kwargs)


def nan_table():
    table = TABLE.astype(float)
    table.iloc[1, 1] = np.nan
    return table


def inf_table():
    table = TABLE.astype(float)
    table.iloc[1, 1] = np.inf
    return table


def labels_with(value):
    y = Y.astype(float)
    y[2] = value
    return y


class Raising:
    fingerprint = "raising-v1"
    image_shape = (16, 16, 3)  # declared: no probe image, every call is the run's own

    def __init__(self):
        self.calls = 0

    def generate(self, captions, seeds):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("CUDA out of memory")
        return ShapesGenerator(16).generate(captions, seeds)


def returning(transform):
    def generate(captions, seeds):
        return transform(ShapesGenerator(16).generate(captions, seeds))

    generate.fingerprint = "returning-v1"
    return generate


class WrongProba(RedScore):
    def predict_proba(self, images):
        return super().predict_proba(images)[:, :1]


def run_cli(*argv):
    from sklearn_depict.cli.main import main

    return main(list(argv))


@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    raises: type[BaseException] | None = None
    match: str | None = None
    check: Callable[[Any], None] | None = None


def all_zero(result):
    assert np.all(result.importances == 0.0)


def red_first(result):
    assert result.concept_names[np.argmax(result.importances_mean)] == "red circle"


CASES = [
    # --- depict_importance: tables -------------------------------------------------
    Case("empty table", lambda: explain(TABLE.iloc[:0], Y[:0]), ValueError, "0 rows"),
    Case("table without columns", lambda: explain(pd.DataFrame(index=range(8))), ValueError,
         "at least one column"),
    Case("one-row table: nothing to permute", lambda: explain(TABLE.iloc[:1], Y[:1],
                                                              scoring="accuracy"),
         check=all_zero),
    Case("1-D table", lambda: explain(np.array(["red circle"] * 8)), ValueError,
         "2-D concept table"),
    Case("3-D table", lambda: explain(np.zeros((8, 2, 2))), ValueError, "2-D concept table"),
    Case("NaN in the table", lambda: explain(nan_table()), ValueError,
         r"NaN or infinite values in numeric column\(s\) \['blue square'\]"),
    Case("inf in the table", lambda: explain(inf_table()), ValueError,
         r"NaN or infinite values"),
    Case("numeric array without names", lambda: explain(TABLE.to_numpy()), ValueError,
         "needs concept names"),
    Case("wrong number of concept_names",
         lambda: explain(TABLE.to_numpy(), concept_names=["a"]), ValueError,
         "concept_names has 1 names"),
    Case("duplicated column names",
         lambda: explain(pd.concat([TABLE, TABLE[["red circle"]]], axis=1)), ValueError,
         "duplicated column names"),
    Case("non-string column names",
         lambda: explain(TABLE.set_axis([10, 20, 30], axis=1), generator=LENIENT),
         check=lambda r: list(r.concept_names) == [10, 20, 30]),
    Case("list of lists of phrases", lambda: explain(
        [["red circle", ""], ["", "blue square"]] * 4, scoring="accuracy"),
         check=lambda r: r.importances.shape == (2, 2)),
    Case("categorical column", lambda: explain(TABLE.astype("category"), scoring="accuracy",
                                               generator=LENIENT),
         check=lambda r: r.importances.shape == (3, 2)),
    Case("constant concept: exactly 0",
         lambda: explain(TABLE.assign(**{"green circle": 1})),
         check=lambda r: np.all(r.importances[2] == 0) and r.n_images_bound == 8 * 3),
    Case("unicode and very long captions", lambda: explain(
        TABLE.assign(note=["größer ✓ " * 500] * 8), scoring="accuracy", generator=LENIENT),
         check=lambda r: list(r.concept_names)[-1] == "note"),
    Case("duplicated index labels warn", lambda: explain(TABLE.set_axis([0, 0, 1, 1, 2, 2,
                                                                        3, 3])),
         DuplicateIndexWarning, "share their noise"),
    # --- depict_importance: labels and weights --------------------------------------
    Case("mismatched lengths", lambda: explain(y=Y[:-1]), ValueError,
         "inconsistent numbers of samples"),
    Case("NaN in y", lambda: explain(y=labels_with(np.nan)), ValueError, "y contains NaN"),
    Case("inf in y", lambda: explain(y=labels_with(np.inf)), ValueError, "y contains inf"),
    Case("single class in y with AUROC", lambda: explain(y=np.ones(8), scoring="roc_auc"),
         ValueError, "gave NaN.*Only one class"),
    Case("single class in y with accuracy: documented zeros",
         lambda: explain(y=np.ones(8, dtype=int), scoring="accuracy"),
         check=lambda r: np.isfinite(r.importances).all()),
    Case("y as a Series with another index", lambda: explain(
        y=pd.Series(Y, index=range(100, 108)), scoring="accuracy"), check=red_first),
    Case("all sample weights zero", lambda: explain(sample_weight=np.zeros(8)), ValueError,
         "sums to 0"),
    Case("negative sample weight", lambda: explain(sample_weight=-np.ones(8)), ValueError,
         "non-negative"),
    Case("some zero weights ignore those rows",
         lambda: explain(sample_weight=np.r_[np.ones(6), 0, 0], scoring="accuracy"),
         check=lambda r: r.importances.shape == (3, 2)),
    # --- depict_importance: parameters --------------------------------------------------
    Case("max_samples above n", lambda: explain(max_samples=9), ValueError,
         "max_samples must be <= n_samples"),
    Case("max_samples selecting no row", lambda: explain(max_samples=0.01), ValueError,
         "selects 0 of the 8 rows"),
    Case("max_samples=1 row", lambda: explain(max_samples=1, scoring="accuracy"),
         check=lambda r: r.importances.shape == (3, 2)),
    Case("max_samples=n equals 1.0", lambda: np.array_equal(
        explain(max_samples=8).importances, explain(max_samples=1.0).importances),
         check=lambda same: same is True or pytest.fail("differs")),
    Case("n_repeats=0", lambda: explain(n_repeats=0), InvalidParameterError,
         r"'n_repeats' parameter of depict_importance must be an int in the range"),
    Case("unknown scoring", lambda: explain(scoring="auc-pr"), InvalidParameterError,
         "'scoring' parameter"),
    Case("random_state as text", lambda: explain(random_state="seven"),
         InvalidParameterError, "'random_state' parameter"),
    Case("unknown concept", lambda: explain(concepts=["purple star"]), ValueError,
         "Unknown concept column"),
    Case("no concepts", lambda: explain(concepts=[]), ValueError,
         "must name at least one concept"),
    Case("repeated concepts", lambda: explain(concepts=["red circle", "red circle"]),
         ValueError, "unique"),
    # --- depict_importance: estimators ---------------------------------------------------
    Case("estimator class, not instance", lambda: explain(estimator=LogisticRegression),
         TypeError, "got the class LogisticRegression"),
    Case("unfitted estimator", lambda: explain(
        estimator=make_pipeline(FunctionTransformer(flatten), LogisticRegression())),
         NotFittedError, "not fitted yet"),
    Case("predict_proba with the wrong shape", lambda: explain(estimator=WrongProba(),
                                                               scoring="roc_auc"),
         ValueError, r"WrongProba.predict_proba returned shape \(\d+, 1\)"),
    # --- depict_importance: generators ---------------------------------------------------
    Case("not a generator", lambda: explain(generator=42), TypeError,
         "must be an object with a generate"),
    Case("generator raising halfway", lambda: explain(generator=Raising(), batch_size=4),
         RuntimeError, "CUDA out of memory"),
    Case("generator returning NaN", lambda: explain(
        generator=returning(lambda x: x * np.nan)), ValueError, "NaN"),
    Case("generator returning too few", lambda: explain(
        generator=returning(lambda x: x[1:])), ValueError, "one image per pair"),
    Case("generator returning float64", lambda: explain(
        generator=returning(lambda x: x.astype(np.float64))), TypeError, "dtype float64"),
    # --- CaptionToImage ------------------------------------------------------------------
    Case("CaptionToImage on an empty table",
         lambda: CaptionToImage(ShapesGenerator()).transform(TABLE.iloc[:0]), ValueError,
         "0 rows"),
    Case("CaptionToImage with a text seed",
         lambda: CaptionToImage(ShapesGenerator(), seed="1").transform(TABLE), TypeError,
         "'seed' parameter of CaptionToImage must be an int"),
    Case("CaptionToImage without a generator",
         lambda: CaptionToImage(None).transform(TABLE), TypeError,
         "must be an object with a generate"),
    Case("CaptionToImage with a bad cache",
         lambda: CaptionToImage(ShapesGenerator(), cache=3.5).transform(TABLE), TypeError,
         "'cache' parameter of CaptionToImage"),
    # --- the captioner -------------------------------------------------------------------
    Case("template with positional fields",
         lambda: ConceptCaptioner("{} and {}").transform(TABLE), ValueError, "positional"),
    Case("template naming a missing column",
         lambda: ConceptCaptioner("{sky}").transform(TABLE), ValueError, r"\['sky'\]"),
    Case("missing context column",
         lambda: ConceptCaptioner(context=["report"]).transform(TABLE), ValueError,
         "context column"),
    Case("unknown column kind",
         lambda: ConceptCaptioner(kinds={"red circle": "boolean"}).transform(TABLE),
         ValueError, "Unknown column kind"),
    Case("kind for a missing column",
         lambda: ConceptCaptioner(kinds={"sky": "text"}).transform(TABLE), ValueError,
         r"kinds names column\(s\) \['sky'\]"),
    # --- generators ----------------------------------------------------------------------
    Case("shape the renderer cannot draw",
         lambda: ShapesGenerator(shapes=["star"]).generate(["red star"], [0]), ValueError,
         "cannot draw"),
    Case("count above max_count",
         lambda: ShapesGenerator().generate(["3 red circle"], [0]), ValueError,
         "max_count is 1"),
    Case("caption that is not text", lambda: ShapesGenerator().generate([None], [0]),
         TypeError, "Captions must be str"),
    Case("captions and seeds of different lengths",
         lambda: ShapesGenerator().generate(["red circle"], []), ValueError,
         "one seed per caption"),
    # --- cross_validate_importance -------------------------------------------------------
    Case("more folds than rows", lambda: cross_validate_importance(
        RedScore(), TABLE, Y, generator=ShapesGenerator(16), cv=20), ValueError,
         "n_splits=20"),
    Case("groups of the wrong length", lambda: cross_validate_importance(
        RedScore(), TABLE, Y, generator=ShapesGenerator(16), cv=2, groups=[0, 1]),
         ValueError, "inconsistent numbers of samples"),
    Case("cross-validation with NaN labels", lambda: cross_validate_importance(
        RedScore(), TABLE, labels_with(np.nan), generator=ShapesGenerator(16)), ValueError,
         "y contains NaN"),
    # --- the CLI -------------------------------------------------------------------------
    Case("CLI output with a bad suffix", lambda: run_cli("demo", "--output", "r.xlsx"),
         SystemExit, "2"),
    Case("CLI with a negative repeat count", lambda: run_cli("demo", "--n-repeats", "-1"),
         SystemExit, "2"),
]


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input(case, capsys):
    if case.raises is not None and issubclass(case.raises, Warning):
        with pytest.warns(case.raises, match=case.match):
            case.call()
        return
    if case.raises is not None:
        with pytest.raises(case.raises, match=case.match) as info:
            case.call()
        # The error is ours (or sklearn's public validation), not an internal crash.
        assert type(info.value) not in (IndexError, KeyError, AttributeError,
                                        ZeroDivisionError)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = case.call()
    if case.check is not None:
        outcome = case.check(result)
        assert outcome is None or bool(outcome) is True


def test_generator_raising_halfway_leaves_only_complete_entries(tmp_path):
    from sklearn_depict.cache import decode_entry

    with pytest.raises(RuntimeError) as info:
        explain(generator=Raising(), batch_size=4, cache=tmp_path)
    assert "while generating 4 image(s)" in " ".join(getattr(info.value, "__notes__", []))
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(entries) == 4
    for path in entries:
        decode_entry(path.read_bytes())


def test_counting_generator_on_a_constant_concept():
    counting = CountingGenerator(ShapesGenerator(16))
    explain(TABLE.assign(**{"green circle": 0}), generator=counting, n_repeats=5)
    captions = {caption for caption, _ in counting.pairs}
    assert not any("green circle" in caption for caption in captions)
    assert counting.n_images <= 8 * (1 + 1 + 1)
