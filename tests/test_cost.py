"""estimate_cost, explain --dry-run and a verbose run's counts: the cost before paying."""

from __future__ import annotations

import re
import time

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from conftest import CountingGenerator
from sklearn_depict import (
    CaptionToImage,
    FlattenImages,
    ImageCache,
    ShapesGenerator,
    depict_importance,
    estimate_cost,
    make_shapes_dataset,
)
from sklearn_depict.cli.main import main

CONCEPTS = ["red circle", "blue square", "green circle"]


class SleepyGenerator(CountingGenerator):
    """A ShapesGenerator that takes a known time per image, as a diffusion model would."""

    def __init__(self, seconds_per_image=0.02):
        super().__init__()
        self.seconds_per_image = seconds_per_image

    def generate(self, captions, seeds):
        time.sleep(self.seconds_per_image * len(captions))
        return super().generate(captions, seeds)


class SleepyClassifier(ClassifierMixin, BaseEstimator):
    """A pixel classifier that takes a known time per image to predict."""

    def __init__(self, seconds_per_image=0.004):
        self.seconds_per_image = seconds_per_image

    def fit(self, X, y):
        self.model_ = make_pipeline(FlattenImages(), LogisticRegression(max_iter=500)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        time.sleep(self.seconds_per_image * len(X))
        return self.model_.predict_proba(X)

    def predict(self, X):
        time.sleep(self.seconds_per_image * len(X))
        return self.model_.predict(X)


@pytest.fixture(scope="module")
def task(shapes_train):
    test = make_shapes_dataset(30, random_state=1)
    y = test.concept_table["red circle"].to_numpy()
    y_train = shapes_train.concept_table["red circle"].to_numpy()
    clf = SleepyClassifier().fit(shapes_train.images[:400], y_train[:400])
    return clf, test.concept_table, y


ARGS = dict(scoring="roc_auc", n_repeats=3, random_state=0, concepts=CONCEPTS)


@pytest.mark.parametrize("with_cache", [False, True])
def test_the_estimate_is_within_a_quarter_of_the_run(task, tmp_path, with_cache):
    clf, table, y = task
    cache = str(tmp_path / "cache") if with_cache else None
    estimate = estimate_cost(clf, table, y, generator=CaptionToImage(SleepyGenerator(),
                                                                     cache=cache), **ARGS)
    generator = SleepyGenerator()
    start = time.perf_counter()
    result = depict_importance(clf, table, y, generator=CaptionToImage(generator, cache=cache),
                               **ARGS)
    wall = time.perf_counter() - start
    # The probe's images were kept (with a cache), and the run did not make them again.
    assert generator.n_images == result.n_images_generated == estimate.n_to_generate
    assert estimate.n_probe_cached == (9 if with_cache else 0)
    # The sleeps, and a little rendering and predicting (more on a busy machine).
    assert 0.02 <= estimate.seconds_per_image["generation"] < 0.03
    assert 0.004 <= estimate.seconds_per_image["prediction"] < 0.008
    assert estimate.estimated_seconds == pytest.approx(wall, rel=0.25), (estimate, wall)


def _pairs(plan):
    return set(zip(plan.captions, map(int, plan.seeds)))


def test_the_counts_are_the_plans(task, tmp_path):
    clf, table, y = task
    generator = ShapesGenerator()
    # A cache filled by an earlier run that permuted one concept only.
    earlier = depict_importance(clf, table, y, generator=CaptionToImage(generator,
                                cache=tmp_path), **{**ARGS, "concepts": CONCEPTS[:1]})
    plan = depict_importance(clf, table, y, generator=generator, **ARGS).plan
    estimate = estimate_cost(clf, table, y, generator=CaptionToImage(generator, cache=tmp_path),
                             n_probe=4, **ARGS)
    prefilled = len(_pairs(plan) & _pairs(earlier.plan))
    assert 0 < prefilled < plan.n_distinct
    assert estimate.n_distinct == plan.n_distinct == estimate.n_to_predict
    assert estimate.n_bound == plan.n_bound == 30 * (1 + 3)
    assert estimate.n_probe_cached == 5  # the warm-up and n_probe
    assert estimate.n_cached == prefilled + 5
    assert estimate.n_to_generate == plan.n_distinct - prefilled - 5
    assert estimate.n_naive == plan.n_naive == 30 * (1 + 3 * 3)
    # The same estimate through a pipeline that begins with CaptionToImage.
    pipeline = make_pipeline(CaptionToImage(generator), clf)
    assert estimate_cost(pipeline, table, y, **ARGS).n_distinct == plan.n_distinct
    # With max_samples the naive count is N + J * P * n_scored.
    half = estimate_cost(clf, table, y, generator=generator, max_samples=0.5, **ARGS)
    assert half.n_naive == 30 + 3 * 3 * 15
    assert "30 + 3 × 3 × 15" in half.summary()


def test_the_probe_images_land_in_the_cache(task, tmp_path):
    clf, table, y = task
    counting = CountingGenerator()
    estimate = estimate_cost(clf, table, y, generator=CaptionToImage(counting, cache=tmp_path),
                             n_probe=3, **ARGS)
    assert counting.n_images == estimate.n_probe_generated == 4
    cache = ImageCache(tmp_path)
    assert len(cache) == 4
    assert all(ImageCache.key(counting.fingerprint, c, s) in cache for c, s in counting.pairs)
    result = depict_importance(clf, table, y, generator=CaptionToImage(counting, cache=tmp_path),
                               **ARGS)
    assert result.n_images_cached == 4
    assert counting.n_images - 4 == result.n_images_generated == estimate.n_to_generate


def test_a_full_cache_leaves_only_predictions(task, tmp_path):
    clf, table, y = task
    counting = CountingGenerator()
    generator = CaptionToImage(counting, cache=tmp_path)
    result = depict_importance(clf, table, y, generator=generator, **ARGS)
    made = counting.n_images
    estimate = estimate_cost(clf, table, y, generator=generator, **ARGS)
    assert counting.n_images == made  # the probe read the cache, generated nothing
    assert estimate.n_cached == estimate.n_distinct == result.n_images_distinct
    assert estimate.n_to_generate == estimate.n_probe_generated == 0
    assert np.isnan(estimate.seconds_per_image["generation"])
    assert 0.004 <= estimate.seconds_per_image["prediction"] < 0.008
    assert estimate.estimated_seconds == pytest.approx(
        estimate.planning_seconds + estimate.n_distinct * estimate.seconds_per_image["prediction"])
    assert "nothing to generate" in str(estimate)


def _message(call):
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value).replace("estimate_cost", "depict_importance")


