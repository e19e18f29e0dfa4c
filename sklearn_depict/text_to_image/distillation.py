"""Distil a :class:`PixelDiffusionPipeline` into a few-step, unguided student.

Trajectory (reflow) distillation, after Liu et al., "Flow straight and fast"
(ICLR 2023) and Salimans and Ho's v-parametrisation (ICLR 2022):

1. :func:`teacher_pairs` runs the teacher at its own sampler settings
   (for instance DPM-Solver++ with 10 steps and guidance 5) and keeps, per
   caption, the starting noise ``x_T`` and the teacher's final sample ``x0*``,
   both in the UNet's space;
2. :func:`fit_distilled` trains a copy of the teacher at guidance 1 (the
   conditional pass only: guidance is baked in) so that the straight line
   from ``x_T`` to ``x0*`` becomes its sampling path. For a timestep ``t``
   with signal and noise levels ``alpha_t``, ``sigma_t``::

       eps* = (x_T - alpha_T x0*) / sigma_T
       x_t  = alpha_t x0* + sigma_t eps*
       v*   = alpha_t eps* - sigma_t x0*       # regressed, squared error

   A model that predicts ``v*`` predicts ``x0*`` from any point of the line,
   so any deterministic sampler (DDIM, DPM-Solver++) lands on ``x0*`` from
   ``x_T`` whatever its number of steps. The timesteps are drawn mostly from
   those of the student's own samplers (``student_steps``), and some uniformly.

The student samples with one UNet pass per step instead of two, and with 2 to
4 steps instead of 10. ``scripts/distill_shapes_diffusion.py`` distils the
shipped shapes model with these functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fit_distilled", "student_timesteps", "teacher_pairs"]


def _noise(seeds: Sequence[int], shape: tuple[int, ...]) -> Any:
    """Starting noise, one generator per seed, exactly as the pipeline draws it.

    ``randn_tensor`` with a list of generators draws each row alone, so the
    student sampled by :class:`DiffusersGenerator` with the same seed starts
    from the same ``x_T`` as the teacher did.
    """
    import torch

    return torch.cat(
        [
            torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(int(s)))
            for s in seeds
        ]
    )


def teacher_pairs(
    pipe: Any,
    captions: Sequence[str],
    seeds: Sequence[int],
    *,
    num_inference_steps: int = 10,
    guidance_scale: float = 5.0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """The teacher's starting noise and final sample for each caption.

    Parameters
    ----------
    pipe : PixelDiffusionPipeline
        The teacher, with the scheduler it samples with.
    captions : sequence of str
        Training captions (not those the student will be judged on).
    seeds : sequence of int
        One noise seed per caption.
    num_inference_steps : int, default=10
        The teacher's sampler steps.
    guidance_scale : float, default=5.0
        The teacher's classifier-free guidance.
    batch_size : int, default=64
        Captions per call of the pipeline.

    Returns
    -------
    pairs : dict
        ``noise`` and ``target``: float32 tensors of shape (n, C, h, w) in
        the UNet's space (``target`` is the teacher's image, clipped to [0, 1]
        as the pipeline returns it, mapped back by ``to_model_space``);
        ``captions``: the captions, as a list.
    """
    import torch

    captions, seeds = list(captions), list(seeds)
    if len(captions) != len(seeds):
        raise ValueError(
            f"captions and seeds must have the same length, got {len(captions)} and {len(seeds)}."
        )
    factor = int(pipe.config.downscale_factor)
    size = int(pipe.unet.config.sample_size)
    shape = (int(pipe.unet.config.in_channels), size, size)
    pipe.set_progress_bar_config(disable=True)
    noise, target = [], []
    for start in range(0, len(captions), batch_size):
        x_t = _noise(seeds[start : start + batch_size], shape)
        images = pipe(
            captions[start : start + batch_size],
            latents=x_t,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            output_type="pt",
            height=size * factor,
            width=size * factor,
        ).images
        noise.append(x_t)
        target.append(pipe.to_model_space(images.float()).cpu())
    return {"noise": torch.cat(noise), "target": torch.cat(target), "captions": captions}


def student_timesteps(scheduler: Any, student_steps: Sequence[int]) -> list[int]:
    """The distinct timesteps the student's sampler visits, for each number of steps.

    Examples
    --------
    >>> from diffusers import DPMSolverMultistepScheduler
    >>> from sklearn_depict.text_to_image.distillation import student_timesteps
    >>> sched = DPMSolverMultistepScheduler(timestep_spacing="linspace")
    >>> student_timesteps(sched, [2, 4])
    [250, 500, 749, 999]
    """
    import copy

    sched = copy.deepcopy(scheduler)  # set_timesteps changes the scheduler's state
    found: set[int] = set()
    for k in student_steps:
        sched.set_timesteps(int(k))
        found.update(int(t) for t in sched.timesteps)
    return sorted(found)


def _student_state(
    pipe: Any, noise: Any, cond: Any, student_steps: Sequence[int], rng: Any
) -> tuple[Any, int]:
    """Where the student's own sampler stands after some of its steps, and that timestep.

    Trained on the straight lines alone, the student meets at sampling time
    points that its earlier, imperfect steps moved off those lines; training
    on its own intermediate samples as well corrects the drift.
    """
    import copy

    import torch

    k = int(student_steps[int(torch.randint(0, len(student_steps), (1,), generator=rng))])
    done = int(torch.randint(1, k, (1,), generator=rng)) if k > 1 else 0
    sched = copy.deepcopy(pipe.scheduler)  # its step() keeps state between calls
    sched.set_timesteps(k, device=noise.device)
    x = noise * sched.init_noise_sigma
    with torch.no_grad():
        for t in sched.timesteps[:done]:
            out = pipe.unet(sched.scale_model_input(x, t), t, encoder_hidden_states=cond).sample
            x = sched.step(out, t, x).prev_sample
    return x, int(sched.timesteps[done])


def _forget_origin(folder: Path) -> None:
    """Drop ``_name_or_path`` from the saved configs.

    A pipeline loaded with ``from_pretrained`` records the folder it came
    from, which would ship a path of the machine that distilled it.
    """
    import json

    for config in (folder / "model_index.json", folder / "unet" / "config.json"):
        if config.exists():
            data = json.loads(config.read_text())
            if data.pop("_name_or_path", None) is not None:
                config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def fit_distilled(
    pipe: Any,
    pairs: dict[str, Any],
    *,
    output_dir: str | Path,
    max_train_steps: int,
    student_steps: Sequence[int] = (2, 3, 4),
    uniform_fraction: float = 0.25,
    on_policy_fraction: float = 0.0,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    ema_decay: float | None = 0.999,
    train_text_encoder: bool = True,
    checkpoint_every: int = 500,
    seed: int = 0,
    max_minutes: float | None = None,
    verbose: int = 0,
) -> list[float]:
    """Train ``pipe`` in place into a few-step student of the teacher ``pairs``.

    Resumable: the optimiser, moving average, random state and step count go
    to ``output_dir/checkpoint`` every ``checkpoint_every`` steps and at the
    end, and a later call with a larger ``max_train_steps`` continues from
    there. At the end the averaged weights are saved to ``output_dir`` with
    ``save_pretrained``, and they stay in ``pipe``.

    Parameters
    ----------
    pipe : PixelDiffusionPipeline
        The student, initialised as the teacher (a copy, or the teacher
        loaded a second time); trained in place.
    pairs : dict
        The output of :func:`teacher_pairs`.
    output_dir : str or Path
        Where the student and its checkpoint are saved.
    max_train_steps : int
        Optimiser steps in all, counting those of earlier calls.
    student_steps : sequence of int, default=(2, 3, 4)
        The numbers of sampler steps the student is meant for: their
        timesteps are drawn with probability ``1 - uniform_fraction``.
    uniform_fraction : float, default=0.25
        Share of timesteps drawn uniformly from all training timesteps.
    on_policy_fraction : float, default=0.0
        Share of batches whose inputs are the student's own samples after
        1 to k - 1 of its k sampler steps (k drawn from ``student_steps``),
        rather than points of the straight lines; their target is the ``v``
        that predicts the teacher's sample from there. Corrects the drift of
        the student's early steps, at the cost of those extra UNet passes.
    batch_size : int, default=32
        Pairs per step.
    learning_rate : float, default=1e-4
        AdamW's learning rate, after 100 warm-up steps.
    ema_decay : float or None, default=0.999
        Decay of the moving average of the weights that is saved; None
        saves the raw weights.
    train_text_encoder : bool, default=True
        Also train the text encoder.
    checkpoint_every : int, default=500
        Steps between checkpoints.
    seed : int, default=0
        Seed of the pair and timestep draws.
    max_minutes : float, default=None
        Stop early, checkpointed, after this many minutes of this call.
    verbose : int, default=0
        Print the mean loss every 100 steps.

    Returns
    -------
    losses : list of float
        The loss of each step of this call.
    """
    import torch

    from .recipe import make_optimizer
    from .training_state import TrainingState

    n = int(pairs["noise"].shape[0])
    if n < 1 or len(pairs["captions"]) != n or pairs["target"].shape != pairs["noise"].shape:
        raise ValueError(
            "pairs must hold as many captions as noise and target rows, with noise and target "
            "of one shape; build them with teacher_pairs."
        )
    for name, value in (
        ("uniform_fraction", uniform_fraction),
        ("on_policy_fraction", on_policy_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
    if pipe.scheduler.config.prediction_type != "v_prediction":
        raise ValueError(
            "fit_distilled trains v-prediction students; the pipeline's scheduler has "
            f"prediction_type={pipe.scheduler.config.prediction_type!r}."
        )
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = pipe.unet.device
    unet, text_encoder = pipe.unet, pipe.text_encoder
    unet.train()
    text_encoder.train(train_text_encoder)
    text_encoder.requires_grad_(train_text_encoder)
    params = list(unet.parameters()) + (
        list(text_encoder.parameters()) if train_text_encoder else []
    )
    optimizer = make_optimizer(
        params, lr=learning_rate, weight_decay=1e-2, use_8bit_adam=False, device=device
    )
    state = TrainingState(
        out, method="full", trained={"unet": unet, "text_encoder": text_encoder},
        params=params, optimizer=optimizer, warmup=100, ema_decay=ema_decay, fp16=False,
        seed=seed, device=device, train_text_encoder=train_text_encoder,
    )  # fmt: skip
    state.load()

    alphas = pipe.scheduler.alphas_cumprod.to(torch.float32)
    n_train = len(alphas)
    levels = torch.tensor(student_timesteps(pipe.scheduler, student_steps))
    student_steps = [int(k) for k in student_steps]
    x_start, x_end = pairs["noise"].float(), pairs["target"].float()
    a_end, s_end = alphas[n_train - 1].sqrt(), (1 - alphas[n_train - 1]).sqrt()
    # the noise each pair's line passes through, the "eps*" of the docstring
    eps_line = (x_start - a_end * x_end) / s_end
    captions = list(pipe.prepare_prompts(pairs["captions"]))
    started, losses = time.time(), []
    while state.step < max_train_steps:
        if max_minutes is not None and (time.time() - started) / 60 >= max_minutes:
            break
        rows = torch.randint(0, n, (batch_size,), generator=state.rng)
        x0 = x_end[rows].to(device)
        with torch.set_grad_enabled(train_text_encoder):
            cond = pipe.encode_prompt([captions[i] for i in rows.tolist()], device)
        if on_policy_fraction and float(torch.rand(1, generator=state.rng)) < on_policy_fraction:
            x_t, level = _student_state(
                pipe, x_start[rows].to(device), cond.detach(), student_steps, state.rng
            )
            t = torch.full((batch_size,), level)
            a = alphas[t].sqrt().view(-1, 1, 1, 1).to(device)
            s = (1 - alphas[t]).sqrt().view(-1, 1, 1, 1).to(device)
            # the v whose x0 prediction, alpha_t x_t - sigma_t v, is the teacher's sample
            v_target = (a * x_t - x0) / s
        else:
            uniform = torch.rand(batch_size, generator=state.rng) < uniform_fraction
            t = torch.where(
                uniform,
                torch.randint(0, n_train, (batch_size,), generator=state.rng),
                levels[torch.randint(0, len(levels), (batch_size,), generator=state.rng)],
            )
            a = alphas[t].sqrt().view(-1, 1, 1, 1).to(device)
            s = (1 - alphas[t]).sqrt().view(-1, 1, 1, 1).to(device)
            eps = eps_line[rows].to(device)
            x_t = a * x0 + s * eps
            v_target = a * eps - s * x0
        pred = unet(x_t, t.to(device), encoder_hidden_states=cond).sample
        loss = torch.nn.functional.mse_loss(pred.float(), v_target)
        state.backward(loss)
        state.optimizer_step()
        value = float(loss.detach())
        losses.append(value)
        state.log(value)
        if verbose and state.step % 100 == 0:
            print(f"step {state.step}: loss {np.mean(losses[-100:]):.5f}", flush=True)
        if state.step % checkpoint_every == 0:
            state.save()
    state.save_if_needed()
    unet.eval()
    text_encoder.eval()
    text_encoder.requires_grad_(False)
    with state.averaged():
        pipe.save_pretrained(out, safe_serialization=True)
    _forget_origin(out)
    if state.ema is not None:
        state.ema.copy_to(params)  # the pipe samples with what was saved
    return losses
