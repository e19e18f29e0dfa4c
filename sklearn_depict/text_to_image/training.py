"""Train or fine-tune a text-to-image diffusion pipeline on (caption, image) pairs.

Building a new pixel-space model and loading a saved one live in
:mod:`.models`; their names are importable from here too.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._torch_utils import resolve_device
from .models import load_generator, make_pixel_pipeline

__all__ = ["fit_text_to_image", "load_generator", "make_pixel_pipeline"]

def _images_tensor(images: Any) -> Any:
    import torch

    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"images must be (n, height, width, channels), got {arr.shape}.")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError("images must be in [0, 1] (floats) or uint8.")
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _encode_text(tokenizer: Any, text_encoder: Any, prompts: list[str], device: Any) -> Any:
    ids = tokenizer(
        prompts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return text_encoder(ids.to(device))[0]


_METHODS = ("full", "lora")


def fit_text_to_image(
    captions: Sequence[str],
    images: Any,
    *,
    base: Any = None,
    method: str = "full",
    output_dir: str | os.PathLike,
    max_train_steps: int,
    batch_size: int = 32,
    learning_rate: float | None = None,
    lr_warmup_steps: int = 500,
    weight_decay: float = 1e-2,
    ema_decay: float = 0.9995,
    caption_dropout: float = 0.1,
    random_flip: bool = True,
    train_text_encoder: bool | None = None,
    lora_rank: int = 4,
    lora_alpha: float | None = None,
    target_modules: Sequence[str] | None = None,
    resolution: int | None = None,
    mixed_precision: str | None = None,
    gradient_checkpointing: bool = False,
    gradient_accumulation_steps: int = 1,
    snr_gamma: float | None = None,
    noise_offset: float = 0.0,
    use_8bit_adam: bool = False,
    model_size: str = "small",
    unet_config: Mapping[str, Any] | None = None,
    text_encoder_config: Mapping[str, Any] | None = None,
    empty_caption: str = "nothing",
    seed: int = 0,
    checkpoint_every: int = 1000,
    resume: bool = True,
    device: Any = "auto",
    verbose: int = 1,
) -> Any:
    """Train or fine-tune a text-to-image diffusion pipeline on (caption, image) pairs.

    With ``base=None`` a small pixel-space model is trained from scratch
    (:func:`make_pixel_pipeline`): v-prediction over a cosine noise schedule,
    sampled with DPM-Solver++. With ``base`` a diffusers pipeline (Stable
    Diffusion, say) is fine-tuned the way its scheduler was trained, as the
    DEPICT paper did per domain:

    * ``method="lora"`` (the affordable way, as diffusers'
      ``train_text_to_image_lora.py``): the base stays frozen and small LoRA
      adapters (peft, rank ``lora_rank``) on the UNet's attention projections,
      and on the text encoder's if ``train_text_encoder=True``, are trained.
      They are saved in diffusers' LoRA format to
      ``output_dir/pytorch_lora_weights.safetensors`` (``save_lora_weights``),
      which plain diffusers loads with ``load_lora_weights``. For Stable
      Diffusion 1.5 at 512 px: a few MB of adapter instead of a 3.4 GB UNet,
      and about 11 GB of GPU memory at batch 1 instead of about 24 GB.
    * ``method="full"`` trains the whole UNet, and the text encoder if
      ``train_text_encoder=True``, and saves the whole pipeline.

    The loop is AdamW (bitsandbytes' 8-bit AdamW with ``use_8bit_adam``) with
    linear warm-up, random horizontal flips, ``caption_dropout`` of captions
    replaced by the empty prompt (for classifier-free guidance), gradient
    clipping at 1 and, except with LoRA, an exponential moving average
    (diffusers' ``EMAModel``) of the trained weights, which is what gets saved.
    Images of any size are resized (shorter side) and centre-cropped to the
    base model's resolution, batch by batch. Every random draw, the adapters'
    initial weights included, comes from ``seed``. Every ``checkpoint_every``
    steps, and at the end, the trained weights (only the adapters with LoRA),
    their average, the optimiser, the step and the random state go to
    ``output_dir/checkpoint``; a later call with ``resume=True`` continues
    from there, so a run can be interrupted, or extended by calling again with
    a larger ``max_train_steps``, and ends with the weights of an
    uninterrupted run. The per-step losses are appended to
    ``output_dir/loss_log.jsonl``.

    Parameters
    ----------
    captions : sequence of str
        One caption per image. For a pixel-space model an empty caption is
        replaced by its ``empty_caption``, in training and in generation.
    images : array-like of shape (n, height, width, channels)
        Floats in [0, 1] or uint8.
    base : str, path-like, DiffusionPipeline or None, default=None
        None trains a new pixel-space model. A folder or Hub id (loaded with
        ``DiffusionPipeline.from_pretrained``) or a pipeline object (copied,
        not changed) is fine-tuned.
    method : {"full", "lora"}, default="full"
        Fine-tune the whole UNet, or train LoRA adapters on a frozen ``base``.
    output_dir : str or path-like
        Where the pipeline (``save_pretrained``) or the adapter
        (``save_lora_weights``) is saved, in safetensors.
    max_train_steps : int
        Total optimiser steps, counting those of a resumed checkpoint.
    batch_size : int, default=32
        Pairs per step, drawn with replacement.
    learning_rate : float, default=None
        Peak learning rate. None uses 1e-4 with LoRA (diffusers' default) and
        1e-3 otherwise, which suits a small model from scratch; about 1e-5
        suits a full fine-tune of a large model.
    lr_warmup_steps : int, default=500
        Steps of linear warm-up; constant afterwards.
    weight_decay : float, default=1e-2
        AdamW weight decay.
    ema_decay : float, default=0.9995
        Largest decay of the weights' moving average (warmed up). Not used
        with LoRA.
    caption_dropout : float, default=0.1
        Fraction of captions replaced by the empty prompt.
    random_flip : bool, default=True
        Flip images left-right at random. Turn off where direction matters.
    train_text_encoder : bool, default=None
        None trains it from scratch and freezes it when fine-tuning. With
        LoRA, True gives the text encoder adapters too.
    lora_rank : int, default=4
        Rank of the adapters.
    lora_alpha : float, default=None
        LoRA scaling numerator (the update is scaled by alpha / rank); None
        uses ``lora_rank``.
    target_modules : list of str, default=None
        UNet layers that get adapters; None uses the attention projections
        ``["to_k", "to_q", "to_v", "to_out.0"]``.
    resolution : int, default=None
        Training size in pixels when fine-tuning; None uses the base model's
        own (512 for Stable Diffusion 1.5).
    mixed_precision : {None, "no", "fp16", "bf16"}, default=None
        Keep frozen weights in half precision and run the forward pass under
        autocast; trained weights stay float32 (``cast_training_params``) and
        fp16 gradients are scaled. "fp16" needs CUDA and raises elsewhere;
        "bf16" also runs on a CPU, though usually slower than float32.
    gradient_checkpointing : bool, default=False
        Recompute activations in the backward pass: much less memory, about
        20% slower.
    gradient_accumulation_steps : int, default=1
        Batches of ``batch_size`` pairs whose gradients are summed into one
        optimiser step: an effective batch of ``batch_size`` times this, in the
        memory of one ``batch_size``. Steps count optimiser steps.
    snr_gamma : float, default=None
        Min-SNR loss weighting (5.0 is the recommended value); None weighs all
        timesteps equally.
    noise_offset : float, default=0.0
        Offset noise (about 0.05 helps very dark or bright images).
    use_8bit_adam : bool, default=False
        bitsandbytes' 8-bit AdamW; needs CUDA and the ``bitsandbytes`` extra.
    model_size : {"small", "tiny"}, default="small"
        Size of a new model; see :func:`make_pixel_pipeline`.
    unet_config, text_encoder_config : dict, default=None
        Override settings of a new model.
    empty_caption : str, default="nothing"
        Word for empty captions of a new model.
    seed : int, default=0
        Seeds the initial weights and every random draw of training.
    checkpoint_every : int, default=1000
        Steps between checkpoints; 0 checkpoints only at the end.
    resume : bool, default=True
        Continue from ``output_dir/checkpoint`` when there is one.
    device : str or torch.device, default="auto"
        ``"auto"`` (or None) uses CUDA when torch sees a GPU, else the CPU.
        A device torch cannot use here (``"cuda"`` without CUDA) raises a
        ValueError before any model is loaded.
    verbose : int, default=1
        Show a progress bar with the loss.

    Returns
    -------
    generator : DiffusersGenerator
        For the saved pipeline, or with LoRA, for ``base`` with the adapter
        (``lora=output_dir``).

    Examples
    --------
    >>> import tempfile, torch
    >>> from sklearn_depict import make_shapes_dataset
    >>> from sklearn_depict.text_to_image import fit_text_to_image
    >>> torch.set_num_threads(1)
    >>> data = make_shapes_dataset(64, random_state=0)
    >>> gen = fit_text_to_image(data.captions, data.images, output_dir=tempfile.mkdtemp(),
    ...                         max_train_steps=3, batch_size=4, model_size="tiny",
    ...                         verbose=0)
    >>> gen.generate(["red circle", ""], [0, 1]).shape
    (2, 32, 32, 3)

    LoRA on top of a pretrained pipeline (here a tiny random one):

    >>> from sklearn_depict.generators.diffusers import make_tiny_pipeline
    >>> base = make_tiny_pipeline(seed=0)
    >>> gen = fit_text_to_image(data.captions, data.images, base=base, method="lora",
    ...                         output_dir=tempfile.mkdtemp(), max_train_steps=2,
    ...                         batch_size=2, verbose=0)
    >>> gen.lora is not None, gen.generate(["red circle"], [0]).shape
    (True, (1, 32, 32, 3))
    """
    import torch
    from tqdm.auto import tqdm

    from . import recipe
    from .lora_training import check_alpha_is_storable, check_lora_options
    from .training_state import TrainingState

    # -- everything that can be checked before a model is loaded ---------------
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}.")
    lora = method == "lora"
    if lora and base is None:
        raise ValueError(
            "method='lora' adapts a pretrained pipeline: give base= (a folder, a Hub "
            "id or a pipeline object), or use method='full' to train from scratch."
        )
    rank, alpha, targets = check_lora_options(lora_rank, lora_alpha, target_modules)
    if lora:
        check_alpha_is_storable(rank, alpha)
    captions = [str(c) for c in captions]
    pixels = _images_tensor(images)
    n = len(captions)
    if n == 0 or pixels.shape[0] != n:
        raise ValueError(f"Need one caption per image; got {n} captions, {pixels.shape[0]} images.")
    if int(max_train_steps) < 0 or int(batch_size) < 1:
        raise ValueError("max_train_steps must be >= 0 and batch_size >= 1.")
    if snr_gamma is not None and not float(snr_gamma) > 0:
        raise ValueError(f"snr_gamma must be None or > 0, got {snr_gamma!r}.")
    accumulate = gradient_accumulation_steps
    if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
        raise ValueError(
            f"gradient_accumulation_steps must be an int >= 1, got {accumulate!r}."
        )
    if not float(noise_offset) >= 0:
        raise ValueError(f"noise_offset must be >= 0, got {noise_offset!r}.")
    if resolution is not None and (int(resolution) < 8 or int(resolution) % 8):
        raise ValueError(f"resolution must be None or a multiple of 8, got {resolution!r}.")
    if lora and train_text_encoder:
        from ..generators.lora_loading import text_encoder_lora_problem

        problem = text_encoder_lora_problem()
        if problem:
            raise ImportError(
                f"train_text_encoder=True with method='lora' needs text-encoder adapters, "
                f'and {problem}. Upgrade peft (pip install -U "peft>=0.22"), or train the '
                "UNet's adapters only (train_text_encoder=False)."
            )
    dev = resolve_device(device, torch, owner="fit_text_to_image")
    weight_dtype = recipe.check_mixed_precision(mixed_precision, dev)
    recipe.check_8bit_adam(use_8bit_adam, dev)
    if learning_rate is None:
        learning_rate = 1e-4 if lora else 1e-3
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)

    pipe, captions, train_text_encoder = _training_pipeline(
        base, captions, pixels, lora=lora, train_text_encoder=train_text_encoder,
        model_size=model_size, unet_config=unet_config,
        text_encoder_config=text_encoder_config, empty_caption=empty_caption, seed=seed,
    )  # fmt: skip
    size = int(resolution) if resolution else recipe.native_resolution(pipe)
    if base is None or size is None:
        size = int(pixels.shape[2])
    unet, text_encoder, tokenizer = pipe.unet, pipe.text_encoder, pipe.tokenizer
    vae = getattr(pipe, "vae", None)
    noise_scheduler = _training_scheduler(pipe)
    prediction = noise_scheduler.config.prediction_type

    # -- what is trained, in which precision -----------------------------------
    if vae is not None:
        vae.requires_grad_(False).eval()
    if lora:
        from .lora_training import add_lora_adapters

        add_lora_adapters(
            unet, text_encoder, rank=rank, alpha=alpha, target_modules=targets,
            train_text_encoder=train_text_encoder, seed=seed,
        )  # fmt: skip
    else:
        text_encoder.requires_grad_(train_text_encoder)
    text_encoder.train(train_text_encoder)
    unet.train()
    pipe.to(dev)
    if weight_dtype is not None:
        from diffusers.training_utils import cast_training_params

        # Frozen weights in half precision, what is trained in float32. A model
        # trained whole is never cast: rounding it to half would lose its weights.
        frozen = [m for m in (vae, text_encoder) if m is not None]
        if lora:
            frozen.append(unet)
        elif train_text_encoder:
            frozen.remove(text_encoder)
        if not lora:
            # A full fine-tune saves the frozen parts too: keep their exact
            # float32 weights (on the CPU) rather than save half-precision ones.
            originals = [
                (m, {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()})
                for m in frozen
            ]
        from diffusers.utils import logging as diffusers_logging

        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # "modules to keep in float32: []"
        try:
            for module in frozen:
                module.to(dtype=weight_dtype)
        finally:
            diffusers_logging.set_verbosity(verbosity)
        cast_training_params([unet, text_encoder], dtype=torch.float32)
    if gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        if train_text_encoder:
            text_encoder.gradient_checkpointing_enable()
    trained = {"unet": unet, "text_encoder": text_encoder}
    params = [p for m in trained.values() for p in m.parameters() if p.requires_grad]
    optimizer = recipe.make_optimizer(
        params, lr=learning_rate, weight_decay=weight_decay, use_8bit_adam=use_8bit_adam,
        device=dev,
    )  # fmt: skip
    state = TrainingState(
        out, method=method, trained=trained, params=params, optimizer=optimizer,
        warmup=int(lr_warmup_steps), ema_decay=None if lora else ema_decay,
        fp16=weight_dtype == torch.float16, seed=seed, device=dev,
        train_text_encoder=train_text_encoder,
    )  # fmt: skip
    if resume:
        state.load()
    else:
        state.forget()

    def to_model_space(x: Any) -> Any:
        if vae is None:
            return pipe.to_model_space(x)
        with torch.no_grad():
            dist = vae.encode((x * 2.0 - 1.0).to(vae.dtype)).latent_dist
            return (dist.sample(generator=state.rng) * vae.config.scaling_factor).float()

    # -- the loop ----------------------------------------------------------------
    rng = state.rng
    bar = tqdm(total=int(max_train_steps), initial=min(state.step, int(max_train_steps)),
               disable=not verbose, desc=f"fit_text_to_image ({method})")  # fmt: skip
    running = None
    autocast = torch.autocast(
        dev.type, dtype=weight_dtype or torch.float32, enabled=weight_dtype is not None
    )
    def micro_batch_loss() -> Any:
        idx = torch.randint(n, (int(batch_size),), generator=rng)
        x = recipe.resize_center_crop(pixels[idx], size)
        if random_flip:
            flip = torch.rand(len(idx), generator=rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        drop = (torch.rand(len(idx), generator=rng) < caption_dropout).tolist()
        prompts = ["" if d else captions[i] for d, i in zip(drop, idx.tolist())]
        latents = to_model_space(x.to(dev))
        noise = torch.randn(latents.shape, generator=rng)
        if noise_offset:
            noise += float(noise_offset) * torch.randn(
                (*latents.shape[:2], 1, 1), generator=rng
            )
        noise = noise.to(dev)
        t = torch.randint(
            noise_scheduler.config.num_train_timesteps, (len(idx),), generator=rng
        ).to(dev)
        noisy = noise_scheduler.add_noise(latents, noise, t)
        target = (
            noise if prediction == "epsilon" else noise_scheduler.get_velocity(latents, noise, t)
        )

        with autocast, torch.set_grad_enabled(train_text_encoder):
            hidden = _encode_text(tokenizer, text_encoder, prompts, dev)
        with autocast:
            pred = unet(noisy, t, hidden).sample
        return recipe.diffusion_loss(pred, target, t, noise_scheduler, snr_gamma)

    while state.step < int(max_train_steps):
        value = 0.0
        for _ in range(accumulate):
            loss = micro_batch_loss()
            state.backward(loss / accumulate)
            value += float(loss.detach()) / accumulate
        state.optimizer_step()
        state.log(value)
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if checkpoint_every and state.step % int(checkpoint_every) == 0:
            state.save()
    bar.close()
    state.save_if_needed()

    # -- save the result -----------------------------------------------------------
    unet.eval()
    text_encoder.eval()
    if lora:
        from .lora_training import save_lora_adapters, write_training_record

        save_lora_adapters(pipe, out, text_encoder=train_text_encoder)
        write_training_record(out, {
            "base": _base_reference(base), "method": method, "lora_rank": rank,
            "lora_alpha": alpha, "target_modules": targets,
            "train_text_encoder": bool(train_text_encoder), "steps": state.step,
            "resolution": size, "seed": int(seed),
        })  # fmt: skip
        return load_generator(out, base=None if isinstance(base, (str, os.PathLike)) else base)
    with state.averaged():
        if weight_dtype is not None:  # save float32 weights, whatever trained them
            pipe.to(dtype=torch.float32)
            for module, weights in originals:
                module.load_state_dict(weights)
        pipe.save_pretrained(out, safe_serialization=True)
    return load_generator(out)


def _training_pipeline(
    base: Any, captions: list[str], pixels: Any, *, lora: bool, train_text_encoder: Any,
    model_size: str, unet_config: Any, text_encoder_config: Any, empty_caption: str, seed: int,
) -> tuple[Any, list[str], bool]:  # fmt: skip
    """The pipeline to train, its captions and whether its text encoder trains."""
    from diffusers import DiffusionPipeline

    if base is None:
        pipe = make_pixel_pipeline(
            captions, image_size=pixels.shape[2], channels=pixels.shape[1], size=model_size,
            unet_config=unet_config, text_encoder_config=text_encoder_config,
            empty_caption=empty_caption, seed=seed,
        )  # fmt: skip
        train_text_encoder = True if train_text_encoder is None else bool(train_text_encoder)
    elif hasattr(base, "unet"):
        # Training moves and casts modules, adds adapters: never to the caller's.
        pipe = copy.deepcopy(base)
    else:
        pipe = _load_base(str(base), DiffusionPipeline)
    if hasattr(pipe, "prepare_prompts"):  # a pixel-space model's empty caption
        captions = pipe.prepare_prompts(captions)
    if train_text_encoder is None:
        train_text_encoder = False
    return pipe, captions, bool(train_text_encoder)


def _load_base(name: str, diffusion_pipeline: Any) -> Any:
    """The base pipeline of a folder or Hub id: safetensors only, no safety checker."""
    from ..generators._diffusers_loading import package_pipeline_class

    folder = Path(name).expanduser()
    if not folder.is_dir():
        # A Hub id: fetch the snapshot (or find it in the cache) to read its index.
        folder = Path(diffusion_pipeline.download(name, use_safetensors=True))
    index = json.loads((folder / "model_index.json").read_text())
    kwargs: dict[str, Any] = {"use_safetensors": True}
    if "safety_checker" in index:
        # A second vision model in memory for nothing: training never runs it.
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    own = package_pipeline_class(index.get("_class_name"))
    return (own or diffusion_pipeline).from_pretrained(str(folder), **kwargs)


def _base_reference(base: Any) -> str | None:
    """How the training record names the base: a resolved folder, a Hub id, or None."""
    if not isinstance(base, (str, os.PathLike)):
        return None
    path = Path(base).expanduser()
    return str(path.resolve()) if path.is_dir() else os.fspath(base)


def _training_scheduler(pipe: Any) -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler.config)
