"""Benchmark: ``depict_importance`` against sklearn's ``permutation_importance``.

What it measures
----------------
The library's correctness contract is that ``depict_importance(clf, X, y,
generator=g, ...)`` returns the same numbers as scikit-learn's own
``permutation_importance(make_pipeline(CaptionToImage(g), clf), X, y, ...)``.
The sklearn route regenerates every image on every call: N * (1 + J * P)
images for N rows, J concepts and P repeats. The engine generates each
distinct (caption, seed) pair once, at most N * (1 + sum_j (K_j - 1)) images
for concepts taking K_j values, whatever P is, and predicts each once.

This script times both routes on the paper's synthetic shapes domain:

* a ``ConceptBottleneckClassifier`` trained on a separate set of renders;
* an explained set of ``--n-samples`` rows with 6 binary concepts, labelled
  with ``make_concept_labels(test.concept_table, train.weights)``;
* a ``ShapesGenerator`` behind a counting wrapper (shared by both arms), so
  that the number of images each arm asks the generator for is measured, not
  taken on trust;
* ``scoring="roc_auc"``, ``--n-repeats`` permutations per concept, no cache
  (``CaptionToImage`` is built without one, ``depict_importance`` with
  ``cache=None``), and the same ``random_state`` in both arms.

Each round runs both arms, alternating which goes first, because the machine
may be shared and noisy; the medians over ``--rounds`` rounds are reported. It
checks that the importances agree to 1e-12, that the speed-up is at least 10x
and that the engine generated no more than the distinct-pair bound. The exit
code is 0 whatever the outcome; a failed check prints FAIL.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/bench_engine.py
    .venv/bin/python benchmarks/bench_engine.py --n-samples 100 --n-repeats 5 --rounds 1
    .venv/bin/python benchmarks/bench_engine.py --json bench_engine.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from sklearn.inspection import permutation_importance
from sklearn.pipeline import make_pipeline

import sklearn_depict
from sklearn_depict import (
    CaptionToImage,
    ConceptBottleneckClassifier,
    ShapesGenerator,
    depict_importance,
    make_concept_labels,
    make_shapes_dataset,
)

SPEEDUP_TARGET = 10.0
AGREEMENT_TOL = 1e-12
SCORING = "roc_auc"


class CountingGenerator:
    """Delegate to a generator and count the images it is asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.n_images = 0
        self.n_calls = 0

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def generate(self, captions: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        self.n_calls += 1
        self.n_images += len(captions)
        return self.inner.generate(captions, seeds)

    def reset(self) -> None:
        self.n_images = 0
        self.n_calls = 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time depict_importance against sklearn's permutation_importance "
        "on an uncached make_pipeline(CaptionToImage(g), clf)."
    )
    parser.add_argument("--n-samples", type=int, default=300, help="rows explained (N)")
    parser.add_argument("--n-repeats", type=int, default=25, help="permutations per concept (P)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of both arms")
    parser.add_argument("--n-train", type=int, default=2000, help="renders to train the model")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument("--json", metavar="FILE", default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)
    for name in ("n_samples", "n_repeats", "rounds", "n_train"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def _timed(gen: CountingGenerator, explain: Any) -> dict:
    """Run one arm from a reset counter and record its wall and CPU time."""
    gen.reset()
    cpu_start, start = time.process_time(), time.perf_counter()
    result = explain()
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu_start,
        "images": gen.n_images,
        "generate_calls": gen.n_calls,
        "importances": result.importances,
        "result": result,
    }


def run_sklearn(clf: Any, X: Any, y: np.ndarray, gen: CountingGenerator, args: Any) -> dict:
    """sklearn's permutation_importance on the uncached pipeline."""
    pipeline = make_pipeline(CaptionToImage(gen, cache=None), clf)
    return _timed(gen, lambda: permutation_importance(
        pipeline, X, y, scoring=SCORING, n_repeats=args.n_repeats, random_state=args.seed,
        n_jobs=None,
    ))


