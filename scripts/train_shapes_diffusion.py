"""Train the shipped shapes diffusion model (sklearn_depict/shapes_diffusion/weights).

Trains a pixel-space text-to-image model with ``fit_text_to_image`` on renders
of ``make_shapes_dataset``, in chunks of ``--eval-every`` steps. After each
chunk it generates ``--eval-images`` images from held-out captions with the
averaged weights at the default sampling settings, and scores them with
``shapes_detector`` (trained on real renders) against their captions. The best
weights so far are copied to the package; training stops when the quality
target is met or the time is up. A last evaluation on ``--final-images``
images goes, with the settings, seed and wall time, into
``sklearn_depict/shapes_diffusion/training.json``.

Run in the background, for instance (``--evaluate-only`` re-measures the
shipped weights at the current sampling defaults)::

    nohup python scripts/train_shapes_diffusion.py --max-minutes 75 > /tmp/shapes_t2i.log 2>&1 &

Interrupted runs resume from ``--workdir/checkpoint``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_depict" / "shapes_diffusion"
#: Recorded with every evaluation: which judge produced the figures.
JUDGE = "shapes_detector(): make_shapes_detector (logistic regressions) on 2000 renders"


def sample(pipe, captions, seeds, *, batch_size: int = 64) -> np.ndarray:
    """Images of a pipeline at its default settings, as DiffusersGenerator makes them."""
    import torch

    from sklearn_depict.shapes_diffusion import GUIDANCE_SCALE, NUM_INFERENCE_STEPS

    pipe.set_progress_bar_config(disable=True)
    out = []
    for start in range(0, len(captions), batch_size):
        gens = [
            torch.Generator("cpu").manual_seed(int(s)) for s in seeds[start : start + batch_size]
        ]
        out.append(
            pipe(
                captions[start : start + batch_size],
                generator=gens,
                num_inference_steps=NUM_INFERENCE_STEPS,
                guidance_scale=GUIDANCE_SCALE,
                output_type="np",
            ).images
        )
    return np.concatenate(out)


def concept_accuracy(folder, detector, n_images: int, seed: int = 12345) -> dict:
    """Per-concept accuracy of generated images, judged by ``detector``."""
    from sklearn_depict import make_shapes_dataset
    from sklearn_depict.text_to_image import PixelDiffusionPipeline

    pipe = PixelDiffusionPipeline.from_pretrained(str(folder))
    data = make_shapes_dataset(n_images, random_state=seed)
    seeds = np.arange(n_images) + 10_000 * seed
    started = time.perf_counter()
    images = sample(pipe, data.captions, seeds)
    seconds = time.perf_counter() - started
    proba = detector.predict_proba(images)
    found = np.column_stack([p[:, 1] > 0.5 for p in proba]).astype(int)
    truth = data.concept_table.to_numpy().astype(int)
    right = found == truth
    per_concept = dict(zip(data.concept_names, right.mean(axis=0).round(4).tolist()))
    return {
        "n_images": n_images,
        "detector": JUDGE,
        "per_concept": per_concept,
        "mean": round(float(right.mean()), 4),
        "min": round(float(right.mean(axis=0).min()), 4),
        "all_six": round(float(right.all(axis=1).mean()), 4),
        "images_per_second": round(n_images / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-pairs", type=int, default=40_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--max-steps", type=int, default=40_000)
    parser.add_argument("--max-minutes", type=float, default=75.0)
    parser.add_argument("--eval-every", type=int, default=2500)
    parser.add_argument("--eval-images", type=int, default=300)
    parser.add_argument("--final-images", type=int, default=1000)
    parser.add_argument("--target-mean", type=float, default=0.955)
    parser.add_argument("--target-min", type=float, default=0.91)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/shapes_diffusion_run")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--previous-minutes",
        type=float,
        default=0.0,
        help="training minutes of an earlier run of this workdir that left no history",
    )
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="only re-measure final_metrics of the shipped weights at the current defaults",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from sklearn_depict import make_shapes_dataset
    from sklearn_depict.models.bottleneck import shapes_detector
    from sklearn_depict.shapes_diffusion import GUIDANCE_SCALE, NUM_INFERENCE_STEPS
    from sklearn_depict.text_to_image import fit_text_to_image
    from sklearn_depict.text_to_image.recipe import train_in_chunks

    weights = PACKAGE / "weights"
    report_path = PACKAGE / "training.json"
    if args.evaluate_only:
        report = json.loads(report_path.read_text())
        earlier = {"sampling": report["sampling"], "metrics": report["final_metrics"]}
        report.setdefault("earlier_evaluations", []).append(earlier)
        report["sampling"].update(
            num_inference_steps=NUM_INFERENCE_STEPS, guidance_scale=GUIDANCE_SCALE
        )
        report["final_metrics"] = concept_accuracy(
            weights, shapes_detector(), args.final_images, seed=777
        )
        report_path.write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(report["final_metrics"]), flush=True)
        return
    workdir = Path(args.workdir)
    data = make_shapes_dataset(args.n_pairs, random_state=args.seed)
    detector = shapes_detector()
    started = time.time()
    start_step = 0
    checkpoint = workdir / "checkpoint" / "state.pt"
    if not (workdir / "history.json").exists() and checkpoint.exists():
        # an earlier run stopped before its first evaluation
        start_step = int(torch.load(checkpoint, weights_only=True)["step"]) - args.eval_every

    def train(step: int) -> None:
        try:
            fit_text_to_image(
                data.captions, data.images, output_dir=workdir, max_train_steps=step,
                batch_size=args.batch_size, learning_rate=args.learning_rate, seed=args.seed,
                checkpoint_every=500, device=args.device, verbose=1,
            )  # fmt: skip
        except ImportError as exc:  # the returned generator could not be built
            print(f"fit_text_to_image saved the model but: {exc!r}", flush=True)

    history = train_in_chunks(
        train,
        lambda folder: concept_accuracy(folder, detector, args.eval_images),
        workdir=workdir, weights=weights, score_key="mean", max_steps=args.max_steps,
        eval_every=args.eval_every, max_minutes=args.max_minutes,
        target_met=lambda scores, step: (
            scores["mean"] >= args.target_mean and scores["min"] >= args.target_min
        ),
        previous_minutes=args.previous_minutes, start_step=start_step,
    )  # fmt: skip

    best_entry = max(history, key=lambda h: h["eval"]["mean"])
    final = concept_accuracy(weights, detector, args.final_images, seed=777)
    from sklearn_depict.text_to_image import PixelDiffusionPipeline

    pipe = PixelDiffusionPipeline.from_pretrained(weights)
    n_params = sum(p.numel() for m in (pipe.unet, pipe.text_encoder) for p in m.parameters())
    size = sum(f.stat().st_size for f in weights.rglob("*") if f.is_file())
    report = {
        "model": "PixelDiffusionPipeline (pixel_unshuffle 2, UNet (32, 64, 64), CLIP text 2x64)",
        "settings": {k: v for k, v in vars(args).items() if k not in ("workdir",)},
        "sampling": {
            "scheduler": "DPMSolverMultistepScheduler (dpmsolver++)",
            "num_inference_steps": NUM_INFERENCE_STEPS,
            "guidance_scale": GUIDANCE_SCALE,
        },
        "seed": args.seed,
        "train_steps": best_entry["step"],
        "train_wall_minutes": round(
            args.previous_minutes
            + sum(h["seconds"] for h in history if h["step"] <= best_entry["step"]) / 60,
            1,
        ),
        "torch_threads": args.threads,
        "device": args.device or ("cuda" if torch.cuda.is_available() else "cpu"),
        "parameters": int(n_params),
        "size_bytes": int(size),
        "final_metrics": final,
        "history": history,
        "script_wall_minutes": round((time.time() - started) / 60, 1),
    }
    report_path.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
