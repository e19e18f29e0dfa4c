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
    python benchmarks/few_step.py --model shapes --variant distilled --steps 2 3 4 \\
        --guidance 1 --schedulers dpm ddim --json /tmp/few_step.json
    python benchmarks/few_step.py --model shapes --variant distilled --steps 2 3 4 \\
        --guidance 1 --timing-rounds 15
    python benchmarks/few_step.py --table /tmp/few_step.json --record

``--variant`` picks the shipped shapes model (the teacher, the default here
so that the recorded figures reproduce, or its distilled student); timed
with ``--timing-rounds``, the student's settings are timed in turns with the
teacher's default (DPM-Solver++, 10 steps, guidance 5), the reference of the
speed-ups. ``--table`` prints the rows of earlier runs as the rst table of
``docs/cost.rst``; with ``--record`` it also writes them under ``few_step`` in
each model's ``training.json``.

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
from functools import partial
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
PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_depict"


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


def interleaved_speed(generators: list, captions: list[str], seeds: list[int], rounds: int):
    """Images per second of each generator, timed in turns on the same batch.

    Each round times one batch of 64 per generator, in turn, so that a burst
    of other work on a shared machine slows every setting alike; the median
    over rounds is kept.
    """
    batch, batch_seeds = captions[:BATCH], seeds[:BATCH]
    times: list[list[float]] = [[] for _ in generators]
    for generator in generators:
        generator.generate(batch[:1], batch_seeds[:1])  # loads the pipeline outside the timing
    for _ in range(rounds):
        for k, generator in enumerate(generators):
            began = time.perf_counter()
            generator.generate(batch, batch_seeds)
            times[k].append(time.perf_counter() - began)
    return [round(len(batch) / statistics.median(t), 2) for t in times]


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
    return partial(load_shapes_diffusion, args.variant), list(data.captions), seeds, judge


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


def unet_passes(row: dict) -> int:
    """UNet evaluations per image: one per step, two above guidance 1 (the unconditional pass)."""
    return row["num_inference_steps"] * (2 if row["guidance_scale"] > 1 else 1)


def _scheduler_label(row: dict) -> str:
    """The scheduler, prefixed by the shapes variant when it is not the teacher."""
    variant = row.get("variant", "teacher")
    return row["scheduler"] if variant == "teacher" else f"{variant}: {row['scheduler']}"


def rst_table(rows: list[dict]) -> str:
    """The rows of both models side by side, as an rst list-table, fastest setting first."""
    settings: dict[tuple, dict] = {}
    for row in rows:
        key = (_scheduler_label(row), row["num_inference_steps"], row["guidance_scale"])
        settings.setdefault(key, {})[row["model"]] = row  # a later run of a setting wins
    header = [
        "scheduler, steps, guidance",
        "UNet passes per image",
        "shapes: images/s",
        "shapes: worst rate, morphology / CNN",
        "digits: images/s",
        "digits: digit / thick / slanted",
    ]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for k, cell in enumerate(header):
        lines.append(f"   {'* -' if k == 0 else '  -'} {cell}")
    known = list(SCHEDULERS.values())

    def place(key):  # the schedulers in SCHEDULERS' order, then the costliest first
        first = known.index(key[0]) if key[0] in known else len(known) + (":" in key[0])
        return (first, key[0], -unet_passes(next(iter(settings[key].values()))), -key[1])

    order = sorted(settings, key=place)
    for key in order:
        by_model = settings[key]
        shapes, digits = by_model.get("shapes"), by_model.get("digits")
        cells = [
            f"{key[0].replace('Scheduler', '')}, {key[1]}, {key[2]:g}",
            str(unet_passes(next(iter(by_model.values())))),
            f"{shapes['images_per_second']:.1f}" if shapes else "",
            (
                f"{shapes['judges']['morphology']['worst_rate']:.3f} / "
                f"{shapes['judges']['cnn']['worst_rate']:.3f}"
                if shapes
                else ""
            ),
            f"{digits['images_per_second']:.1f}" if digits else "",
            " / ".join(f"{v:.3f}" for v in digits["per_concept"].values()) if digits else "",
        ]
        for k, cell in enumerate(cells):
            lines.append(f"   {'* -' if k == 0 else '  -'} {cell}".rstrip())
    return "\n".join(lines)


