"""Benchmark DiffusersGenerator on a tiny random-weight Stable Diffusion pipeline.

Runs offline on the CPU: the pipeline is built in code, saved to a temporary
folder and loaded back through ``DiffusersGenerator(path, local_files_only=True)``.

Measures, at 32 px and 4 denoising steps:

* the time per image when images are generated one at a time, and with
  ``batch_size=8`` (medians over a few rounds);
* end-to-end ``depict_importance`` time, split into generation, prediction and
  overhead (everything else: planning, scoring, chunking, bookkeeping), and
  whether the overhead stays within 10% of the total.

Usage::

    python benchmarks/bench_diffusers.py [--rounds 5] [--rows 32] [--concepts 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (medians)")
    parser.add_argument("--images", type=int, default=16, help="images per timing round")
    parser.add_argument("--rows", type=int, default=32, help="rows of the concept table")
    parser.add_argument("--concepts", type=int, default=4, help="binary concepts")
    parser.add_argument("--repeats", type=int, default=5, help="n_repeats")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    start = time.perf_counter()
    import diffusers
    import numpy as np
    import pandas as pd
    import torch
    import transformers
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_depict import CaptionToImage, depict_importance
    from sklearn_depict.generators.diffusers import DiffusersGenerator, make_tiny_pipeline

    torch.set_num_threads(args.threads)
    import_s = time.perf_counter() - start

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    folder = tempfile.mkdtemp(prefix="tiny-sd-")
    make_tiny_pipeline(seed=0).save_pretrained(folder)

    def generator(batch_size: int) -> DiffusersGenerator:
        return DiffusersGenerator(
            folder, num_inference_steps=args.steps, batch_size=batch_size, local_files_only=True
        )

    start = time.perf_counter()
    generator(8).generate(["warm up"], [0])  # loads the pipeline (kept in the process)
    load_s = time.perf_counter() - start

    words = ["red", "green", "blue", "circle", "square", "triangle", "dog", "cat"]
    captions = [f"a {words[i % 8]} {words[(3 * i + 1) % 8]}" for i in range(args.images)]
    seeds = list(range(args.images))

    def per_image(batch_size: int) -> float:
        gen = generator(batch_size)
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            if batch_size == 1:
                for caption, seed in zip(captions, seeds):
                    gen.generate([caption], [seed])
            else:
                gen.generate(captions, seeds)
            times.append((time.perf_counter() - start) / len(captions))
        return statistics.median(times)

    single = per_image(1)
    batched = per_image(8)

    # A tiny explanation task: binary concepts, a classifier on raw pixels.
    rng = np.random.RandomState(0)
    names = [f"{words[j % 3]} {words[3 + j % 5]}" for j in range(args.concepts)]
    table = pd.DataFrame(rng.randint(0, 2, (args.rows, args.concepts)), columns=names)
    y = table[names[0]].to_numpy()
    train = pd.DataFrame(rng.randint(0, 2, (2 * args.rows, args.concepts)), columns=names)
    train.index += 10_000  # other rows, so other noise seeds
    clf = make_pipeline(
        FunctionTransformer(lambda images: images.reshape(len(images), -1)),
        LogisticRegression(max_iter=2000),
    ).fit(CaptionToImage(generator(8)).transform(train), train[names[0]].to_numpy())

    runs = []
    for _ in range(max(1, min(args.rounds, 3))):
        start = time.perf_counter()
        result = depict_importance(
            clf, table, y, generator=generator(8), n_repeats=args.repeats, random_state=0
        )
        total = time.perf_counter() - start
        runs.append((total, result))
    total, result = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    timings = result.timings
    overhead = total - timings["generation"] - timings["prediction"]

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    print(f"import torch/diffusers/transformers: {import_s:.2f} s; first load: {load_s:.2f} s")
    print(f"tiny pipeline, 32 px, {args.steps} steps, medians over {args.rounds} rounds:")
    print(f"  one image at a time : {1e3 * single:7.1f} ms/image")
    print(f"  batch_size=8        : {1e3 * batched:7.1f} ms/image ({single / batched:.1f}x faster)")
    print(
        f"depict_importance: {args.rows} rows, {args.concepts} binary concepts, "
        f"n_repeats={args.repeats} (median of {len(runs)} runs)"
    )
    print(
        f"  images: {result.n_images_generated} generated "
        f"(bound {result.n_images_bound}, naive {result.n_images_naive})"
    )
    print(f"  total      : {total:7.3f} s")
    for name in ("generation", "prediction"):
        print(f"  {name:<11}: {timings[name]:7.3f} s ({100 * timings[name] / total:5.1f}%)")
    print(
        f"  overhead   : {overhead:7.3f} s ({100 * overhead / total:5.1f}%; planning "
        f"{timings['planning']:.3f} s, scoring {timings['scoring']:.3f} s)"
    )
    verdict = "yes" if overhead <= 0.10 * total else "NO"
    print(f"  overhead <= 10% of total: {verdict}")
    ranking = np.argsort(-result.importances_mean)
    names_and_scores = [
        f"{result.concept_names[i]} ({result.importances_mean[i]:+.3f})" for i in ranking
    ]
    print("  ranking: " + ", ".join(names_and_scores))


if __name__ == "__main__":
    main()
