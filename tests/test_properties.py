"""Property-based tests of ``depict_importance`` (issue 5, section 3).

Hypothesis draws random concept tables over the shapes vocabulary
({red, green, blue} x {circle, square}): 1-4 columns, each binary (0/1 ints or
bools), a small count (0-2, rendered with ``ShapesGenerator(max_count=2)``) or
a text column whose cells are vocabulary phrases or ""; 2-25 rows; a default
``RangeIndex`` or random unique int or str index labels. It also draws labels
with both classes present, the noise ``seed``, ``random_state``, the scoring,
and the generator: ``ShapesGenerator`` with ``image_size`` 16 or 24, bare or
inside :class:`WordTintedGenerator` (which, like a diffusion model, also reads
the exact words, so "1 red circle" and "red circle" differ), and bare or inside
:class:`RecordingGenerator` (which records every pair it is asked for).

Columns never ask for the same vocabulary item twice: every binary or count
column owns its phrase and every text column owns one or two other phrases, so
any caption a permutation can produce stays drawable.

The classifier is :class:`ColourProjection`: a fixed random linear projection
of an image's mean colour channels through a sigmoid. It is cheap,
deterministic, sensitive to every shape (colour and area both move it) and
computes each image's output on its own, so outputs never depend on how images
were batched.

Every test is derandomized (``derandomize=True``) and keeps no example
database, so runs are reproducible and write nothing to the repository.

The last tests pin down why an unfitted CaptionToImage can caption a
max_samples subsample differently, and that fitting it (or pinning the kinds)
makes the two routes agree.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer, log_loss, make_scorer
from sklearn.pipeline import make_pipeline

from sklearn_depict import (
    CaptionToImage,
    ConceptCaptioner,
    ImageCache,
    ShapesGenerator,
    depict_importance,
)
from sklearn_depict._engine.score import snap_rounding

VOCABULARY = [f"{c} {s}" for c in ("red", "green", "blue") for s in ("circle", "square")]
BATCH_SIZES = (1, 3, 7, None)
# Unweighted scores that do not change, not even in the last bit, when the rows are
# reordered: accuracy is a mean of 0/1 values, and ROC AUC is built from integer
# cumulative counts at each distinct score. Log loss is a mean of floats, so
# reordering may change its last bit.
ORDER_EXACT_SCORINGS = ("accuracy", "roc_auc")
SCORINGS = (*ORDER_EXACT_SCORINGS, "neg_log_loss")
# A subsample (max_samples < 1) may hold one class only, where ROC AUC is undefined
# and "neg_log_loss" cannot tell the classes; log loss told the labels still works.
LABELLED_LOG_LOSS = make_scorer(
    log_loss, greater_is_better=False, response_method="predict_proba", labels=[0, 1]
)
SUBSAMPLE_SCORINGS = ("accuracy", LABELLED_LOG_LOSS)


def _settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
    )


# --------------------------------------------------------------------------- models


def _colour_probabilities(weights: np.ndarray, offset: float, images: Any) -> np.ndarray:
    images = np.asarray(images)
    # One image at a time, in float64: an image's output never depends on its batch.
    features = np.array(
        [image.reshape(-1, image.shape[-1]).astype(np.float64).mean(axis=0) for image in images]
    ).reshape(len(images), 3)
    z = offset + features[:, 0] * weights[0] + features[:, 1] * weights[1]
    z = z + features[:, 2] * weights[2]
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


def _colour_parameters(seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.RandomState(seed)
    weights = rng.normal(0.0, 40.0, size=3)
    # Centre the sigmoid near the mean colour of a typical shapes image (about
    # 0.05 per channel), so that predictions sit on both sides of 0.5.
    offset = float(-0.05 * weights.sum() + rng.normal(0.0, 0.5))
    return weights, offset


class ColourProjection:
    """A duck-typed binary classifier on images: ``predict_proba`` and ``classes_``."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.weights, self.offset = _colour_parameters(seed)
        self.classes_ = np.array([0, 1])

    def predict_proba(self, images: Any) -> np.ndarray:
        return _colour_probabilities(self.weights, self.offset, images)

    def predict(self, images: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(images)[:, 1] > 0.5).astype(np.intp)]


