"""Build a pixel-space pipeline, and load what :func:`fit_text_to_image` saved."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["load_generator", "make_pixel_pipeline"]

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


def load_generator(
    folder: str | os.PathLike, *, base: Any = None, **generator_kwargs: Any
) -> Any:
    """A :class:`DiffusersGenerator` for a folder written by :func:`fit_text_to_image`.

    Parameters
    ----------
    folder : str or path-like
        The saved pipeline, or the adapter folder of a ``method="lora"`` run:
        the generator then applies the adapter to the base model named in the
        folder's ``lora_training.json``.
    base : str, path-like or DiffusionPipeline, default=None
        The base model of a LoRA folder, instead of the recorded one (needed
        when the adapter was trained from a pipeline object).
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
    from .lora_training import TRAINING_RECORD, read_training_record

    folder = str(folder)
    model: Any = folder
    kwargs: dict[str, Any] = {"local_files_only": True}
    record = read_training_record(folder)
    if record is not None:
        model = base if base is not None else record.get("base")
        if model is None:
            raise ValueError(
                f"The adapter in {folder} was trained from a pipeline object, so its "
                f"{TRAINING_RECORD} names no base model; pass it: load_generator(folder, "
                "base=pipeline_or_folder)."
            )
        kwargs["lora"] = folder
    elif base is not None:
        raise ValueError(f"{folder} holds a whole pipeline, not a LoRA adapter; drop base=.")
    if _is_pixel_pipeline(model):
        kwargs.update(
            num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_GUIDANCE, batch_size=64
        )
    kwargs.update(generator_kwargs)
    return DiffusersGenerator(model, **kwargs)


def _is_pixel_pipeline(model: Any) -> bool:
    if not isinstance(model, (str, os.PathLike)):
        return type(model).__name__ == "PixelDiffusionPipeline"
    index = Path(model) / "model_index.json"
    return index.is_file() and (
        json.loads(index.read_text()).get("_class_name") == "PixelDiffusionPipeline"
    )