def record(rows: list[dict]) -> None:
    """Write each model's rows, compacted, under "few_step" in its ``training.json``."""
    for model in sorted({row["model"] for row in rows}):
        path = PACKAGE / f"{model}_diffusion" / "training.json"
        report = json.loads(path.read_text())
        kept = {}
        for row in rows:
            if row["model"] != model:
                continue
            entry = {
                **(
                    {"variant": row["variant"]}
                    if row.get("variant", "teacher") != "teacher"
                    else {}
                ),
                "scheduler": row["scheduler"],
                "num_inference_steps": row["num_inference_steps"],
                "guidance_scale": row["guidance_scale"],
                "unet_passes_per_image": unet_passes(row),
                "images_per_second": row["images_per_second"],
            }
            if model == "shapes":
                entry["worst_rate"] = {
                    label: judge["worst_rate"] for label, judge in row["judges"].items()
                }
            else:
                entry["per_concept"] = row["per_concept"]
                entry["all_concepts"] = row["all_concepts"]
            kept[(_scheduler_label(row), entry["num_inference_steps"], entry["guidance_scale"])] = (
                entry
            )
        report["few_step"] = {
            "date": max(row["date"] for row in rows if row["model"] == model),
            "measured_by": "benchmarks/few_step.py (one torch thread, a shared 2-core CPU)",
            "n_images": next(row["n_images"] for row in rows if row["model"] == model),
            "rows": sorted(
                kept.values(),
                key=lambda e: (_scheduler_label(e), -e["unet_passes_per_image"]),
            ),
        }
        path.write_text(json.dumps(report, indent=1) + "\n")


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
        "--variant",
        choices=["teacher", "distilled"],
        default="teacher",
        help="the shipped shapes model to measure (the recorded figures are the teacher's)",
    )
    parser.add_argument(
        "--n-images", type=int, default=None, help="default: 600 shapes, the 450 held-out digits"
    )
    parser.add_argument("--judge-train", type=int, default=3000, help="renders per CNN judge")
    parser.add_argument("--cnn-seeds", type=int, default=3, help="CNN judges to average")
    parser.add_argument("--json", default=None, help="append each row to this JSON file")
    parser.add_argument(
        "--table", nargs="+", metavar="JSON", help="only print these files' rows as an rst table"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="with --table: also write the rows into each model's training.json",
    )
    parser.add_argument(
        "--timing-rounds",
        type=int,
        default=0,
        help="only time the settings, in turns, over this many rounds (no judging); the first "
        "setting is the reference of the speed-ups",
    )
    args = parser.parse_args()
    if args.table:
        rows = [row for path in args.table for row in json.loads(Path(path).read_text())]
        print(rst_table(rows))
        if args.record:
            record(rows)
        return

    import torch

    torch.set_num_threads(1)
    rows = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else []
    models = ["shapes", "digits"] if args.model == "both" else [args.model]
    settings = [
        (SCHEDULERS.get(scheduler, scheduler), steps, guidance)
        for scheduler in args.schedulers
        for guidance in args.guidance
        for steps in args.steps
    ]
    if args.timing_rounds:
        args.judge_train, args.cnn_seeds = 10, 0  # no judging: skip training the CNNs
    for model in models:
        load, captions, seeds, judge = (shapes_task if model == "shapes" else digits_task)(args)
        if args.timing_rounds:
            timed = list(settings)
            generators = [
                load(scheduler=s, num_inference_steps=n, guidance_scale=g) for s, n, g in timed
            ]
            if model == "shapes" and args.variant != "teacher":
                # the reference of the speed-ups: the teacher at its own default
                from sklearn_depict.shapes_diffusion import load_shapes_diffusion

                generators.insert(0, load_shapes_diffusion("teacher"))
                timed.insert(0, ("teacher default", 10, 5.0))
            speeds = interleaved_speed(generators, captions, seeds, args.timing_rounds)
            for (scheduler, steps, guidance), speed in zip(timed, speeds):
                print(
                    f"{model:<7}{scheduler:<30}{steps:>3} steps  guidance {guidance:<4}"
                    f"{speed:>8.2f} images/s  {speed / speeds[0]:.2f}x",
                    flush=True,
                )
            continue
        for scheduler, steps, guidance in settings:
            generator = load(
                scheduler=scheduler, num_inference_steps=steps, guidance_scale=guidance
            )
            images, per_second = timed_generate(generator, captions, seeds)
            row = {
                "model": model,
                **({"variant": args.variant} if model == "shapes" else {}),
                "scheduler": scheduler,
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
                f"{model:<7}{scheduler:<30}{steps:>3} steps  guidance {guidance:<4}"
                f"{per_second:>8.2f} images/s  {summary}",
                flush=True,
            )
            rows.append(row)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
