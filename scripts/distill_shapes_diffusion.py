"""Distil the shipped shapes diffusion model into a few-step student.

Two phases, both resumable, in ``--workdir``:

``pairs``
    The teacher (``sklearn_depict/shapes_diffusion/weights`` at its default,
    DPM-Solver++ with 10 steps and guidance 5) samples training captions of
    ``make_shapes_dataset(random_state=--pair-seed)`` from seeds
    ``5_000_000 + i``; each shard of ``--shard`` pairs (starting noise and
    final sample, :func:`~sklearn_depict.text_to_image.distillation.teacher_pairs`)
    is saved as it is done, until ``--n-pairs`` or ``--pairs-minutes``.
    Neither the captions nor the seeds are those the student is judged on
    (``benchmarks/few_step.py``: ``random_state=777``, seeds ``777_000 + i``).
``train``
    :func:`~sklearn_depict.text_to_image.distillation.fit_distilled` trains a
    copy of the teacher at guidance 1 on every shard, in chunks of
    ``--eval-every`` steps. After each chunk the averaged weights sample the
    first ``--eval-images`` held-out captions of few_step.py at each of
    ``--student-steps`` steps, guidance 1, and the morphology judge and the
    CNN judge of ``benchmarks/shapes_judges.py`` read them; the best chunk (the
    lowest worst rate, at its best number of steps) is copied to
    ``--weights``. The history goes to ``--workdir/history.json``.

``record``
    Writes the run, with the final figures of ``benchmarks/few_step.py``
    (``--few-step-json``: its rows for ``--variant distilled``; ``--speeds``:
    the images per second it timed in turns, the teacher's default first),
    under ``"distilled"`` in ``sklearn_depict/shapes_diffusion/training.json``.

Run it from the repository root. The student of ``training.json`` was made
by these commands: 13,824 pairs in 16 minutes; 1,600 steps on the straight
lines alone; then on-policy batches half of the time, resumed from there::

    OMP_NUM_THREADS=1 python scripts/distill_shapes_diffusion.py pairs --pairs-minutes 16
    OMP_NUM_THREADS=1 python scripts/distill_shapes_diffusion.py train --max-steps 1600 \\
        --learning-rate 3e-4 --eval-every 800 --cnn-seeds 1 --target 0.02
    OMP_NUM_THREADS=1 python scripts/distill_shapes_diffusion.py train --max-minutes 45 \\
        --learning-rate 3e-4 --eval-every 800 --cnn-seeds 1 --target 0.02 \\
        --on-policy-fraction 0.5
    python benchmarks/few_step.py --model shapes --variant distilled --steps 2 3 4 5 6 \\
        --guidance 1 --json /tmp/distilled.json
    python benchmarks/few_step.py --model shapes --variant distilled --steps 3 4 5 6 \\
        --guidance 1 --timing-rounds 12
    python scripts/distill_shapes_diffusion.py record --few-step-json /tmp/distilled.json \\
        --speeds TEACHER S3 S4 S5 S6 --timed-steps 3 4 5 6 --pairs-minutes 16.2 \\
        --on-policy-fraction 0.5 --note "steps 0-1600 without on-policy batches"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / "sklearn_depict" / "shapes_diffusion" / "weights"
PAIR_SEEDS = 5_000_000


def make_pairs(args) -> None:
    """Teacher pairs, shard by shard, until enough of them or the time is up."""
    import torch

    from sklearn_depict import make_shapes_dataset
    from sklearn_depict.text_to_image import PixelDiffusionPipeline
    from sklearn_depict.text_to_image.distillation import teacher_pairs

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    captions = list(make_shapes_dataset(args.n_pairs, random_state=args.pair_seed).captions)
    teacher = PixelDiffusionPipeline.from_pretrained(str(TEACHER))
    started = time.time()
    for start in range(0, args.n_pairs, args.shard):
        path = workdir / f"pairs_{start // args.shard:04d}.pt"
        if path.exists():
            continue
        if (time.time() - started) / 60 >= args.pairs_minutes:
            break
        stop = min(start + args.shard, args.n_pairs)
        pairs = teacher_pairs(
            teacher, captions[start:stop], range(PAIR_SEEDS + start, PAIR_SEEDS + stop)
        )
        torch.save(pairs, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)  # never half a shard
        print(f"{stop} pairs, {(time.time() - started) / 60:.1f} min", flush=True)


def load_pairs(workdir: Path) -> dict:
    import torch

    shards = [torch.load(p, weights_only=True) for p in sorted(workdir.glob("pairs_*.pt"))]
    if not shards:
        sys.exit(f"no pairs in {workdir}: run the 'pairs' phase first.")
    return {
        "noise": torch.cat([s["noise"] for s in shards]),
        "target": torch.cat([s["target"] for s in shards]),
        "captions": [c for s in shards for c in s["captions"]],
    }


def held_out(n_images: int):
    """few_step.py's held-out shapes captions, seeds and concept table."""
    from sklearn_depict import make_shapes_dataset

    data = make_shapes_dataset(600, random_state=777)
    seeds = (np.arange(600) + 1000 * 777).tolist()
    return (
        list(data.captions)[:n_images],
        seeds[:n_images],
        data.concept_table.to_numpy()[:n_images],
        list(data.concept_names),
    )


