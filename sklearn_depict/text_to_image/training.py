"""Train or fine-tune a text-to-image diffusion pipeline on (caption, image) pairs."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fit_text_to_image", "load_generator", "make_pixel_pipeline"]

#: Sampling defaults of the pixel-space pipeline (DPM-Solver++).
DEFAULT_STEPS = 10
DEFAULT_GUIDANCE = 5.0

_SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # (UNet settings, text encoder settings)
    "small": (
        dict(block_out_channels=(32, 64, 64), attention_head_dim=8, norm_num_groups=8,
             cross_attention_dim=64),
        dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_hidden_layers=2),
    ),
    "tiny": (
        dict(block_out_channels=(8, 16, 16), attention_head_dim=2, norm_num_groups=4,
             cross_attention_dim=16),
        dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1),
    ),
}  # fmt: skip

_CHECKPOINT = "checkpoint"
_LOSS_LOG = "loss_log.jsonl"


def make_pixel_pipeline(
    captions: Sequence[str],
    *,
    image_size: int = 32,
    channels: int = 3,
    size: str = "small",
    unet_config: Mapping[str, Any] | None = None,
    text_encoder_config: Mapping[str, Any] | None = None,
    empty_caption: str = "nothing",
    seed: int = 0,
) -> Any:
    """Build an untrained :class:`PixelDiffusionPipeline` for ``captions``.

    The UNet works on ``pixel_unshuffle(image, 2)``, with three levels and
    cross-attention at the two coarsest; the text encoder is a small CLIP
    model over a word-level vocabulary learned from the captions
    (:func:`build_word_tokenizer`). The scheduler is DPM-Solver++ over a
    cosine (``squaredcos_cap_v2``) schedule with v-prediction.

    Parameters
    ----------
    captions : sequence of str
        Training captions; they fix the vocabulary.
    image_size : int, default=32
        Height and width, a multiple of 8.
    channels : int, default=3
        Image channels.
    size : {"small", "tiny"}, default="small"
        "small" is the shipped shapes model (about 1.7 M parameters); "tiny"
        is for tests.
    unet_config, text_encoder_config : dict, default=None
        Override settings of ``UNet2DConditionModel`` and ``CLIPTextConfig``.
    empty_caption : str, default="nothing"
        Word that stands for an empty caption.
    seed : int, default=0
        Seeds the initial weights; the global torch random state is untouched.

    Returns
    -------
    pipeline : PixelDiffusionPipeline

    Examples
    --------
    >>> from sklearn_depict.text_to_image import make_pixel_pipeline
    >>> pipe = make_pixel_pipeline(["red circle", "blue square"], size="tiny")
    >>> pipe.tokenizer.tokenize("nothing")
    ['nothing</w>']
    """
    import torch
    from diffusers import DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .pipeline import PixelDiffusionPipeline
    from .tokenizer import build_word_tokenizer

    if size not in _SIZES:
        raise ValueError(f"size must be one of {sorted(_SIZES)}, got {size!r}.")
    if int(image_size) % 8:
        raise ValueError(f"image_size must be a multiple of 8, got {image_size!r}.")
    unet_kw, text_kw = (dict(d) for d in _SIZES[size])
    unet_kw.update(unet_config or {})
    text_kw.update(text_encoder_config or {})

    tokenizer = build_word_tokenizer([*captions, empty_caption])
    n_tokens = len(tokenizer.get_vocab())
    width = unet_kw.pop("cross_attention_dim")
    if text_kw.get("hidden_size") != width:
        text_kw.setdefault("projection_dim", text_kw["hidden_size"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        unet = UNet2DConditionModel(
            sample_size=int(image_size) // 2,
            in_channels=4 * int(channels),
            out_channels=4 * int(channels),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=text_kw["hidden_size"],
            **unet_kw,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=n_tokens,
                max_position_embeddings=tokenizer.model_max_length,
                bos_token_id=n_tokens - 2,
                eos_token_id=n_tokens - 1,
                pad_token_id=n_tokens - 1,
                **text_kw,
            )
        )
    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="v_prediction",
        algorithm_type="dpmsolver++",
        solver_order=2,
    )
    return PixelDiffusionPipeline(
        unet=unet.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        scheduler=scheduler,
        empty_caption=empty_caption,
    )


def load_generator(folder: str | os.PathLike, **generator_kwargs: Any) -> Any:
    """A :class:`DiffusersGenerator` for a folder written by :func:`fit_text_to_image`.

    Parameters
    ----------
    folder : str or path-like
        The saved pipeline.
    **generator_kwargs
        Passed to :class:`DiffusersGenerator`. For a pixel-space pipeline the
        sampling defaults are ``num_inference_steps=10`` and
        ``guidance_scale=5.0``.

    Returns
    -------
    generator : DiffusersGenerator

    Examples
    --------
    >>> from sklearn_depict.shapes_diffusion import WEIGHTS
    >>> from sklearn_depict.text_to_image import load_generator
    >>> gen = load_generator(WEIGHTS)
    >>> gen.num_inference_steps, gen.guidance_scale
    (10, 5.0)
    """
    from ..generators.diffusers import DiffusersGenerator

    folder = str(folder)
    index = json.loads((Path(folder) / "model_index.json").read_text())
    kwargs: dict[str, Any] = {"local_files_only": True}
    if index.get("_class_name") == "PixelDiffusionPipeline":
        kwargs.update(
            num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_GUIDANCE, batch_size=64
        )
    kwargs.update(generator_kwargs)
    return DiffusersGenerator(folder, **kwargs)


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


def fit_text_to_image(
    captions: Sequence[str],
    images: Any,
    *,
    base: Any = None,
    output_dir: str | os.PathLike,
    max_train_steps: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    lr_warmup_steps: int = 500,
    weight_decay: float = 1e-2,
    ema_decay: float = 0.9995,
    caption_dropout: float = 0.1,
    random_flip: bool = True,
    train_text_encoder: bool | None = None,
    model_size: str = "small",
    unet_config: Mapping[str, Any] | None = None,
    text_encoder_config: Mapping[str, Any] | None = None,
    empty_caption: str = "nothing",
    seed: int = 0,
    checkpoint_every: int = 1000,
    resume: bool = True,
    device: Any = None,
    verbose: int = 1,
) -> Any:
    """Train or fine-tune a text-to-image diffusion pipeline on (caption, image) pairs.

    With ``base=None`` a small pixel-space model is trained from scratch
    (:func:`make_pixel_pipeline`): v-prediction over a cosine noise schedule,
    sampled with DPM-Solver++. With ``base`` a diffusers pipeline (Stable
    Diffusion, say) is fine-tuned the way its scheduler was trained, as the
    DEPICT paper did per domain: its UNet, and its text encoder if asked.

    The loop is AdamW with linear warm-up, random horizontal flips,
    ``caption_dropout`` of captions replaced by the empty prompt (for
    classifier-free guidance), gradient clipping at 1 and an exponential
    moving average (diffusers' ``EMAModel``) of the trained weights, which is
    what gets saved. Every random draw comes from one generator seeded with
    ``seed``. Every ``checkpoint_every`` steps, and at the end, the model, its
    average, the optimiser, the step and the random state go to
    ``output_dir/checkpoint``; a later call with ``resume=True`` continues
    from there, so a run can be interrupted, or extended by calling again with
    a larger ``max_train_steps``. The per-step losses are appended to
    ``output_dir/loss_log.jsonl``.

    Parameters
    ----------
    captions : sequence of str
        One caption per image. With ``base=None`` an empty caption is replaced
        by ``empty_caption``, in training and in generation.
    images : array-like of shape (n, height, width, channels)
        Floats in [0, 1] or uint8.
    base : str, path-like, DiffusionPipeline or None, default=None
        None trains a new pixel-space model. A folder or Hub id (loaded with
        ``DiffusionPipeline.from_pretrained``) or a pipeline object (copied,
        not changed) is fine-tuned.
    output_dir : str or path-like
        Where the pipeline is saved (``save_pretrained``, safetensors).
    max_train_steps : int
        Total optimiser steps, counting those of a resumed checkpoint.
    batch_size : int, default=32
        Pairs per step, drawn with replacement.
    learning_rate : float, default=1e-3
        Peak AdamW learning rate; about 1e-5 suits fine-tuning a large model.
    lr_warmup_steps : int, default=500
        Steps of linear warm-up; constant afterwards.
    weight_decay : float, default=1e-2
        AdamW weight decay.
    ema_decay : float, default=0.9995
        Largest decay of the weights' moving average (warmed up).
    caption_dropout : float, default=0.1
        Fraction of captions replaced by the empty prompt.
    random_flip : bool, default=True
        Flip images left-right at random. Turn off where direction matters.
    train_text_encoder : bool, default=None
        None trains it from scratch and freezes it when fine-tuning.
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
    device : str or torch.device, default=None
        None uses CUDA when available, else the CPU.
    verbose : int, default=1
        Show a progress bar with the loss.

    Returns
    -------
    generator : DiffusersGenerator
        For the saved pipeline.

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
    """
    import torch
    from diffusers import DDPMScheduler, DiffusionPipeline
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    captions = [str(c) for c in captions]
    pixels = _images_tensor(images)
    n = len(captions)
    if n == 0 or pixels.shape[0] != n:
        raise ValueError(f"Need one caption per image; got {n} captions, {pixels.shape[0]} images.")
    if int(max_train_steps) < 0 or int(batch_size) < 1:
        raise ValueError("max_train_steps must be >= 0 and batch_size >= 1.")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    # -- the pipeline, and how images and captions enter the UNet ------------
    if base is None:
        pipe = make_pixel_pipeline(
            captions, image_size=pixels.shape[2], channels=pixels.shape[1], size=model_size,
            unet_config=unet_config, text_encoder_config=text_encoder_config,
            empty_caption=empty_caption, seed=seed,
        )  # fmt: skip
        captions = pipe.prepare_prompts(captions)
        train_text_encoder = True if train_text_encoder is None else bool(train_text_encoder)
    elif hasattr(base, "unet"):
        pipe = copy.deepcopy(base)
    else:
        pipe = DiffusionPipeline.from_pretrained(str(base))
    if base is not None and train_text_encoder is None:
        train_text_encoder = False
    unet, text_encoder, tokenizer = pipe.unet, pipe.text_encoder, pipe.tokenizer
    vae = getattr(pipe, "vae", None)
    pipe.to(dev)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    prediction = noise_scheduler.config.prediction_type

    def to_model_space(x: Any, rng: Any) -> Any:
        if vae is None:
            return pipe.to_model_space(x)
        with torch.no_grad():
            dist = vae.encode(x * 2.0 - 1.0).latent_dist
            return dist.sample(generator=rng) * vae.config.scaling_factor

    # -- what is trained, and how ---------------------------------------------
    if vae is not None:
        vae.requires_grad_(False).eval()
    text_encoder.requires_grad_(train_text_encoder).train(train_text_encoder)
    unet.train()
    params = [p for m in (unet, text_encoder) for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    lr_schedule = get_scheduler(
        "constant_with_warmup", optimizer, num_warmup_steps=int(lr_warmup_steps)
    )
    ema = EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=3 / 4)
    rng = torch.Generator("cpu").manual_seed(int(seed))
    step = 0

    ckpt_path = out / _CHECKPOINT / "state.pt"

    def save_checkpoint() -> None:
        state = {
            "step": step,
            "unet": unet.state_dict(),
            "text_encoder": text_encoder.state_dict() if train_text_encoder else None,
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
            "lr_schedule": lr_schedule.state_dict(),
            "rng": rng.get_state(),
        }
        ckpt_path.parent.mkdir(exist_ok=True)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, ckpt_path)  # an interruption never leaves half a checkpoint
        with open(out / _LOSS_LOG, "a") as log:
            log.writelines(json.dumps({"step": s, "loss": v}) + "\n" for s, v in pending)
        pending.clear()

    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        step = int(state["step"])
        unet.load_state_dict(state["unet"])
        if train_text_encoder:
            text_encoder.load_state_dict(state["text_encoder"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        lr_schedule.load_state_dict(state["lr_schedule"])
        rng.set_state(state["rng"])
    else:
        (out / _LOSS_LOG).unlink(missing_ok=True)
    ema.to(dev)

    # -- the loop ----------------------------------------------------------------
    pending: list[tuple[int, float]] = []
    bar = tqdm(total=int(max_train_steps), initial=min(step, int(max_train_steps)),
               disable=not verbose, desc="fit_text_to_image")  # fmt: skip
    running = None
    while step < int(max_train_steps):
        idx = torch.randint(n, (int(batch_size),), generator=rng)
        x = pixels[idx]
        if random_flip:
            flip = torch.rand(len(idx), generator=rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        drop = (torch.rand(len(idx), generator=rng) < caption_dropout).tolist()
        prompts = ["" if d else captions[i] for d, i in zip(drop, idx.tolist())]
        latents = to_model_space(x.to(dev), rng)
        noise = torch.randn(latents.shape, generator=rng).to(dev)
        t = torch.randint(
            noise_scheduler.config.num_train_timesteps, (len(idx),), generator=rng
        ).to(dev)
        noisy = noise_scheduler.add_noise(latents, noise, t)
        target = (
            noise if prediction == "epsilon" else noise_scheduler.get_velocity(latents, noise, t)
        )

        with torch.set_grad_enabled(train_text_encoder):
            hidden = _encode_text(tokenizer, text_encoder, prompts, dev)
        loss = torch.nn.functional.mse_loss(unet(noisy, t, hidden).sample.float(), target.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        lr_schedule.step()
        ema.step(params)

        step += 1
        value = float(loss.detach())
        pending.append((step, value))
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        if checkpoint_every and step % int(checkpoint_every) == 0:
            save_checkpoint()
    bar.close()
    if pending or not ckpt_path.exists():
        save_checkpoint()

    # -- save the averaged weights ----------------------------------------------
    ema.store(params)
    ema.copy_to(params)
    unet.eval()
    text_encoder.eval()
    pipe.save_pretrained(out, safe_serialization=True)
    ema.restore(params)
    return load_generator(out)
