"""Pieces of the training recipe shared by full and LoRA fine-tuning.

Mixed precision, the optimiser (8-bit Adam where asked), the Min-SNR weighted
loss and resizing images to the base model's resolution, following diffusers'
``train_text_to_image*.py`` examples; and the loop of the scripts that train
the shipped models (:func:`train_in_chunks`).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "check_8bit_adam",
    "check_mixed_precision",
    "diffusion_loss",
    "make_optimizer",
    "native_resolution",
    "resize_center_crop",
    "train_in_chunks",
]

_PRECISIONS = {None: None, "no": None, "fp16": "float16", "bf16": "bfloat16"}


def check_mixed_precision(mixed_precision: Any, device: Any) -> Any:
    """The torch dtype of frozen weights and autocast, or None for float32.

    fp16 is for CUDA only: CPUs lack fast float16 kernels and the gradient
    scaler that keeps fp16 gradients from underflowing. bf16 works on both.

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict.text_to_image.recipe import check_mixed_precision
    >>> check_mixed_precision("bf16", torch.device("cpu"))
    torch.bfloat16
    >>> check_mixed_precision("no", torch.device("cpu")) is None
    True
    """
    import torch

    if mixed_precision not in _PRECISIONS:
        raise ValueError(
            f"mixed_precision must be None, 'no', 'fp16' or 'bf16', got {mixed_precision!r}."
        )
    name = _PRECISIONS[mixed_precision]
    if name == "float16" and device.type != "cuda":
        raise ValueError(
            f"mixed_precision='fp16' needs a CUDA device, got device={str(device)!r}. "
            "Use mixed_precision='bf16' (slower than float32 on most CPUs) or None."
        )
    return None if name is None else getattr(torch, name)


def check_8bit_adam(use_8bit_adam: bool, device: Any) -> None:
    """Fail before any model is loaded when 8-bit Adam cannot run here."""
    if not use_8bit_adam:
        return
    if device.type != "cuda":
        raise ValueError(
            f"use_8bit_adam=True needs a CUDA device (bitsandbytes), got device={str(device)!r}."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(
            "use_8bit_adam=True needs bitsandbytes, which is not installed. Install it "
            'with: pip install "sklearn-depict[bitsandbytes]" (CUDA machines only).'
        )


def make_optimizer(
    params: list[Any], *, lr: float, weight_decay: float, use_8bit_adam: bool, device: Any
) -> Any:
    """AdamW, or bitsandbytes' 8-bit AdamW (a quarter of Adam's state memory)."""
    import torch

    if not use_8bit_adam:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    check_8bit_adam(use_8bit_adam, device)
    import bitsandbytes as bnb

    return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=weight_decay)


def diffusion_loss(
    pred: Any, target: Any, timesteps: Any, scheduler: Any, snr_gamma: float | None
) -> Any:
    """Mean squared error, Min-SNR weighted when ``snr_gamma`` is given.

    Min-SNR (Hang et al. 2023, section 3.4) weighs each sample by
    ``min(SNR(t), gamma)``, divided by ``SNR(t)`` for epsilon prediction and by
    ``SNR(t) + 1`` for v-prediction, as diffusers' training examples do.
    """
    import torch
    from diffusers.training_utils import compute_snr

    pred, target = pred.float(), target.float()
    if snr_gamma is None:
        return torch.nn.functional.mse_loss(pred, target)
    snr = compute_snr(scheduler, timesteps).float()
    weights = torch.clamp(snr, max=float(snr_gamma))
    if scheduler.config.prediction_type == "v_prediction":
        weights = weights / (snr + 1.0)
    else:
        weights = weights / snr
    per_sample = torch.nn.functional.mse_loss(pred, target, reduction="none")
    per_sample = per_sample.mean(dim=tuple(range(1, per_sample.ndim)))
    return (per_sample * weights).mean()


def native_resolution(pipe: Any) -> int | None:
    """Height and width the base pipeline's UNet was built for, in pixels."""
    size = getattr(pipe.unet.config, "sample_size", None)
    if not isinstance(size, int):
        return None
    if getattr(pipe, "vae", None) is not None:
        return size * int(getattr(pipe, "vae_scale_factor", 8))
    factor = getattr(pipe.config, "downscale_factor", None)
    return None if factor is None else size * int(factor)


