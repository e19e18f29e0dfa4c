"""Memory and time of depict_importance at scale (not a timed test).

Scenario (issue "Reliability and scale"): ``ShapesGenerator(64)``, N rows, the
6 shapes concepts, ``n_repeats=10``, a logistic regression on raw pixels. For
each N (default 2,000 and 20,000) it measures, each in a fresh subprocess so
that peak memory is the run's own:

* ``engine``: wall time and peak RSS of ``depict_importance`` without a cache;
* ``limit``: the physical limit, generating the same distinct images in the
  same chunks and predicting them, timed separately, with nothing else;
* ``cached``: ``depict_importance`` filling an on-disk cache, and its size.

It prints images generated against the distinct-pair bound, the ratio of the
engine's time to (generation + prediction), and how time and memory grow with
N. Targets: peak RSS under 1.5 GB (predictions are kept, images are not) and
engine time within 1.3x of the limit.

Run::

    .venv/bin/python benchmarks/bench_scale.py              # N = 2,000 and 20,000
    .venv/bin/python benchmarks/bench_scale.py --sizes 2000 --json scale.json
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
N_REPEATS = 10
N_TRAIN = 2000
CHUNK = 256


def _flatten(images):
    return images.reshape(len(images), -1)


def _setup(n_rows: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_depict import ShapesGenerator, make_concept_labels, make_shapes_dataset

    train = make_shapes_dataset(N_TRAIN, image_size=IMAGE_SIZE, random_state=0)
    model = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=300))
    model.fit(train.images, train.target)
    rng = np.random.RandomState(1)
    import pandas as pd

    concepts = pd.DataFrame(
        (rng.uniform(size=(n_rows, 6)) < 0.5).astype(np.int64), columns=train.concept_names
    )
    y = make_concept_labels(concepts, train.weights)
    return model, concepts, y, ShapesGenerator(IMAGE_SIZE)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(mode: str, n_rows: int) -> dict:
    from sklearn_depict import CaptionToImage, ImageCache, depict_importance

    model, concepts, y, generator = _setup(n_rows)
    rss_setup = _peak_rss_mb()
    out: dict = {"mode": mode, "n_rows": n_rows, "rss_after_setup_mb": rss_setup}
    if mode == "limit":
        from sklearn_depict._engine.plan import make_plan, resolve_concepts
        from sklearn_depict.captioning import ConceptCaptioner
        from sklearn_depict.concepts import make_concept_table

        captioner = ConceptCaptioner()
        table = make_concept_table(concepts, captioner=captioner, seed=0)
        names, columns = resolve_concepts(table, None)
        plan = make_plan(table, concept_names=names, concept_columns=columns,
                         captioner=captioner, n_repeats=N_REPEATS,
                         n_scored=n_rows, random_state=0)
        t_gen = t_pred = 0.0
        for start in range(0, plan.n_distinct, CHUNK):
            t0 = time.perf_counter()
            images = generator.generate(plan.captions[start:start + CHUNK],
                                        plan.seeds[start:start + CHUNK])
            t1 = time.perf_counter()
            model.predict_proba(images)
            t_pred += time.perf_counter() - t1
            t_gen += t1 - t0
        out.update(generation_s=t_gen, prediction_s=t_pred, limit_s=t_gen + t_pred,
                   n_images=plan.n_distinct)
    else:
        cache_dir = tempfile.mkdtemp(prefix="depict-scale-") if mode == "cached" else None
        try:
            start = time.perf_counter()
            result = depict_importance(
                model, concepts, y, scoring="roc_auc", n_repeats=N_REPEATS, random_state=0,
                generator=CaptionToImage(
                    generator, batch_size=CHUNK,
                    cache=None if cache_dir is None else ImageCache(cache_dir),
                ),
            )
            out["wall_s"] = time.perf_counter() - start
            out.update(
                n_images_generated=int(result.n_images_generated),
                n_images_bound=int(result.n_images_bound),
                n_images_naive=int(result.n_images_naive),
                timings={k: float(v) for k, v in result.timings.items()},
                importances_mean=result.importances_mean.tolist(),
            )
            if cache_dir is not None:
                out["cache_bytes"] = ImageCache(cache_dir).nbytes
                out["cache_entries"] = len(ImageCache(cache_dir))
        finally:
            if cache_dir is not None:
                shutil.rmtree(cache_dir, ignore_errors=True)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def _spawn(mode: str, n_rows: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(n_rows)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--modes", nargs="+", default=["engine", "limit", "cached"],
                        choices=["engine", "limit", "cached"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]))))
        return 0

    print(f"bench_scale: ShapesGenerator({IMAGE_SIZE}), 6 concepts, n_repeats={N_REPEATS}, "
          f"logistic regression on pixels, chunks of {CHUNK}")
    figures = {}
    for n_rows in args.sizes:
        # Interleave the measurements of one size so they share the machine's mood.
        figures[n_rows] = {mode: _spawn(mode, n_rows) for mode in args.modes}
        row = figures[n_rows]
        print(f"\nN = {n_rows:,}")
        if "engine" in row:
            engine = row["engine"]
            print(f"  engine : {engine['wall_s']:8.1f} s  peak RSS {engine['peak_rss_mb']:7.0f} MB"
                  f"  images {engine['n_images_generated']:,} (bound "
                  f"{engine['n_images_bound']:,}, literal run {engine['n_images_naive']:,})")
            timings = ", ".join(f"{k} {v:.1f} s" for k, v in engine["timings"].items())
            print(f"           {timings}")
        if "limit" in row:
            limit = row["limit"]
            print(f"  limit  : {limit['limit_s']:8.1f} s  (generation {limit['generation_s']:.1f}"
                  f" s + prediction {limit['prediction_s']:.1f} s)  peak RSS "
                  f"{limit['peak_rss_mb']:.0f} MB")
        if "cached" in row:
            cached = row["cached"]
            print(f"  cached : {cached['wall_s']:8.1f} s  peak RSS {cached['peak_rss_mb']:7.0f} MB"
                  f"  cache {cached['cache_bytes'] / 1e9:.2f} GB in "
                  f"{cached['cache_entries']:,} entries")
        if "engine" in row and "limit" in row:
            ratio = row["engine"]["wall_s"] / row["limit"]["limit_s"]
            verdict = "PASS" if ratio <= 1.3 else "FAIL"
            print(f"  time / (generation + prediction) = {ratio:.2f} (target <= 1.3): {verdict}")
        if "engine" in row:
            rss = row["engine"]["peak_rss_mb"]
            verdict = "PASS" if rss < 1536 else "FAIL"
            print(f"  peak RSS {rss:.0f} MB (target < 1536 MB): {verdict}")
            bound_ok = row["engine"]["n_images_generated"] <= row["engine"]["n_images_bound"]
            print(f"  images <= bound: {'PASS' if bound_ok else 'FAIL'}")
    sizes = sorted(figures)
    if len(sizes) > 1 and all("engine" in figures[n] for n in sizes):
        small, large = figures[sizes[0]]["engine"], figures[sizes[-1]]["engine"]
        print(f"\ngrowth from N={sizes[0]:,} to N={sizes[-1]:,} ({sizes[-1] / sizes[0]:.0f}x rows):"
              f" time x{large['wall_s'] / small['wall_s']:.1f}, peak RSS "
              f"x{large['peak_rss_mb'] / small['peak_rss_mb']:.2f} "
              f"({small['peak_rss_mb']:.0f} -> {large['peak_rss_mb']:.0f} MB)")
    if args.json:
        args.json.write_text(json.dumps({str(k): v for k, v in figures.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