def run_depict(clf: Any, X: Any, y: np.ndarray, gen: CountingGenerator, args: Any) -> dict:
    """The engine, with no cache and in-process (so the counter sees every image)."""
    return _timed(gen, lambda: depict_importance(
        clf, X, y, generator=gen, scoring=SCORING, n_repeats=args.n_repeats,
        random_state=args.seed, n_jobs=None,
    ))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n, p = args.n_samples, args.n_repeats

    print("bench_engine: depict_importance vs sklearn.inspection.permutation_importance")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, sklearn-depict {sklearn_depict.__version__}"
    )

    # --- Setup (not timed) -------------------------------------------------
    start = time.perf_counter()
    train = make_shapes_dataset(args.n_train, random_state=args.seed)
    test = make_shapes_dataset(n, random_state=args.seed + 1)
    clf = ConceptBottleneckClassifier(weights=train.weights).fit(
        train.images, train.target, concept_table=train.concept_table
    )
    X = test.concept_table
    y = make_concept_labels(test.concept_table, train.weights)
    gen = CountingGenerator(ShapesGenerator())
    setup_s = time.perf_counter() - start
    n_concepts = X.shape[1]
    levels = [int(X[c].nunique()) for c in X.columns]
    bound_formula = n * (1 + sum(k - 1 for k in levels))
    naive_formula = n * (1 + n_concepts * p)
    print(
        f"setup: {args.n_train} training renders, N={n} rows explained, J={n_concepts} "
        f"concepts (K_j={levels}), P={p} repeats, scoring={SCORING!r}, "
        f"rounds={args.rounds}, seed={args.seed} ({setup_s:.1f} s)"
    )

    # --- Timed rounds, interleaved ------------------------------------------
    arms = {"sklearn": run_sklearn, "depict": run_depict}
    runs: dict[str, list[dict]] = {name: [] for name in arms}
    for r in range(args.rounds):
        order = list(arms) if r % 2 == 0 else list(reversed(arms))
        for name in order:
            runs[name].append(arms[name](clf, X, y, gen, args))
        print(
            f"  round {r + 1}/{args.rounds}: "
            + ", ".join(f"{name} {runs[name][-1]['seconds']:.3f} s" for name in arms)
        )

    # --- Figures -------------------------------------------------------------
    med = {name: statistics.median(run["seconds"] for run in runs[name]) for name in arms}
    images = {name: runs[name][0]["images"] for name in arms}
    images_stable = all(run["images"] == images[name] for name in arms for run in runs[name])
    calls = {name: runs[name][0]["generate_calls"] for name in arms}
    result = runs["depict"][-1]["result"]
    max_diff = max(
        float(np.max(np.abs(s["importances"] - d["importances"])))
        for s, d in zip(runs["sklearn"], runs["depict"])
    )
    med_cpu = {name: statistics.median(run["cpu_seconds"] for run in runs[name]) for name in arms}
    best = {name: min(run["seconds"] for run in runs[name]) for name in arms}
    speedup = med["sklearn"] / med["depict"]
    speedup_best = best["sklearn"] / best["depict"]
    speedup_cpu = med_cpu["sklearn"] / med_cpu["depict"]
    image_ratio = images["sklearn"] / max(images["depict"], 1)

    print()
    header = (
        f"{'arm':<10}{'median s':>11}{'min s':>10}{'max s':>10}{'median cpu s':>14}"
        f"{'images':>10}{'gen calls':>11}"
    )
    print(header)
    print("-" * len(header))
    for name in arms:
        seconds = [run["seconds"] for run in runs[name]]
        print(
            f"{name:<10}{med[name]:>11.3f}{min(seconds):>10.3f}{max(seconds):>10.3f}"
            f"{med_cpu[name]:>14.3f}{images[name]:>10d}{calls[name]:>11d}"
        )
    print()
    print(f"naive image count N*(1+J*P):            {naive_formula}")
    print(f"distinct-pair bound N*(1+sum(K_j-1)):   {bound_formula}")
    print(
        f"depict result: n_images_naive={result.n_images_naive}, "
        f"n_images_bound={result.n_images_bound}, "
        f"n_images_distinct={result.n_images_distinct}, "
        f"n_images_generated={result.n_images_generated}"
    )
    print(
        "depict timings (last round): "
        + ", ".join(f"{k}={v:.3f} s" for k, v in result.timings.items())
    )
    print(f"baseline {SCORING} on generated images: {float(result.baseline_score):.4f}")
    print(
        "importances_mean: "
        + ", ".join(
            f"{name}={value:+.4f}"
            for name, value in zip(result.concept_names, result.importances_mean)
        )
    )
    print(f"image ratio (sklearn / depict): {image_ratio:.1f}x")
    print(f"time ratio  (sklearn / depict): {speedup:.1f}x of median wall-clock")
    print(
        f"             (for reference, less sensitive to a shared machine's load: "
        f"{speedup_best:.1f}x of best wall-clock, {speedup_cpu:.1f}x of median CPU time)"
    )
    print()

    checks = {
        "speedup": speedup >= SPEEDUP_TARGET,
        "images": images["depict"] <= bound_formula and images["depict"] <= result.n_images_bound,
        "reported_generated": result.n_images_generated == images["depict"],
        "sklearn_naive": images["sklearn"] == naive_formula,
        "bound_formula": result.n_images_bound == bound_formula,
        "images_stable": images_stable,
        "agreement": max_diff <= AGREEMENT_TOL,
    }
    print(
        f"importances agree: max |sklearn - depict| = {max_diff:.3g} "
        f"(tol {AGREEMENT_TOL:g}): {verdict(checks['agreement'])}"
    )
    print(
        f"counter vs result: generator saw {images['depict']}, result reports "
        f"n_images_generated={result.n_images_generated}: "
        f"{verdict(checks['reported_generated'])}"
    )
    print(
        f"sklearn arm generated N*(1+J*P) = {naive_formula}: "
        f"{images['sklearn']}: {verdict(checks['sklearn_naive'])}"
    )
    print(
        f"result n_images_bound {result.n_images_bound} == N*(1+sum(K_j-1)) = "
        f"{bound_formula}: {verdict(checks['bound_formula'])}"
    )
    print(f"image counts identical across rounds: {verdict(checks['images_stable'])}")
    print(f"images: {images['depict']} <= bound {bound_formula}: {verdict(checks['images'])}")
    print(f"speed-up: {speedup:.1f}x (target >= {SPEEDUP_TARGET:g}x): {verdict(checks['speedup'])}")

    if args.json:
        figures = {
            "n_samples": n,
            "n_concepts": n_concepts,
            "n_levels": levels,
            "n_repeats": p,
            "n_train": args.n_train,
            "rounds": args.rounds,
            "seed": args.seed,
            "scoring": SCORING,
            "seconds": {name: [run["seconds"] for run in runs[name]] for name in arms},
            "cpu_seconds": {name: [run["cpu_seconds"] for run in runs[name]] for name in arms},
            "median_seconds": med,
            "median_cpu_seconds": med_cpu,
            "speedup_best": speedup_best,
            "speedup_cpu": speedup_cpu,
            "images": images,
            "generate_calls": calls,
            "speedup": speedup,
            "image_ratio": image_ratio,
            "n_images_naive": int(result.n_images_naive),
            "n_images_bound": int(result.n_images_bound),
            "n_images_distinct": int(result.n_images_distinct),
            "n_images_generated": int(result.n_images_generated),
            "bound_formula": bound_formula,
            "naive_formula": naive_formula,
            "depict_timings": {k: float(v) for k, v in result.timings.items()},
            "baseline_score": float(result.baseline_score),
            "importances_mean": {
                str(name): float(value)
                for name, value in zip(result.concept_names, result.importances_mean)
            },
            "max_abs_diff": max_diff,
            "checks": {k: bool(v) for k, v in checks.items()},
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
                "sklearn-depict": sklearn_depict.__version__,
            },
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
