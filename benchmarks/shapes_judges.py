"""Judge the shipped shapes diffusion model with two independent judges.

Generates images from held-out captions with
:func:`sklearn_depict.shapes_diffusion.load_shapes_diffusion` at the given
sampler settings (fixed seeds), then prints, per concept, the false-alarm rate
(concept absent from the caption, the judge reads it) and the miss rate
(present, the judge does not read it) under

* the morphology judge, :func:`sklearn_depict.models.bottleneck.shapes_detector`
  (pixel counts and logistic regressions, the judge of training.json), and
* the CNN judge, :func:`sklearn_depict.datasets.shapes_judge.shapes_cnn_judge`
  (a small convolutional network that learns its own features; three of
  them, with different seeds, their probabilities averaged, and each alone),

both trained on real renders only, next to the scores recorded in
``training.json``. Each judge's accuracy on held-out real renders is printed
too: a judge is only worth its verdict if it is near perfect there.

Run it from the repository root, for instance::

    OMP_NUM_THREADS=1 python benchmarks/shapes_judges.py --n-images 600
    OMP_NUM_THREADS=1 python benchmarks/shapes_judges.py --steps 20 --guidance 3

With 600 images each concept is absent from (and present in) about 300
captions, so a rate near 5% is measured to about ±2.5% (two standard errors).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def rates(found: np.ndarray, truth: np.ndarray, names: list[str]) -> dict:
    """Per-concept false-alarm rate, miss rate and accuracy."""
    out = {}
    for j, name in enumerate(names):
        absent, present = truth[:, j] == 0, truth[:, j] == 1
        out[name] = {
            "false_alarm": round(float(found[absent, j].mean()), 4),
            "miss": round(float(1 - found[present, j].mean()), 4),
            "accuracy": round(float((found[:, j] == truth[:, j]).mean()), 4),
        }
    return out


def read(judges: list, images: np.ndarray) -> np.ndarray:
    """0/1 concept table: the judges' probabilities, averaged, above one half."""
    proba = np.mean(
        [np.column_stack([p[:, 1] for p in judge.predict_proba(images)]) for judge in judges],
        axis=0,
    )
    return (proba > 0.5).astype(int)


def build_judges(judge_train: int = 3000, cnn_seeds: int = 3, augment: bool = True) -> dict:
    """The judges, by label: the morphology judge, the averaged CNN judges, and each CNN.

    The CNN's verdict on an image that is slightly off a render depends on
    its own random initialisation, so several are trained; each is reported,
    and so is their averaged probability (the "cnn" judge).
    """
    from sklearn_depict.datasets.shapes_judge import shapes_cnn_judge
    from sklearn_depict.models.bottleneck import shapes_detector

    cnns = [
        shapes_cnn_judge(judge_train, random_state=seed, augment=augment)
        for seed in range(cnn_seeds)
    ]
    judges = {"morphology": [shapes_detector()], "cnn": cnns}
    judges.update({f"cnn seed {seed}": [cnn] for seed, cnn in enumerate(cnns)})
    return judges


def verdict(members: list, images: np.ndarray, truth: np.ndarray, names: list[str]) -> dict:
    """One judge's per-concept rates on ``images``, its worst rate and its accuracy."""
    found = read(members, images)
    per = rates(found, truth, names)
    return {
        "per_concept": per,
        "worst_rate": max(max(r["false_alarm"], r["miss"]) for r in per.values()),
        "mean_accuracy": round(float((found == truth).mean()), 4),
        "all_six": round(float((found == truth).all(axis=1).mean()), 4),
    }