class ColourProjectionClassifier(ClassifierMixin, BaseEstimator):
    """The same model as a scikit-learn estimator, so that it can end a Pipeline."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, X: Any = None, y: Any = None) -> ColourProjectionClassifier:
        self.weights_, self.offset_ = _colour_parameters(self.seed)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, images: Any) -> np.ndarray:
        return _colour_probabilities(self.weights_, self.offset_, images)

    def predict(self, images: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(images)[:, 1] > 0.5).astype(np.intp)]


class ConstantProbability:
    """Ignores the image: the same probabilities for every image."""

    def __init__(self, p: float, size_dependent: bool = False):
        self.p = p
        self.size_dependent = size_dependent
        self.classes_ = np.array([0, 1])

    def _p(self, images: np.ndarray) -> float:
        if not self.size_dependent:
            return self.p
        # Reads the image's size but never its content: still constant in a run.
        return (self.p + images.shape[1] / 100.0) % 1.0

    def predict_proba(self, images: Any) -> np.ndarray:
        images = np.asarray(images)
        p = self._p(images)
        return np.tile([1.0 - p, p], (len(images), 1))

    def predict(self, images: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(images)[:, 1] > 0.5).astype(np.intp)]


class ConstantProbabilityClassifier(ClassifierMixin, BaseEstimator):
    """:class:`ConstantProbability` as a scikit-learn estimator, for sklearn's scorers."""

    def __init__(self, p: float = 0.5, size_dependent: bool = False):
        self.p = p
        self.size_dependent = size_dependent

    def fit(self, X: Any = None, y: Any = None) -> ConstantProbabilityClassifier:
        self.model_ = ConstantProbability(self.p, size_dependent=self.size_dependent)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, images: Any) -> np.ndarray:
        return self.model_.predict_proba(images)

    def predict(self, images: Any) -> np.ndarray:
        return self.model_.predict(images)


class WordTintedGenerator:
    """Shapes plus a grey tint hashed from the caption's exact text.

    Like a diffusion model, and unlike ShapesGenerator, it answers to the very
    words of a caption: "1 red circle" and "red circle" give different images.
    """

    def __init__(self, inner: Any):
        self.inner = inner

    @property
    def fingerprint(self) -> str:
        return "word-tinted-" + self.inner.fingerprint

    def generate(self, captions: list[str], seeds: list[int]) -> np.ndarray:
        images = self.inner.generate(captions, seeds)
        tint = [hashlib.sha256(c.encode()).digest()[0] / 2550.0 for c in captions]
        tint = np.asarray(tint, dtype=np.float32)[:, None, None, None]
        return np.minimum(images + tint, np.float32(1.0))

    def __repr__(self) -> str:
        return f"WordTintedGenerator({self.inner!r})"


