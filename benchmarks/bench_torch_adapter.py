"""Benchmark: ``TorchImageClassifier`` against the glue a user writes by hand.

What it measures
----------------
The adapter does per call what a hand-written wrapper does (channels first,
resize, normalise, batches, ``eval()``, ``inference_mode()``, softmax) plus
checks of the images (shape, range, channels). This script times both on the
same network and images, and reports the medians over ``--rounds`` rounds
(alternating which arm goes first, as the machine may be shared), their
ratio, and the largest difference between their probabilities.

Arms, each at ``--batch-size`` images per forward pass:

* a small CNN on 32 px images (no resize);
* the same CNN with a resize to 64 px (``input_size=64``; the hand-written
  arm calls ``F.interpolate(..., antialias=True)`` itself);
* a tiny Hugging Face ViT built from a config (no hub), if transformers is
  installed;
* with CUDA: the CNN on the GPU in float32, and the adapter with
  ``dtype="float16"`` autocast against the float32 hand-written arm.

How to run
----------
From the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_torch_adapter.py
    .venv/bin/python benchmarks/bench_torch_adapter.py --n-images 500 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sklearn_depict import TorchImageClassifier, make_shapes_dataset


def hand_written(net: Any, size: int | None, device: str, batch_size: int) -> Callable:
    """The wrapper a user writes without the adapter."""

    def predict_proba(images: np.ndarray) -> np.ndarray:
        net.eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = np.ascontiguousarray(images[start : start + batch_size])
                x = torch.from_numpy(chunk).to(device).permute(0, 3, 1, 2)
                if size is not None:
                    x = F.interpolate(x, size=(size, size), mode="bilinear",
                                      align_corners=False, antialias=True)
                x = (x - 0.5) / 0.5
                output = net(x)
                out.append(getattr(output, "logits", output).double().cpu().numpy())
        logits = np.concatenate(out)
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    return predict_proba


def cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 2),
    )  # fmt: skip


def tiny_vit() -> torch.nn.Module | None:
    try:
        from transformers import ViTConfig, ViTForImageClassification
    except ImportError:
        return None
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=4,
                       num_attention_heads=4, intermediate_size=128, num_labels=2)
    return ViTForImageClassification(config).eval()


def time_arms(arms: dict[str, Callable], images: np.ndarray, rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {name: [] for name in arms}
    outputs: dict[str, np.ndarray] = {}
    names = list(arms)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            outputs[name] = arms[name](images)
            times[name].append(time.perf_counter() - start)
    return {"medians": {n: statistics.median(t) for n, t in times.items()}, "outputs": outputs}


def report(title: str, n: int, timed: dict[str, Any]) -> None:
    (hand, adapter) = timed["medians"].values()
    (out_hand, out_adapter) = timed["outputs"].values()
    print(f"{title:<42} hand {hand * 1e3:8.1f} ms  adapter {adapter * 1e3:8.1f} ms  "
          f"ratio {adapter / hand:5.2f}  {n / adapter:9.0f} img/s  "
          f"max |dp| {np.abs(out_adapter - out_hand).max():.1e}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--n-images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    images = make_shapes_dataset(args.n_images, random_state=0).images
    print(f"bench_torch_adapter: {args.n_images} shapes images of 32 px, batch_size="
          f"{args.batch_size}, medians of {args.rounds} rounds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    kw = {"classes": [0, 1], "mean": 0.5, "std": 0.5, "batch_size": args.batch_size}
    net = cnn()
    cases = [
        ("CNN, CPU, 32 px", net, None, "cpu", {}),
        ("CNN, CPU, resized to 64 px", net, 64, "cpu", {"input_size": 64}),
    ]
    vit = tiny_vit()
    if vit is not None:
        cases.append(("tiny ViT (4 layers, width 64), CPU", vit, None, "cpu", {}))
    if torch.cuda.is_available():
        gpu_net = cnn().to("cuda")
        cases += [
            ("CNN, CUDA float32", gpu_net, None, "cuda", {}),
            ("CNN, CUDA, adapter float16 autocast", gpu_net, None, "cuda",
             {"dtype": "float16"}),
        ]
    for title, module, size, device, extra in cases:
        arms = {
            "hand": hand_written(module, size, device, args.batch_size),
            "adapter": TorchImageClassifier(module, **kw, **extra).predict_proba,
        }
        report(title, args.n_images, time_arms(arms, images, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