@pytest.mark.parametrize("bad", [
    dict(scoring="roc_acu"),
    dict(n_repeats=0),
    dict(concepts=["purple hexagon"]),
    dict(max_samples=31),
    dict(sample_weight=-np.ones(30)),
    dict(y=np.arange(29) % 2),
    dict(estimator="64 px"),
    dict(generator=None),
    dict(tol=0.1, max_samples=0.5),
    dict(tol=0.1, block_size=31),
    dict(block_size=10),
    dict(tol=0.1, scoring=["roc_auc", "accuracy"]),
    dict(tol=0.0),
])  # fmt: skip
def test_bad_input_fails_as_the_run_does_before_any_image(task, shapes_train, bad):
    clf, table, y = task
    if bad.get("estimator") == "64 px":  # fitted on larger images than the generator draws
        big = make_shapes_dataset(10, image_size=64, random_state=0)
        bad["estimator"] = SleepyClassifier(0).fit(big.images, big.concept_table["red circle"])
    counting = CountingGenerator()
    kwargs = {"estimator": clf, "y": y, "generator": counting, **ARGS, **bad}
    estimator, target = kwargs.pop("estimator"), kwargs.pop("y")
    expected = _message(lambda: depict_importance(estimator, table, target, **kwargs))
    assert _message(lambda: estimate_cost(estimator, table, target, **kwargs)) == expected
    assert counting.n_images == 0


