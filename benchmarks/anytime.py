"""Benchmark: anytime DEPICT (``tol=``) against the full run and the truth.

What it measures
----------------
On the paper's synthetic shapes, with the in-process renderer
(:class:`~sklearn_depict.ShapesGenerator`, so it is cheap), one random
concept-bottleneck model (:class:`~sklearn_depict.ConceptBottleneckClassifier`,
head weights from U[0, 1] as in the paper, labels ``w . c`` above the
training median) is explained on ``--repetitions`` fresh tables of
``--rows`` rows (2,000), each with ROC AUC, ``n_repeats=5`` (``--repeats``) and the default
1,000-resample row bootstrap:

- **truth**: a full (non-anytime) DEPICT run on ``--truth-rows`` (20,000)
  fresh rows, averaged over ``--truth-seeds`` permutation seeds: the
  importance the 2,000-row intervals estimate;
- **coverage**: for each ``tol`` in 0.05, 0.02 and 0.01, how often the
  nominal 95% interval at the stopping time holds the truth (over
  repetitions and the six concepts; target 0.90-0.98);
- **savings**: the distinct images the stopped run used, as a fraction of
  those of the full 2,000-row run of the same rows (target <= 0.4 at
  ``tol=0.02``), and the rows used;
- **top-3**: how often the stopped run's three most important concepts are
  the full run's (as a set, and in order; target >= 95% as a set).

Each repetition draws a fresh concept table; its rows keep the index labels
0..1,999, and so the noise seeds, as a table re-explained with new rows would
(the truth's rows have seeds of their own). Every run shares one image cache
(``--cache``, a temporary folder by default): an anytime run's images are the
full run's images for the rows it used, and repetitions reuse the (caption,
seed) pairs they have in common.

One anytime run per repetition, with the smallest ``tol``, gives all three:
its ``anytime_trace`` holds the intervals after every block, and a run with a
larger ``tol`` returns those of the first block where it would stop (the
first repetition checks this against runs with each ``tol``).

How to run
----------
From the repository root (the renderer needs one core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anytime.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/anytime.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from sklearn_depict import (
    CaptionToImage,
    ConceptBottleneckClassifier,
    ShapesGenerator,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)

TOLS = (0.05, 0.02, 0.01)


def _table(n_rows, seed, offset, weights, threshold):
    """A fresh shapes table whose index labels (and noise seeds) start at ``offset``."""
    data = make_shapes_dataset(n_rows, random_state=seed)
    table = data.concept_table.set_axis(np.arange(offset, offset + n_rows), axis=0)
    return table, make_concept_labels(table, weights, threshold=threshold)


N_REPEATS = {"value": 5}


def _run(model, table, y, generator, seed, **kwargs):
    return depict_importance(model, table, y, generator=generator, scoring="roc_auc",
                             n_repeats=N_REPEATS["value"], random_state=seed,
                             ci_random_state=seed, **kwargs)


def _top(means, k=3):
    return [int(i) for i in np.argsort(-np.asarray(means), kind="stable")[:k]]


def _stop(trace, tol, min_blocks=2):
    """The block after which a run with ``tol`` stops (the last one if none)."""
    settled = np.flatnonzero(trace.max_half_widths[min_blocks - 1:] <= tol)
    return (settled[0] + min_blocks - 1) if len(settled) else len(trace.n_samples) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--truth-rows", type=int, default=20000)
    parser.add_argument("--truth-seeds", type=int, default=3)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--model-seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5,
                        help="n_repeats of every run (repeats add almost no images)")
    parser.add_argument("--cache", default=None, help="image cache folder (default: temp)")
    parser.add_argument("--no-cache", action="store_true",
                        help="render every image again instead of caching it (the renderer "
                             "draws an image faster than the cache stores one)")
    parser.add_argument("--quick", action="store_true",
                        help="20 repetitions and 10,000 truth rows, for a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.repetitions, args.truth_rows = min(args.repetitions, 20), 10000
    N_REPEATS["value"] = args.repeats
    start = time.perf_counter()

    train = make_shapes_dataset(2000, random_state=10_000 + args.model_seed)
    weights = np.random.RandomState(args.model_seed).uniform(size=6)
    threshold = float(np.median(train.concept_table.to_numpy() @ weights))
    y_train = make_concept_labels(train.concept_table, weights, threshold=threshold)
    model = ConceptBottleneckClassifier(weights=weights).fit(
        train.images, y_train, concept_table=train.concept_table)
    names = list(train.concept_table.columns)

    # The truth: full runs on many fresh rows (their own seeds), averaged over permutations.
    table, y = _table(args.truth_rows, 20_000, 10_000_000, weights, threshold)
    truth = np.mean([_run(model, table, y, ShapesGenerator(), seed).importances_mean
                     for seed in range(args.truth_seeds)], axis=0)
    print(f"truth ({args.truth_rows} rows x {args.truth_seeds} seeds): "
          + ", ".join(f"{n} {t:.4f}" for n, t in zip(names, truth)))

    folder = (tempfile.TemporaryDirectory(prefix="anytime-cache-")
              if args.cache is None and not args.no_cache else None)
    cache = None if args.no_cache else args.cache if folder is None else folder.name
    generator = CaptionToImage(ShapesGenerator(), cache=cache)
    covered = {tol: [] for tol in TOLS}
    fraction = {tol: [] for tol in TOLS}
    rows_used = {tol: [] for tol in TOLS}
    stopped = {tol: [] for tol in TOLS}
    top_set = {tol: [] for tol in TOLS}
    top_order = {tol: [] for tol in TOLS}
    full_covered = []
    for rep in range(args.repetitions):
        table, y = _table(args.rows, rep, 0, weights, threshold)
        full = _run(model, table, y, generator, rep)
        ci = full.importances_ci
        full_covered.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
        anytime = _run(model, table, y, generator, rep, tol=min(TOLS),
                       block_size=args.block_size)
        trace = anytime.anytime_trace
        for tol in TOLS:
            step = _stop(trace, tol)
            ci, means = trace.importances_ci[step], trace.importances_mean[step]
            if rep == 0:  # the trace gives what a run with this tol returns
                direct = _run(model, table, y, generator, rep, tol=tol,
                              block_size=args.block_size)
                assert direct.n_samples_used == trace.n_samples[step]
                np.testing.assert_array_equal(direct.importances_ci, ci)
            covered[tol].append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
            fraction[tol].append(trace.n_images[step] / full.n_images_distinct)
            rows_used[tol].append(trace.n_samples[step])
            stopped[tol].append(trace.n_samples[step] < args.rows)
            top_set[tol].append(set(_top(means)) == set(_top(full.importances_mean)))
            top_order[tol].append(_top(means) == _top(full.importances_mean))
    if folder is not None:
        folder.cleanup()

    n = args.repetitions
    print(f"\n{n} repetitions of {args.rows} rows, block_size {args.block_size}, "
          f"nominal 95% bootstrap intervals (ROC AUC, n_repeats={args.repeats})")
    print(f"full run ({args.rows} rows): coverage {np.mean(full_covered):.3f}")
    print("   tol  coverage  min concept  images/full  rows used  stopped early"
          "  top-3 set  top-3 order")
    for tol in TOLS:
        by_concept = np.mean(covered[tol], axis=0)
        print(f"{tol:6.2f}  {np.mean(covered[tol]):8.3f}  {by_concept.min():11.3f}"
              f"  {np.mean(fraction[tol]):11.3f}  {np.median(rows_used[tol]):9.0f}"
              f"  {np.mean(stopped[tol]):13.2f}  {np.mean(top_set[tol]):9.2f}"
              f"  {np.mean(top_order[tol]):11.2f}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
