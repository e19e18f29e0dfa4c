"""Few-step sampling of the shipped diffusion models: quality against images per second.

For each sampler setting (scheduler × steps × guidance) it generates images
from the same held-out captions with the same seeds, and measures

* **shapes** (:func:`sklearn_depict.shapes_diffusion.load_shapes_diffusion`):
  per concept, the false-alarm and miss rates under both judges of
  ``benchmarks/shapes_judges.py`` (the morphology judge and the averaged CNN
  judges); the worst of the twelve rates is the figure to keep under 5%;
* **digits** (:func:`sklearn_depict.digits_diffusion.load_digits_diffusion`):
  per concept, the share of images in which
  :func:`~sklearn_depict.datasets.digits.digits_detector` finds what the
  caption says, on the held-out captions of ``scripts/train_digits_diffusion.py``
  (the figures of its ``training.json``); the digit reader's share is the
  figure to keep at 0.95 or more;

and the images per second: full batches of 64, timed one by one, with one
torch thread, and the median batch time taken (the machine is shared, so the
median resists other processes' bursts).

Run it from the repository root, one process at a time, for instance::

    python benchmarks/few_step.py --model both --steps 1 2 4 6 10 \\
        --schedulers dpm unipc ddim --json /tmp/few_step.json
    python benchmarks/few_step.py --model shapes --steps 4 --guidance 5 1

The schedulers are built from the shipped scheduler configuration (linspace
timesteps, v-prediction), as ``DiffusersGenerator(scheduler=name)`` builds them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
from shapes_judges import build_judges, verdict

SCHEDULERS = {
    "dpm": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
    "ddim": "DDIMScheduler",
    "euler": "EulerDiscreteScheduler",
    "lcm": "LCMScheduler",
}
BATCH = 64


def timed_generate(generator, captions: list[str], seeds: list[int]) -> tuple[np.ndarray, float]:
    """All the images, and images per second from the median time of a full batch."""
    generator.generate(captions[:1], seeds[:1])  # loads the pipeline outside the timing
    images, times = [], []
    for start in range(0, len(captions), BATCH):
        stop = start + BATCH
        began = time.perf_counter()
        images.append(generator.generate(captions[start:stop], seeds[start:stop]))
        if stop <= len(captions):
            times.append(time.perf_counter() - began)
    return np.concatenate(images), round(BATCH / statistics.median(times), 2)


def shapes_task(args):
    """Held-out shapes captions and seeds (those of shapes_judges.py), and their judge."""
    from sklearn_depict import make_shapes_dataset
    from sklearn_depict.shapes_diffusion import load_shapes_diffusion

    seed = 777
    data = make_shapes_dataset(args.n_images or 600, random_state=seed)
    truth = data.concept_table.to_numpy()
    names = list(data.concept_names)
    judges = build_judges(args.judge_train, args.cnn_seeds)

    def judge(images):
        both = {
            label: verdict(judges[label], images, truth, names) for label in ("morphology", "cnn")
        }
        return {
            "worst_rate": max(v["worst_rate"] for v in both.values()),
            "judges": both,
        }

    seeds = (np.arange(len(truth)) + 1000 * seed).tolist()
    return load_shapes_diffusion, list(data.captions), seeds, judge


def digits_task(args):
    """The held-out digits captions and seeds of train_digits_diffusion.py, and its judge."""
    from sklearn_depict.datasets.digits import digits_detector
    from sklearn_depict.digits_diffusion import IMAGE_SIZE, load_digits_diffusion

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_digits_diffusion.py"
    spec = importlib.util.spec_from_file_location("train_digits_diffusion", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data, _, test = script.split(0, IMAGE_SIZE)
    if args.n_images:
        test = test[: args.n_images]
    captions = [data.captions[i] for i in test]
    concepts = data.concept_table.iloc[test].reset_index(drop=True)
    detector = digits_detector(IMAGE_SIZE)
    seeds = list(range(777 * 10_000, 777 * 10_000 + len(captions)))
    return (
        load_digits_diffusion,
        captions,
        seeds,
        lambda images: script.concept_scores(detector, images, concepts),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["shapes", "digits", "both"], default="both")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 6, 10])
    parser.add_argument(
        "--schedulers",
        nargs="+",
        default=["dpm", "unipc", "ddim"],
        help=f"short names {sorted(SCHEDULERS)} or diffusers scheduler class names",
    )
    parser.add_argument("--guidance", type=float, nargs="+", default=[5.0])
    parser.add_argument(
        "--n-images", type=int, default=None, help="default: 600 shapes, the 450 held-out digits"
    )
    parser.add_argument("--judge-train", type=int, default=3000, help="renders per CNN judge")
    parser.add_argument("--cnn-seeds", type=int, default=3, help="CNN judges to average")
    parser.add_argument("--json", default=None, help="append each row to this JSON file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    rows = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else []
    models = ["shapes", "digits"] if args.model == "both" else [args.model]
    for model in models:
        load, captions, seeds, judge = (shapes_task if model == "shapes" else digits_task)(args)
        for scheduler in args.schedulers:
            for guidance in args.guidance:
                for steps in args.steps:
                    generator = load(
                        scheduler=SCHEDULERS.get(scheduler, scheduler),
                        num_inference_steps=steps,
                        guidance_scale=guidance,
                    )
                    images, per_second = timed_generate(generator, captions, seeds)
                    row = {
                        "model": model,
                        "scheduler": SCHEDULERS.get(scheduler, scheduler),
                        "num_inference_steps": steps,
                        "guidance_scale": guidance,
                        "n_images": len(captions),
                        "images_per_second": per_second,
                        **judge(images),
                        "date": datetime.date.today().isoformat(),
                    }
                    summary = (
                        f"worst rate {row['worst_rate']:.4f}"
                        if model == "shapes"
                        else f"digit {row['per_concept']['digit']:.4f}"
                    )
                    print(
                        f"{model:<7}{row['scheduler']:<30}{steps:>3} steps  guidance {guidance:<4}"
                        f"{per_second:>8.2f} images/s  {summary}",
                        flush=True,
                    )
                    rows.append(row)
                    if args.json:
                        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