def test_an_anytime_estimate_brackets_what_the_run_uses(task):
    """With tol, the plan is the anytime run's: its counts are the most the run can use,
    n_distinct_at_least the images of its earliest stop."""
    clf, table, y = task
    kwargs = dict(generator=ShapesGenerator(), **ARGS, block_size=10, min_blocks=2)
    estimate = estimate_cost(clf, table, y, tol=0.5, **kwargs)
    assert (estimate.n_blocks, estimate.n_min_blocks) == (3, 2)
    # A loose tol stops at min_blocks, a tolerance nothing meets uses every block.
    early = depict_importance(clf, table, y, tol=0.5, **kwargs)
    full = depict_importance(clf, table, y, tol=1e-9, **kwargs)
    assert early.stopped_early and early.n_samples_used == 20
    assert early.n_images_distinct == estimate.n_distinct_at_least < estimate.n_distinct
    assert not full.stopped_early
    assert full.n_images_distinct == estimate.n_distinct
    assert "anytime                         3 blocks; it stops after 2 at the earliest, " \
           f"with {estimate.n_distinct_at_least:,} distinct pairs" in estimate.summary()
    plain = estimate_cost(clf, table, y, generator=ShapesGenerator(), **ARGS)
    assert plain.n_blocks is None and "anytime" not in plain.summary()


def test_a_verbose_run_says_its_counts_and_projects_its_time(task, capsys):
    clf, table, y = task
    result = depict_importance(clf, table, y, generator=ShapesGenerator(), verbose=1,
                               **{**ARGS, "n_repeats": 2})
    err = capsys.readouterr().err
    counts = (f"Images: {result.n_images_distinct} to generate, 0 in the cache, "
              f"{result.n_images_distinct} to predict (a literal run of the method would "
              f"generate {result.n_images_naive})")
    assert counts in err
    # After the baseline chunk (30 rows), what is left.
    rest = result.n_images_distinct - 30
    assert re.search(rf"First 30 image\(s\) generated in .*; the remaining {rest} \({rest} to "
                     r"generate\) should take about [\d.]+ s", err)
    assert err.index(counts) < err.index("First 30")
    assert "image/s" in err  # the bar counts images, with its ETA in them


def test_explain_dry_run_prints_the_estimate_and_writes_no_result(task, tmp_path, capsys):
    clf, table, y = task
    joblib.dump(clf, tmp_path / "clf.joblib")
    table.to_csv(tmp_path / "table.csv")
    np.save(tmp_path / "labels.npy", y)
    out = tmp_path / "out"
    code = main(["explain", "--estimator", str(tmp_path / "clf.joblib"), "--concept-table",
                 str(tmp_path / "table.csv"), "--labels", str(tmp_path / "labels.npy"),
                 "--generator", "shapes", "--scoring", "roc_auc", "--n-repeats", "3",
                 "--permute", ",".join(CONCEPTS), "--output-dir", str(out), "--dry-run",
                 "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "Estimated cost of the run:" in printed
    assert "a literal run would generate    300 = 30 × (1 + 3 × 3)" in printed
    assert re.search(r"estimated wall time +[\d.]+ s", printed)
    # Only the cache, holding the probe's images, was written.
    assert sorted(p.name for p in out.iterdir()) == ["cache"]
    assert len(ImageCache(out / "cache")) == 9
    # With --tol the estimate is the anytime run's.
    code = main(["explain", "--estimator", str(tmp_path / "clf.joblib"), "--concept-table",
                 str(tmp_path / "table.csv"), "--labels", str(tmp_path / "labels.npy"),
                 "--generator", "shapes", "--scoring", "roc_auc", "--n-repeats", "3",
                 "--permute", ",".join(CONCEPTS), "--output-dir", str(out), "--dry-run",
                 "--quiet", "--tol", "0.05", "--block-size", "10"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "Estimated cost of the run (anytime: the most it can spend):" in printed
    assert "3 blocks; it stops after 2 at the earliest" in printed