def evaluate(folder: Path, judges: dict, student_steps: list[int], n_images: int) -> dict:
    """Worst false-alarm or miss rate under each judge, per number of steps, at guidance 1."""
    from shapes_judges import verdict

    from sklearn_depict.generators.diffusers import DiffusersGenerator, clear_pipeline_cache

    captions, seeds, truth, names = held_out(n_images)
    clear_pipeline_cache()  # the folder's weights change between chunks
    scores: dict = {"per_steps": {}}
    for steps in student_steps:
        gen = DiffusersGenerator(
            str(folder), local_files_only=True, scheduler="DPMSolverMultistepScheduler",
            num_inference_steps=steps, guidance_scale=1.0, batch_size=64,
        )  # fmt: skip
        images = gen.generate(captions, seeds)
        worst = {
            label: verdict(judges[label], images, truth, names)["worst_rate"]
            for label in ("morphology", "cnn")
        }
        scores["per_steps"][str(steps)] = worst
    best = min(scores["per_steps"].items(), key=lambda kv: (max(kv[1].values()), int(kv[0])))
    scores["best_steps"] = int(best[0])
    scores["worst_rate"] = max(best[1].values())
    scores["score"] = -scores["worst_rate"]
    return scores


def train(args) -> None:
    from shapes_judges import build_judges

    from sklearn_depict.text_to_image import PixelDiffusionPipeline
    from sklearn_depict.text_to_image.distillation import fit_distilled
    from sklearn_depict.text_to_image.recipe import train_in_chunks

    workdir = Path(args.workdir)
    pairs = load_pairs(workdir)
    print(f"{len(pairs['captions'])} pairs", flush=True)
    judges = build_judges(args.judge_train, args.cnn_seeds)
    student_dir = workdir / "student"

    def train_to(step: int) -> None:
        student = PixelDiffusionPipeline.from_pretrained(str(TEACHER))
        fit_distilled(
            student, pairs, output_dir=student_dir, max_train_steps=step,
            student_steps=args.student_steps, batch_size=args.batch_size,
            learning_rate=args.learning_rate, ema_decay=args.ema_decay, seed=args.seed,
            on_policy_fraction=args.on_policy_fraction, verbose=1,
        )  # fmt: skip

    train_in_chunks(
        train_to,
        lambda folder: evaluate(folder, judges, args.student_steps, args.eval_images),
        workdir=student_dir, weights=Path(args.weights), score_key="score",
        max_steps=args.max_steps, eval_every=args.eval_every, max_minutes=args.max_minutes,
        target_met=lambda scores, step: scores["worst_rate"] <= args.target,
    )  # fmt: skip