def generate(args, captions: list[str]) -> tuple[np.ndarray, float]:
    """Images of the shipped model at the chosen sampler settings, cached on disk."""
    cache = None
    if args.cache_dir:
        key = (f"{args.variant}-{args.scheduler}-{args.steps}-{args.guidance}-{args.n_images}"
               f"-{args.seed}")
        cache = Path(args.cache_dir) / f"shapes_{key}.npz"
        if cache.exists():
            stored = np.load(cache)
            return stored["images"], float(stored["seconds"])
    from sklearn_depict.shapes_diffusion import load_shapes_diffusion

    kwargs = {"num_inference_steps": args.steps, "guidance_scale": args.guidance}
    if args.scheduler:
        kwargs["scheduler"] = args.scheduler
    generator = load_shapes_diffusion(args.variant, **kwargs)
    seeds = (np.arange(len(captions)) + 1000 * args.seed).tolist()
    started = time.perf_counter()
    images = generator.generate(captions, seeds)
    seconds = time.perf_counter() - started
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, images=images, seconds=seconds)
    return images, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=600)
    parser.add_argument("--steps", type=int, default=None, help="default: the shipped one")
    parser.add_argument("--guidance", type=float, default=None, help="default: the shipped one")
    parser.add_argument(
        "--scheduler",
        default=None,
        help="a diffusers scheduler class name; default: the shipped one (DPM-Solver++)",
    )
    parser.add_argument("--variant", default="teacher", choices=["teacher", "distilled"],
                        help="the shipped model to judge (default: the teacher, whose figures "
                             "training.json records)")
    parser.add_argument("--seed", type=int, default=777, help="seeds the held-out captions")
    parser.add_argument("--judge-train", type=int, default=3000, help="renders for the CNN judge")
    parser.add_argument("--cnn-seeds", type=int, default=3, help="CNN judges to train")
    parser.add_argument(
        "--no-augment", action="store_true", help="train the CNN judges on unperturbed renders"
    )
    parser.add_argument("--cache-dir", default=None, help="keep generated images here")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from sklearn_depict import make_shapes_dataset
    from sklearn_depict.shapes_diffusion import VARIANTS, training_report

    settings = VARIANTS[args.variant]
    args.steps = settings["num_inference_steps"] if args.steps is None else args.steps
    args.guidance = settings["guidance_scale"] if args.guidance is None else args.guidance
    # Training used make_shapes_dataset(random_state=0); other seeds give
    # captions the model has not been fitted on (most of the 64 combinations
    # recur, as they must in a six-concept domain).
    data = make_shapes_dataset(args.n_images, random_state=args.seed)
    truth = data.concept_table.to_numpy()
    names = list(data.concept_names)
    images, seconds = generate(args, data.captions)

    judges = build_judges(args.judge_train, args.cnn_seeds, not args.no_augment)
    real = make_shapes_dataset(2000, random_state=args.seed + 1)
    real_truth = real.concept_table.to_numpy()
    results = {
        "sampling": {
            "scheduler": args.scheduler or "DPMSolverMultistepScheduler (shipped)",
            "num_inference_steps": args.steps,
            "guidance_scale": args.guidance,
        },
        "n_images": args.n_images,
        "images_per_second": round(args.n_images / seconds, 2),
        "judges": {},
    }
    for label, members in judges.items():
        on_real = read(members, real.images)
        results["judges"][label] = {
            "accuracy_on_real_renders": round(float((on_real == real_truth).mean()), 4),
            **verdict(members, images, truth, names),
        }

    print(
        f"{args.n_images} images from held-out captions (seed {args.seed}), "
        f"{args.steps} steps, guidance {args.guidance}, "
        f"scheduler {results['sampling']['scheduler']}, "
        f"{results['images_per_second']} images/s"
    )
    for label, r in results["judges"].items():
        if label.startswith("cnn seed"):
            print(f"\n{label}: worst rate {r['worst_rate']}, mean accuracy {r['mean_accuracy']}")
            continue
        print(
            f"\n{label} judge: accuracy on 2000 real renders {r['accuracy_on_real_renders']}, "
            f"mean accuracy {r['mean_accuracy']}, all six right {r['all_six']}, "
            f"worst rate {r['worst_rate']}"
        )
        print(f"  {'concept':<14}{'false alarm':>12}{'miss':>8}{'accuracy':>10}")
        for name, c in r["per_concept"].items():
            print(f"  {name:<14}{c['false_alarm']:>12.3f}{c['miss']:>8.3f}{c['accuracy']:>10.3f}")
    shipped = training_report()["final_metrics"]
    print(
        "\ntraining.json final_metrics (morphology judge, 1000 images): "
        f"mean {shipped['mean']}, min {shipped['min']}, all six {shipped['all_six']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
