"""What a training run of :func:`fit_text_to_image` carries between steps and calls.

The optimiser, the learning-rate schedule, the moving average, the gradient
scaler, the random state and the step count, and their checkpoint: written
atomically to ``output_dir/checkpoint/state.pt`` and read back on resume, so
that an interrupted run ends with the weights of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHECKPOINT", "LOSS_LOG", "TrainingState"]

CHECKPOINT = "checkpoint"
LOSS_LOG = "loss_log.jsonl"


class TrainingState:
    """Optimiser, schedule, EMA, random state and checkpoints of one run."""

    def __init__(
        self, out: Path, *, method: str, trained: dict[str, Any], params: list[Any],
        optimizer: Any, warmup: int, ema_decay: float | None, fp16: bool, seed: int,
        device: Any, train_text_encoder: bool,
    ) -> None:  # fmt: skip
        import torch
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        self.out, self.method, self.trained, self.params = out, method, trained, params
        self.optimizer = optimizer
        self.train_text_encoder = train_text_encoder
        self.lr_schedule = get_scheduler(
            "constant_with_warmup", optimizer, num_warmup_steps=warmup
        )
        self.ema = (
            None
            if ema_decay is None
            else EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=3 / 4)
        )
        # fp16 gradients underflow without loss scaling; a no-op otherwise.
        self.scaler = torch.amp.GradScaler(device.type, enabled=fp16)
        self.rng = torch.Generator("cpu").manual_seed(int(seed))
        self.device = device
        self.step = 0
        self.pending: list[tuple[int, float]] = []
        self.path = out / CHECKPOINT / "state.pt"

    def _weights(self) -> dict[str, Any]:
        if self.method == "lora":
            from .lora_training import trainable_state

            return {"trainable": trainable_state(self.trained)}
        return {
            "unet": self.trained["unet"].state_dict(),
            "text_encoder": (
                self.trained["text_encoder"].state_dict() if self.train_text_encoder else None
            ),
        }

    def save(self) -> None:
        import torch

        state = {
            "method": self.method,
            "step": self.step,
            **self._weights(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.rng.get_state(),
        }
        self.path.parent.mkdir(exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)  # an interruption never leaves half a checkpoint
        with open(self.out / LOSS_LOG, "a") as log:
            log.writelines(json.dumps({"step": s, "loss": v}) + "\n" for s, v in self.pending)
        self.pending.clear()

    def save_if_needed(self) -> None:
        if self.pending or not self.path.exists():
            self.save()

    def load(self) -> None:
        import torch

        if not self.path.exists():
            self.forget()
            return
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("method", "full") != self.method:
            raise ValueError(
                f"{self.path} is the checkpoint of a method={state.get('method', 'full')!r} "
                f"run, not method={self.method!r}. Use another output_dir, or resume=False "
                "to start over."
            )
        self.step = int(state["step"])
        if self.method == "lora":
            from .lora_training import load_trainable_state

            load_trainable_state(self.trained, state["trainable"])
        else:
            self.trained["unet"].load_state_dict(state["unet"])
            if self.train_text_encoder:
                self.trained["text_encoder"].load_state_dict(state["text_encoder"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.rng.set_state(state["rng"])
        if self.ema is not None:
            self.ema.to(self.device)

    def forget(self) -> None:
        (self.out / LOSS_LOG).unlink(missing_ok=True)
        if self.ema is not None:
            self.ema.to(self.device)

    def backward(self, loss: Any) -> None:
        """Add the gradients of ``loss`` (scaled for fp16) to those gathered so far."""
        self.scaler.scale(loss).backward()

    def optimizer_step(self) -> None:
        """Clip, step, schedule and average; then clear the gradients."""
        import torch

        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr_schedule.step()
        if self.ema is not None:
            self.ema.step(self.params)
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def log(self, value: float) -> None:
        self.pending.append((self.step, value))

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """The moving average in the weights, for saving; put back afterwards."""
        if self.ema is None:
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)