def record(args) -> None:
    """The run and its final figures, under "distilled" in training.json."""
    student_dir = Path(args.workdir) / "student"
    history = json.loads((student_dir / "history.json").read_text())
    best = max(history, key=lambda h: h["eval"]["score"])
    rows = [r for r in json.loads(Path(args.few_step_json).read_text()) if r.get("variant")]
    teacher_speed, *speeds = args.speeds
    by_steps = dict(zip(args.timed_steps, speeds))
    final = []
    for row in rows:
        steps = row["num_inference_steps"]
        final.append(
            {
                "scheduler": row["scheduler"],
                "num_inference_steps": steps,
                "guidance_scale": row["guidance_scale"],
                "unet_passes_per_image": steps,
                "worst_rate": {k: v["worst_rate"] for k, v in row["judges"].items()},
                "per_concept": {k: v["per_concept"] for k, v in row["judges"].items()},
                "images_per_second_in_turns": by_steps.get(steps),
                "speedup_vs_teacher_default": (
                    round(by_steps[steps] / teacher_speed, 2) if steps in by_steps else None
                ),
            }
        )
    n_pairs = len(list(Path(args.workdir).glob("pairs_*.pt"))) * args.shard
    path = ROOT / "sklearn_depict" / "shapes_diffusion" / "training.json"
    report = json.loads(path.read_text())
    report["distilled"] = {
        "method": "reflow (trajectory) distillation, "
        "sklearn_depict.text_to_image.distillation.fit_distilled",
        "teacher": "weights: DPMSolverMultistepScheduler (dpmsolver++), 10 steps, guidance 5",
        "pairs": {
            "n_pairs": n_pairs,
            "captions": f"make_shapes_dataset(random_state={args.pair_seed})",
            "seeds": f"{PAIR_SEEDS} + i",
            "wall_minutes": args.pairs_minutes,
        },
        "settings": {
            "student_steps": args.student_steps,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "ema_decay": args.ema_decay,
            "on_policy_fraction": args.on_policy_fraction,
            "uniform_fraction": 0.25,
            "guidance_scale": 1.0,
            "train_text_encoder": True,
            "seed": args.seed,
            "torch_threads": 1,
            "eval_every": args.eval_every,
            "eval_images": args.eval_images,
            "eval_judges": "morphology judge and one CNN judge (benchmarks/shapes_judges.py)",
        },
        "note": args.note,
        "train_steps": best["step"],
        "train_wall_minutes": round(
            sum(h["seconds"] for h in history if h["step"] <= best["step"]) / 60, 1
        ),
        "history": history,
        "final": {
            "measured_by": "benchmarks/few_step.py --variant distilled (600 held-out images, "
            "both judges, the CNN judge averaged over 3 seeds); images per second timed in "
            "turns with the teacher's default (--timing-rounds), one torch thread",
            "teacher_default_images_per_second_in_turns": teacher_speed,
            "rows": final,
        },
    }
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["distilled"]["final"]["rows"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("phase", choices=["pairs", "train", "record"])
    parser.add_argument("--workdir", default="/tmp/shapes_distill")
    parser.add_argument("--n-pairs", type=int, default=16_384)
    parser.add_argument("--shard", type=int, default=512)
    parser.add_argument("--pair-seed", type=int, default=2026)
    parser.add_argument("--pairs-minutes", type=float, default=15.0)
    parser.add_argument("--student-steps", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--on-policy-fraction", type=float, default=0.0)
    parser.add_argument("--max-steps", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--eval-images", type=int, default=300)
    parser.add_argument("--max-minutes", type=float, default=45.0)
    parser.add_argument("--target", type=float, default=0.03, help="stop below this worst rate")
    parser.add_argument("--judge-train", type=int, default=3000)
    parser.add_argument("--cnn-seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--weights", default=str(ROOT / "sklearn_depict" / "shapes_diffusion" / "weights_distilled")
    )
    parser.add_argument("--few-step-json", help="record: few_step.py's rows of the student")
    parser.add_argument(
        "--speeds",
        type=float,
        nargs="+",
        help="record: images/s timed in turns, the teacher default then each --timed-steps",
    )
    parser.add_argument("--timed-steps", type=int, nargs="+", help="record: steps of --speeds")
    parser.add_argument("--note", default=None, help="record: what else to know of the run")
    args = parser.parse_args()
    if args.phase == "record":
        record(args)
        return
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT / "benchmarks"))  # shapes_judges.py
    make_pairs(args) if args.phase == "pairs" else train(args)


if __name__ == "__main__":
    main()