class RecordingGenerator:
    """Wraps a generator and records every (caption, seed) pair it is asked for."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.n_calls = 0
        self.pairs: list[tuple[str, int]] = []

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def n_images(self) -> int:
        return len(self.pairs)

    def generate(self, captions: list[str], seeds: list[int]) -> np.ndarray:
        self.n_calls += 1
        self.pairs.extend(zip(captions, (int(s) for s in seeds)))
        return self.inner.generate(captions, seeds)

    def __repr__(self) -> str:
        return f"RecordingGenerator({self.inner!r})"


# ----------------------------------------------------------------------- strategies


@dataclass
class Case:
    table: pd.DataFrame
    y: np.ndarray
    image_size: int
    max_count: int
    words: bool
    wrap: bool
    estimator_seed: int
    scoring: Any
    seed: int
    random_state: int
    n_repeats: int
    max_samples: float
    sample_weight: np.ndarray | None

    def generator(self, record: bool | None = None) -> Any:
        generator = ShapesGenerator(image_size=self.image_size, max_count=self.max_count)
        if self.words:
            generator = WordTintedGenerator(generator)
        if self.wrap if record is None else record:
            generator = RecordingGenerator(generator)
        return generator

    def run(
        self,
        *,
        estimator: Any = None,
        table: Any = None,
        y: Any = None,
        generator: Any = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = {
            "scoring": self.scoring,
            "n_repeats": self.n_repeats,
            "random_state": self.random_state,
            "max_samples": self.max_samples,
            "sample_weight": self.sample_weight,
            # These properties are about the importances; the row bootstrap of a
            # custom scorer rescores 1000 resamples, so intervals use the t method.
            "ci_method": "t",
            **kwargs,
        }
        return depict_importance(
            ColourProjection(self.estimator_seed) if estimator is None else estimator,
            self.table if table is None else table,
            self.y if y is None else y,
            generator=CaptionToImage(
                self.generator() if generator is None else generator,
                seed=self.seed,
                **{k: kwargs.pop(k) for k in ("batch_size", "cache") if k in kwargs},
            ),
            **kwargs,
        )


@st.composite
def index_labels(draw: Any, n: int) -> pd.Index | None:
    kind = draw(st.sampled_from(["range", "int", "str"]))
    if kind == "range":
        return None
    if kind == "int":
        values = st.integers(-(10**6), 10**6)
    else:
        values = st.text(alphabet="abxyz-_0", max_size=6)
    return pd.Index(draw(st.lists(values, min_size=n, max_size=n, unique=True)))


@st.composite
def concept_tables(draw: Any, min_rows: int = 2, max_rows: int = 25) -> tuple[pd.DataFrame, bool]:
    """A concept table, and whether it has a count column (needs max_count=2)."""
    n = draw(st.integers(min_rows, max_rows))
    n_columns = draw(st.integers(1, 4))
    pool = list(draw(st.permutations(VOCABULARY)))
    columns: dict[str, Any] = {}
    has_counts = False
    for j in range(n_columns):
        kind = draw(st.sampled_from(["binary", "count", "text"]))
        if kind == "text":
            # Leave at least one phrase for each column still to come.
            k = draw(st.integers(1, min(2, len(pool) - (n_columns - j - 1))))
            owned, pool = pool[:k], pool[k:]
            cells = draw(st.lists(st.sampled_from(["", *owned]), min_size=n, max_size=n))
            columns[f"scene {j}"] = np.array(cells, dtype=object)
            continue
        name, pool = pool[0], pool[1:]
        if kind == "binary":
            cells = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
            as_bool = draw(st.booleans())
            columns[name] = np.array(cells, dtype=bool if as_bool else np.int64)
        else:
            cells = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
            columns[name] = np.array(cells, dtype=np.int64)
            has_counts = has_counts or max(cells) > 1
    table = pd.DataFrame(columns, index=draw(index_labels(n)))
    return table, has_counts


@st.composite
def cases(
    draw: Any,
    *,
    scorings: tuple[Any, ...] = (*SCORINGS, LABELLED_LOG_LOSS),
    max_samples: tuple[float, ...] = (1.0,),
    weighted: bool = False,
    n_repeats: tuple[int, int] = (1, 3),
    wrap: bool | None = None,
    words_on_subsample: bool = True,
) -> Case:
    table, has_counts = draw(concept_tables())
    n = len(table)
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    if len(np.unique(y)) < 2:  # both classes, for roc_auc and log loss
        y[0] = 1 - y[0]
    chosen_max_samples = draw(st.sampled_from(max_samples))
    if chosen_max_samples != 1.0:
        scorings = tuple(s for s in scorings if s in SUBSAMPLE_SCORINGS) or ("accuracy",)
    scoring = draw(st.sampled_from(scorings))
    sample_weight = None
    if weighted and draw(st.booleans()):
        sample_weight = np.array(
            draw(st.lists(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]), min_size=n, max_size=n))
        )
    return Case(
        table=table,
        y=y,
        image_size=draw(st.sampled_from([16, 24])),
        max_count=2 if has_counts else draw(st.sampled_from([1, 2])),
        words=draw(st.booleans()) and (words_on_subsample or chosen_max_samples == 1.0),
        wrap=draw(st.booleans()) if wrap is None else wrap,
        estimator_seed=draw(st.integers(0, 2**16)),
        scoring=scoring,
        seed=draw(st.integers(0, 2**31 - 1)),
        random_state=draw(st.integers(0, 2**32 - 1)),
        n_repeats=draw(st.integers(*n_repeats)),
        max_samples=chosen_max_samples,
        sample_weight=sample_weight,
    )


# -------------------------------------------------------------------------- helpers


def assert_same_numbers(expected: Any, actual: Any) -> None:
    np.testing.assert_array_equal(actual.importances, expected.importances, strict=True)
    np.testing.assert_array_equal(actual.importances_mean, expected.importances_mean)
    np.testing.assert_array_equal(actual.importances_std, expected.importances_std)
    assert actual.baseline_score == expected.baseline_score


def distinct_values(table: pd.DataFrame) -> list[int]:
    return [len(pd.unique(table[c])) for c in table.columns]


def shown_pairs(result: Any, index: pd.Index) -> dict[Any, tuple[str, int]]:
    """The (caption, seed) pair each row label shows in the unpermuted table."""
    plan = result.plan
    return {label: (plan.captions[i], plan.seeds[i]) for label, i in zip(index, plan.baseline_ids)}


def candidate_pairs(table: pd.DataFrame, seeds: dict[Any, int]) -> set[tuple[str, int]]:
    """Every (caption, seed) pair any permutation of single columns could ever need.

    For each row: its own caption, and its caption with one column set to each
    other value that column takes, always with the row's own seed. Built from
    the table alone, with the kinds of the full table.
    """
    captioner = ConceptCaptioner()
    kinds = captioner.check(table)
    row_seeds = [seeds[label] for label in table.index]
    pairs = set(zip(captioner.captions(table, kinds=kinds), row_seeds))
    for column in table.columns:
        for value in pd.unique(table[column]):
            changed = table.copy()
            changed[column] = pd.Series(
                [value] * len(table), index=table.index, dtype=table[column].dtype
            )
            pairs.update(zip(captioner.captions(changed, kinds=kinds), row_seeds))
    return pairs


def sklearn_row_permutations(random_state: int, n_rows: int, n_repeats: int) -> np.ndarray:
    """sklearn's permutation_importance draws (max_samples=1.0), one row per repeat.

    ``out[r, i]`` is the position whose value position ``i`` shows in repeat
    ``r``: sklearn draws one seed, starts a fresh RandomState from it per
    column and shuffles an index array in place once per repeat, applying
    each shuffle to the already permuted column.
    """
    column_seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    column_state = np.random.RandomState(column_seed)
    shuffling = np.arange(n_rows)
    composed = np.arange(n_rows)
    out = np.empty((n_repeats, n_rows), dtype=np.intp)
    for r in range(n_repeats):
        column_state.shuffle(shuffling)
        composed = composed[shuffling]
        out[r] = composed
    return out


def permuted_score(case: Case, column: Any, source: np.ndarray) -> float:
    """Score on the table whose ``column`` shows, at position i, row source[i]'s value.

    Computed without the engine: CaptionToImage renders the whole permuted
    table and the estimator and scorer see the images directly.
    """
    table = case.table.copy()
    values = case.table[column].to_numpy()[source]
    table[column] = pd.Series(values, index=table.index, dtype=case.table[column].dtype)
    images = CaptionToImage(case.generator(record=False), seed=case.seed).transform(table)
    # sklearn's scorers need an estimator with sklearn tags: the same model, as one.
    estimator = ColourProjectionClassifier(case.estimator_seed).fit()
    return get_scorer(case.scoring)(estimator, images, case.y)


# ------------------------------------------------------------------------ properties


@_settings(max_examples=15)
@given(case=cases(max_samples=(1.0, 0.5), weighted=True), data=st.data())
def test_batch_size_and_cache_do_not_change_importances(case, data):
    """Property 1: identical importances for any batch_size and a cold or warm cache.

    The reference is one chunk and no cache. Each other batch size must give
    the very same arrays (np.array_equal, not a tolerance). Then a fresh cache
    is filled by a cold run and read by a warm run, each with a batch size of
    its own: the cold run generates exactly the distinct pairs, the warm run
    generates nothing (the generator is not even called) and reads them all,
    and both give the reference's numbers.
    """
    reference = case.run(batch_size=None)
    for batch_size in (1, 3, 7):
        assert_same_numbers(reference, case.run(batch_size=batch_size))

    cold_batch = data.draw(st.sampled_from(BATCH_SIZES), label="cold batch_size")
    warm_batch = data.draw(st.sampled_from(BATCH_SIZES), label="warm batch_size")
    as_path = data.draw(st.booleans(), label="cache given as a path")
    with tempfile.TemporaryDirectory() as directory:
        recorder = case.generator(record=True)
        cold = case.run(
            generator=recorder,
            batch_size=cold_batch,
            cache=directory if as_path else ImageCache(directory),
        )
        assert cold.n_images_generated == cold.n_images_distinct == recorder.n_images
        assert cold.n_images_cached == 0
        n_calls = recorder.n_calls
        warm = case.run(generator=recorder, batch_size=warm_batch, cache=ImageCache(directory))
        assert warm.n_images_generated == 0
        assert warm.n_images_cached == warm.n_images_distinct == cold.n_images_distinct
        assert recorder.n_calls == n_calls  # no generate() call at all
    assert_same_numbers(reference, cold)
    assert_same_numbers(reference, warm)


@_settings(max_examples=3)
@given(case=cases(wrap=False), data=st.data())
def test_n_jobs_does_not_change_importances(case, data):
    """Property 1, processes: n_jobs=2 (loky workers) equals n_jobs=1 exactly.

    With several chunks per run, so that both workers get some. The parallel
    run fills a cache (its counters add up the workers' counts) and a second
    parallel run reads it and generates nothing.
    """
    batch_size = data.draw(st.sampled_from([1, 3, 7]), label="batch_size")
    sequential = case.run(n_jobs=1, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as directory:
        cold = case.run(n_jobs=2, batch_size=batch_size, cache=ImageCache(directory))
        warm = case.run(n_jobs=2, batch_size=batch_size, cache=ImageCache(directory))
    assert cold.n_images_generated == cold.n_images_distinct == sequential.n_images_distinct
    assert warm.n_images_generated == 0
    assert warm.n_images_cached == warm.n_images_distinct
    assert_same_numbers(sequential, cold)
    assert_same_numbers(sequential, warm)


@_settings(max_examples=25)
@given(case=cases(n_repeats=(1, 4)), order=st.data())
def test_shuffling_rows_is_a_relabelling_of_the_permutations(case, order):
    """Property 2: invariance to shuffling the rows of a DataFrame.

    What is, and what is not, invariant. Reorder the rows by ``sigma`` (same
    rows, same index labels, y permuted along) and keep ``random_state``.
    sklearn draws its permutations by *position*: repeat r shows, at position
    k, the value of position ``pi_r[k]``. After reordering, the same positional
    ``pi_r`` pairs up different rows, so the per-repeat ``importances``, and
    hence ``importances_mean``, of the two runs are different Monte Carlo
    draws of the same quantity and are not equal (their expectations over
    random_state are). Seeds following the index is what makes the rest exact:
    a row's image depends only on its label and its caption, never on its
    position, so the reordered run is *the same computation* as the original
    table under the relabelled permutations ``rho_r = sigma pi_r sigma^-1``
    (row ``sigma[k]`` shows the value of row ``sigma[pi_r[k]]``). We assert:

    1. every row label shows the same (caption, seed) pair, and the baseline
       score is identical (exactly for accuracy and ROC AUC, which do not
       depend on row order even in floating point; to 1e-12 for log loss, a
       mean of floats summed in another order);
    2. the distinct-pair bound is identical, and both runs only ever generate
       pairs from the same order-free candidate set (a row's own caption, or
       that caption with one column set to another of its values, always with
       the row's own seed);
    3. for every concept and repeat, the reordered run's importance equals
       baseline minus the score of the *original* table with that column
       permuted by ``rho_r``, computed without the engine (CaptionToImage on the
       whole permuted table), to the contract's 1e-12 (the engine scores with
       its vectorised named scorers, the oracle with sklearn's). The same check
       with ``sigma`` = identity reproduces the original run, which validates
       the oracle.

    Had seeds followed the position, the images, and so 1 and 3, would change
    with the order.
    """
    n = len(case.table)
    sigma = np.array(order.draw(st.permutations(range(n)), label="sigma"), dtype=np.intp)
    if np.array_equal(sigma, np.arange(n)):  # hypothesis likes the identity; skip it
        sigma = np.roll(sigma, 1)
    shuffled_table = case.table.iloc[sigma]
    shuffled_y = case.y[sigma]
    recorder = case.generator(record=True)
    original = case.run(generator=recorder)
    original_pairs = set(recorder.pairs)
    recorder = case.generator(record=True)
    shuffled = case.run(table=shuffled_table, y=shuffled_y, generator=recorder)
    shuffled_pairs = set(recorder.pairs)

    exact = case.scoring in ORDER_EXACT_SCORINGS

    def same(a: Any, b: Any) -> None:
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    # 1. Row labels keep their pairs; the baseline does not move.
    original_shown = shown_pairs(original, case.table.index)
    assert shown_pairs(shuffled, shuffled_table.index) == original_shown
    same(shuffled.baseline_score, original.baseline_score)

    # 2. Same bound, same candidate set, whatever the order.
    assert shuffled.n_images_bound == original.n_images_bound
    seeds = {label: pair[1] for label, pair in original_shown.items()}
    candidates = candidate_pairs(case.table, seeds)
    assert candidate_pairs(shuffled_table, seeds) == candidates
    if case.wrap:
        assert original_pairs <= candidates
        assert shuffled_pairs <= candidates

    # 3. Each (concept, repeat) is the original table under rho_r.
    pi = sklearn_row_permutations(case.random_state, n, case.n_repeats)
    inverse = np.argsort(sigma)
    assert list(shuffled.concept_names) == list(case.table.columns)
    for j, column in enumerate(case.table.columns):
        for r in range(case.n_repeats):
            # The engine scores named metrics with its own vectorised code (ROC AUC
            # from exact integer counts), sklearn's oracle with its own: they agree
            # to the contract's 1e-12, not always to the last bit.
            identity_drop = original.baseline_score - permuted_score(case, column, pi[r])
            np.testing.assert_allclose(original.importances[j, r], identity_drop,
                                       rtol=1e-12, atol=1e-12)
            rho = sigma[pi[r]][inverse]  # rho[sigma[k]] = sigma[pi_r[k]]
            drop = original.baseline_score - permuted_score(case, column, rho)
            np.testing.assert_allclose(shuffled.importances[j, r], drop, rtol=1e-12, atol=1e-12)


@_settings(max_examples=30)
@given(
    case=cases(max_samples=(1.0, 0.5), weighted=True, n_repeats=(1, 4)),
    p=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)),
    size_dependent=st.booleans(),
)
def test_estimator_ignoring_the_image_has_zero_importance(case, p, size_dependent):
    """Property 3: an estimator that ignores the image gets importances exactly 0.

    Its predictions are the same for every image (a constant, or a function of
    the image size alone), so every permuted score is bitwise the baseline:
    importances, their mean and their std are exactly 0.

    With max_samples < 1, sklearn (and so DEPICT, which must equal it) scores
    the baseline on *all* rows but the permutations on a subsample of rows, so
    even a blind estimator gets baseline - score(subsample), which is not 0.
    There the property is that this one number is every importance: the same
    for every concept and repeat, and equal to that difference computed
    directly from the constant predictions. (Its std is then 0 only up to
    rounding: numpy's std of [0.4, 0.4, 0.4] is 5.6e-17, in sklearn as here.)
    """
    estimator = ConstantProbability(p, size_dependent=size_dependent)
    result = case.run(estimator=estimator)
    assert result.importances.shape == (case.table.shape[1], case.n_repeats)
    if case.max_samples == 1.0:
        assert np.all(result.importances == 0.0)
        assert np.all(result.importances_mean == 0.0)
        assert np.all(result.importances_std == 0.0)
        return
    rows = result.plan.row_indices
    assert len(rows) == int(case.max_samples * len(case.table))
    scorer = get_scorer(case.scoring)
    images = np.zeros((len(case.table), case.image_size, case.image_size, 3), np.float32)
    weights = case.sample_weight
    full = {} if weights is None else {"sample_weight": weights}
    part = {} if weights is None else {"sample_weight": weights[rows]}
    blind = ConstantProbabilityClassifier(p, size_dependent=size_dependent).fit()
    baseline = scorer(blind, images, case.y, **full)
    expected = baseline - scorer(blind, images[rows], case.y[rows], **part)
    # A difference within rounding (two sums of equal terms) is a tie: 0.
    expected = snap_rounding(expected, baseline)
    assert np.all(result.importances == expected)


@_settings(max_examples=25)
@given(
    case=cases(scorings=("accuracy",), max_samples=(1.0, 0.5), wrap=True, n_repeats=(1, 2)),
    more_repeats=st.integers(1, 10),
)
def test_generated_images_respect_the_distinct_pair_bound(case, more_repeats):
    """Property 4: images generated <= N (1 + sum_j (K_j - 1)), whatever n_repeats.

    - the reported bound is that formula, with K_j the distinct values of
      column j, and it is exactly the number of candidate pairs (a row's own
      caption or that caption with one column changed, with the row's seed);
    - every pair is generated once: the generator sees no pair twice, and the
      number it sees is ``n_images_generated`` and ``n_images_distinct``;
    - every generated pair is a candidate, so the count is within the bound;
    - more repeats (the same random_state) only add pairs: the draws of the
      first repeats are a prefix, so the smaller run's pairs are a subset of
      the larger run's, which stays within the same bound; with a warm cache the
      larger run generates just the new pairs;
    - a constant column (K_j = 1) adds nothing to the bound and has
      importances exactly 0.
    """
    table = case.table
    n = len(table)
    bound = n * (1 + sum(k - 1 for k in distinct_values(table)))

    with tempfile.TemporaryDirectory() as directory:
        small_gen = case.generator(record=True)
        small = case.run(generator=small_gen, cache=ImageCache(directory))
        large_gen = case.generator(record=True)
        large = case.run(
            generator=large_gen,
            cache=ImageCache(directory),
            n_repeats=case.n_repeats + more_repeats,
        )
        fresh_gen = case.generator(record=True)
        fresh = case.run(generator=fresh_gen, n_repeats=case.n_repeats + more_repeats)

    for result, generator in ((small, small_gen), (fresh, fresh_gen)):
        assert result.n_images_bound == bound
        assert len(generator.pairs) == len(set(generator.pairs))  # each pair once
        assert result.n_images_generated == generator.n_images == result.n_images_distinct
        assert result.n_images_generated <= bound
        assert result.n_images_generated <= result.n_images_naive

    seeds = {label: seed for label, (_, seed) in shown_pairs(small, table.index).items()}
    candidates = candidate_pairs(table, seeds)
    assert len(candidates) == bound
    assert set(small_gen.pairs) <= set(fresh_gen.pairs) <= candidates
    assert large.n_images_bound == bound
    assert large.n_images_distinct == fresh.n_images_distinct
    assert large.n_images_generated == fresh.n_images_distinct - small.n_images_distinct
    assert set(large_gen.pairs) == set(fresh_gen.pairs) - set(small_gen.pairs)
    for j, k in enumerate(distinct_values(table)):
        if k == 1:
            # A constant column changes no caption: every permuted score is the
            # score of the unchanged (sub)sample. With max_samples=1.0 that is the
            # baseline itself, so the importance is exactly 0; with a subsample it
            # is the same number for every repeat (the baseline uses all rows).
            assert np.all(fresh.importances[j] == fresh.importances[j][0])
            if case.max_samples == 1.0:
                assert np.all(fresh.importances[j] == 0.0)


@_settings(max_examples=12)
@given(case=cases(max_samples=(1.0, 0.5), weighted=True, wrap=False, words_on_subsample=False))
def test_equals_sklearn_permutation_importance_on_the_pipeline(case):
    """The correctness contract on random tables: depict equals sklearn to 1e-12.

    ``permutation_importance(make_pipeline(CaptionToImage(g), est), X, y)`` with
    the same scoring, n_repeats, random_state, sample_weight and max_samples.
    A generator that reads the caption's words is only drawn with
    max_samples=1.0: on a subsample the pipeline captions some rows differently
    (see the tests at the end).
    """
    estimator = ColourProjectionClassifier(case.estimator_seed).fit()
    generator = case.generator(record=False)
    ours = case.run(estimator=estimator, generator=generator)
    pipeline = make_pipeline(CaptionToImage(generator, seed=case.seed), estimator)
    theirs = permutation_importance(
        pipeline,
        case.table,
        case.y,
        scoring=case.scoring,
        n_repeats=case.n_repeats,
        random_state=case.random_state,
        sample_weight=case.sample_weight,
        max_samples=case.max_samples,
    )
    for key in ("importances", "importances_mean", "importances_std"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-12)


# A minimal counterexample to the contract above, found with WordTintedGenerator:
# a count column holding 2 in the full table but only 0/1 in the scored subsample.
SUBSAMPLE_TABLE = pd.DataFrame({"red circle": [2, 1]})
SUBSAMPLE_Y = np.array([0, 1])
SUBSAMPLE_KWARGS = {
    "scoring": LABELLED_LOG_LOSS,
    "n_repeats": 1,
    "random_state": 0,  # scores row 1, the one holding 1
    "max_samples": 0.5,
}


def _both_routes(captioner: Any = None, fit: bool = False) -> tuple[Any, Any]:
    generator = WordTintedGenerator(ShapesGenerator(image_size=16, max_count=2))
    estimator = ColourProjectionClassifier(0).fit()
    ours = depict_importance(
        estimator,
        SUBSAMPLE_TABLE,
        SUBSAMPLE_Y,
        generator=CaptionToImage(generator, captioner=captioner),
        **SUBSAMPLE_KWARGS,
    )
    pipeline = make_pipeline(CaptionToImage(generator, captioner=captioner), estimator)
    if fit:
        pipeline[0].fit(SUBSAMPLE_TABLE)
    theirs = permutation_importance(pipeline, SUBSAMPLE_TABLE, SUBSAMPLE_Y, **SUBSAMPLE_KWARGS)
    return ours, theirs


def test_a_fitted_transformer_captions_a_subsample_like_the_full_table():
    """Kinds learned in fit keep a row's caption independent of the other rows.

    Unfitted, CaptionToImage infers kinds from each table: a count column
    holding {2, 1} captions row 1 as '1 red circle' in the full table but as
    'red circle' in a subsample holding only 1, and sklearn's route then scores
    the max_samples subsample with other captions than depict (which keeps the
    full table's kinds). Fitted, both routes agree.
    """
    generator = WordTintedGenerator(ShapesGenerator(image_size=16, max_count=2))
    unfitted = CaptionToImage(generator)
    assert not np.array_equal(
        unfitted.transform(SUBSAMPLE_TABLE.iloc[[1]])[0], unfitted.transform(SUBSAMPLE_TABLE)[1]
    )
    fitted = CaptionToImage(generator).fit(SUBSAMPLE_TABLE)
    np.testing.assert_array_equal(
        fitted.transform(SUBSAMPLE_TABLE.iloc[[1]])[0], fitted.transform(SUBSAMPLE_TABLE)[1]
    )
    ours, theirs = _both_routes(fit=True)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)


def test_pinned_kinds_make_the_subsample_routes_agree():
    """Without fit, pinning the count column's kind in the captioner also works."""
    ours, theirs = _both_routes(ConceptCaptioner(kinds={"red circle": "count"}))
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=0, atol=1e-12)
    assert np.all(ours.importances != 0)
