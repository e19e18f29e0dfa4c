"""Benchmark: do more repeats cost nothing?

What it measures
----------------
The engine generates and predicts each distinct image once, whatever
``n_repeats`` is; every (concept, repeat) score is a gather of stored
predictions. Scoring those gathers with one sklearn scorer call per repeat
made a 500-repeat run 9x slower than a 25-repeat one. The vectorised named
scorers (:mod:`sklearn_depict.stats.fast_scoring`) score all repeats of a concept at
once.

Setup: ``make_shapes_dataset(500)`` explained, a logistic regression trained on
the pixels of separate renders, ``scoring="roc_auc"``, a warm
:class:`ImageCache` in a temporary directory (filled before timing), and
``n_repeats`` in 25, 100, 500 and 2,000. For each it prints the median over
interleaved rounds of the whole call, of generation + prediction (the cache
reads and the model; the floor of the method), of scoring and of the
intervals, and the ratio of the run to generation + prediction. It runs three
arms:

* ``fast, bootstrap``: the defaults (vectorised scoring, row-bootstrap intervals);
* ``fast, t``: ``ci_method="t"``;
* ``exact``: ``scoring=get_scorer("roc_auc")``, a scorer object, which keeps
  sklearn's per-repeat path (what every run did before), with ``ci_method="t"``;
  only up to ``--exact-max`` repeats, because it is slow.

Checks (PASS/FAIL, exit code 0 either way): at 500 repeats scoring is at most
10% of the default run, the default run at 500 repeats takes at most 1.3x the
one at 25, and the fast and exact arms agree to 1e-12.

How to run
----------
From the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_repeats.py
    .venv/bin/python benchmarks/bench_repeats.py --rounds 1 --repeats 25 500
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_depict import (
    CaptionToImage,
    ImageCache,
    ShapesGenerator,
    depict_importance,
    make_shapes_dataset,
)

ARMS = ("fast, bootstrap", "fast, t", "exact")


def _flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, nargs="+", default=[25, 100, 500, 2000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--exact-max", type=int, default=500,
                        help="largest n_repeats timed on the exact path")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def run(arm: str, clf: Any, data: Any, cache: ImageCache, n_repeats: int, seed: int) -> dict:
    exact = arm == "exact"
    start = time.perf_counter()
    result = depict_importance(
        clf, data.concept_table, data.target,
        generator=CaptionToImage(ShapesGenerator(), cache=cache),
        scoring=get_scorer("roc_auc") if exact else "roc_auc", n_repeats=n_repeats,
        random_state=seed, ci_method="bootstrap" if arm == "fast, bootstrap" else "t",
        ci_random_state=seed,
    )
    total = time.perf_counter() - start
    timings = result.timings
    return {
        "total": total,
        "floor": timings["generation"] + timings["prediction"],
        "scoring": timings["scoring"],
        "intervals": timings["intervals"],
        "importances": result.importances,
        "fast": result.fast_scoring,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"bench_repeats: scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    train = make_shapes_dataset(1000, random_state=args.seed)
    data = make_shapes_dataset(args.n_samples, random_state=args.seed + 1)
    clf = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=1000))
    clf.fit(train.images, train.target)
    with tempfile.TemporaryDirectory(prefix="bench-repeats-") as tmp:
        cache = ImageCache(tmp)
        run("fast, t", clf, data, cache, 1, args.seed)  # fills the cache: every run is warm
        cells = [(arm, r) for r in args.repeats for arm in ARMS
                 if arm != "exact" or r <= args.exact_max]
        runs: dict[tuple[str, int], list[dict]] = {cell: [] for cell in cells}
        for k in range(args.rounds):
            order = cells if k % 2 == 0 else cells[::-1]
            for cell in order:
                runs[cell].append(run(cell[0], clf, data, cache, cell[1], args.seed))
            print(f"  round {k + 1}/{args.rounds} done")

    def med(cell: tuple[str, int], key: str) -> float:
        return statistics.median(r[key] for r in runs[cell])

    print(f"\nN={args.n_samples}, scoring='roc_auc', warm cache, medians of {args.rounds} "
          "interleaved rounds\n")
    print(f"{'arm':<16} {'n_repeats':>9} {'total s':>8} {'gen+pred s':>10} {'scoring s':>9} "
          f"{'intervals s':>11} {'scoring %':>9} {'run/(gen+pred)':>14}")
    for arm, r in cells:
        total, floor = med((arm, r), "total"), med((arm, r), "floor")
        scoring, intervals = med((arm, r), "scoring"), med((arm, r), "intervals")
        print(f"{arm:<16} {r:>9} {total:>8.3f} {floor:>10.3f} {scoring:>9.3f} "
              f"{intervals:>11.3f} {scoring / total:>9.1%} {total / floor:>13.2f}x")

    print()
    for arm in ("fast, bootstrap", "fast, t"):
        if (arm, 25) in runs and (arm, 500) in runs:
            ratio = med((arm, 500), "total") / med((arm, 25), "total")
            share = med((arm, 500), "scoring") / med((arm, 500), "total")
            print(f"{arm}: run at 500 / run at 25 = {ratio:.2f}x (target <= 1.3): "
                  f"{'PASS' if ratio <= 1.3 else 'FAIL'}; scoring share at 500 = "
                  f"{share:.1%} (target <= 10%): {'PASS' if share <= 0.10 else 'FAIL'}")
    if ("exact", 500) in runs and ("fast, t", 500) in runs:
        speedup = med(("exact", 500), "scoring") / med(("fast, t", 500), "scoring")
        print(f"scoring at 500 repeats, exact / fast: {speedup:.0f}x")
    diffs = [
        float(np.max(np.abs(a["importances"] - b["importances"])))
        for r in args.repeats if ("exact", r) in runs
        for a, b in zip(runs[("exact", r)], runs[("fast, t", r)])
    ]
    if diffs:
        agree = max(diffs) <= 1e-12
        print(f"fast vs exact importances: max |diff| = {max(diffs):.1e} (<= 1e-12): "
              f"{'PASS' if agree else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