def resize_center_crop(images: Any, size: int) -> Any:
    """(n, C, H, W) images to (n, C, size, size): shorter side to size, centre crop.

    As diffusers' examples (``Resize`` then ``CenterCrop``), with antialiasing
    when shrinking.

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict.text_to_image.recipe import resize_center_crop
    >>> resize_center_crop(torch.rand(2, 3, 48, 64), 32).shape
    torch.Size([2, 3, 32, 32])
    """
    import torch

    height, width = images.shape[-2:]
    if height == size and width == size:
        return images
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = torch.nn.functional.interpolate(
        images, size=(new_h, new_w), mode="bilinear", antialias=scale < 1, align_corners=False
    )
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[..., top : top + size, left : left + size].clamp(0.0, 1.0)


def train_in_chunks(
    train: Callable[[int], Any],
    evaluate: Callable[[Path], dict[str, Any]],
    *,
    workdir: str | Path,
    weights: str | Path,
    score_key: str,
    max_steps: int,
    eval_every: int,
    max_minutes: float,
    target_met: Callable[[dict[str, Any], int], bool],
    previous_minutes: float = 0.0,
    start_step: int = 0,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Train in chunks of steps, evaluate after each, and keep the best weights.

    ``train(step)`` trains the model in ``workdir`` up to ``step`` optimiser
    steps (``fit_text_to_image`` with ``max_train_steps=step`` resumes from its
    checkpoint); ``evaluate(workdir)`` scores the result. Whenever
    ``scores[score_key]`` beats every earlier score, ``workdir`` (without its
    checkpoint and logs) is copied to ``weights``. The loop stops at
    ``max_steps``, after ``max_minutes`` of training, or once
    ``target_met(scores, step)``. The history (step, seconds, scores of each
    chunk) is kept in ``workdir/history.json``, so that a later call resumes
    where this one stopped.

    Parameters
    ----------
    train : callable
        ``train(step)``: train up to ``step`` steps.
    evaluate : callable
        ``evaluate(workdir)``: a dict of JSON-serialisable scores.
    workdir : str or Path
        The training folder.
    weights : str or Path
        Where the best weights so far are copied; replaced each time.
    score_key : str
        The score that ranks chunks (larger is better).
    max_steps : int
        The last step.
    eval_every : int
        Steps per chunk.
    max_minutes : float
        Training minutes (all calls on this ``workdir`` together) after which no
        chunk is started.
    target_met : callable
        ``target_met(scores, step)``: True stops the loop.
    previous_minutes : float, default=0.0
        Training minutes of an earlier run of this ``workdir`` that left no
        history.
    start_step : int, default=0
        The step to count from when ``workdir`` has no history yet.
    verbose : bool, default=True
        Print each chunk's scores.

    Returns
    -------
    history : list of dict
        One entry per chunk ever trained in ``workdir``: ``step``,
        ``seconds`` and ``eval`` (the scores).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_depict.text_to_image.recipe import train_in_chunks
    >>> work = Path(tempfile.mkdtemp())
    >>> history = train_in_chunks(
    ...     lambda step: (work / "model.txt").write_text(str(step)),
    ...     lambda folder: {"quality": 1 - 1 / int((folder / "model.txt").read_text())},
    ...     workdir=work, weights=work.parent / (work.name + "-best"), score_key="quality",
    ...     max_steps=10, eval_every=2, max_minutes=5,
    ...     target_met=lambda scores, step: scores["quality"] >= 0.75, verbose=False)
    >>> [entry["step"] for entry in history]
    [2, 4]
    >>> (work.parent / (work.name + "-best") / "model.txt").read_text()
    '4'
    """
    workdir, weights = Path(workdir), Path(weights)
    history_path = workdir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    best = max((h["eval"][score_key] for h in history), default=float("-inf"))
    train_seconds = sum(h["seconds"] for h in history) + 60 * previous_minutes
    step = history[-1]["step"] if history else int(start_step)
    met = False
    while step < max_steps and not met and train_seconds / 60 < max_minutes:
        step = min(step + eval_every, max_steps)
        started = time.time()
        train(step)
        seconds = time.time() - started
        train_seconds += seconds
        scores = evaluate(workdir)
        history.append({"step": step, "seconds": round(seconds, 1), "eval": scores})
        workdir.mkdir(parents=True, exist_ok=True)
        history_path.write_text(json.dumps(history, indent=1))
        if verbose:
            print(f"step {step}: {train_seconds / 60:.1f} min, {json.dumps(scores)}", flush=True)
        if scores[score_key] > best:
            best = scores[score_key]
            if weights.exists():
                shutil.rmtree(weights)
            shutil.copytree(
                workdir,
                weights,
                ignore=shutil.ignore_patterns("checkpoint", "*.jsonl", "history.json"),
            )
            if verbose:
                print(f"  best so far; copied to {weights}", flush=True)
        met = target_met(scores, step)
    return history

