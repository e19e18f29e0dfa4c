"""The checks of a diffusers generator's parameters and seeds.

They run before any model is loaded or image generated, so that a mistake is
reported at once, in scikit-learn's words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._torch_utils import dtype_name
from . import lora_loading as _lora
from ._diffusers_backend import is_int, is_model_reference
from ._fingerprint import scheduler_description, strict_json

__all__ = ["check_lora", "check_params", "check_seed"]

# Arguments of the pipeline call that the generator sets itself.
_RESERVED_CALL_ARGS = frozenset(
    {
        "prompt", "negative_prompt", "generator", "num_inference_steps",
        "guidance_scale", "height", "width", "output_type", "return_dict",
        "num_images_per_prompt", "latents", "prompt_embeds",
        "negative_prompt_embeds", "callback", "callback_steps",
        "callback_on_step_end",
    }
)  # fmt: skip


def check_params(generator: Any) -> tuple[list[str], list[float]] | None:
    """Validate the generator's parameters; its adapters' files and scales, if any."""
    model = generator.model
    if not is_model_reference(model) and not (
        callable(model) and hasattr(model, "components")
    ):
        raise TypeError(
            "The 'model' parameter of DiffusersGenerator must be a folder, a "
            f"Hub id or a diffusers pipeline object; got {type(model).__name__}."
        )
    for name in ("num_inference_steps", "batch_size"):
        value = getattr(generator, name)
        if not is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
    for name in ("height", "width"):
        value = getattr(generator, name)
        if value is not None and (not is_int(value) or value < 1):
            raise ValueError(f"{name} must be None or an int >= 1, got {value!r}.")
    if isinstance(generator.guidance_scale, bool) or not isinstance(
        generator.guidance_scale, (int, float, np.integer, np.floating)
    ):
        raise ValueError(f"guidance_scale must be a number, got {generator.guidance_scale!r}.")
    negative = generator.negative_prompt
    if negative is not None and not isinstance(negative, str):
        raise TypeError(f"negative_prompt must be None or a str, got {negative!r}.")
    dtype_name(generator.torch_dtype)
    scheduler_description(generator.scheduler)
    kwargs = generator.pipeline_kwargs
    if kwargs is not None:
        if not isinstance(kwargs, Mapping):
            raise TypeError(f"pipeline_kwargs must be None or a dict, got {kwargs!r}.")
        reserved = sorted(_RESERVED_CALL_ARGS.intersection(kwargs))
        if reserved:
            raise ValueError(
                f"pipeline_kwargs may not set {reserved}: DiffusersGenerator sets "
                "them from its own parameters, and per-image seeds need it to own "
                "the generators and latents."
            )
        try:
            json.dumps(dict(kwargs), default=strict_json)
        except TypeError as exc:
            raise TypeError(
                "pipeline_kwargs values must be plain JSON values (numbers, "
                "strings, booleans, None, lists or dicts) so that the "
                f"fingerprint can describe them: {exc}"
            ) from None
    cls = generator.pipeline_class
    if cls is not None:
        if not (isinstance(cls, type) and hasattr(cls, "from_pretrained")):
            raise TypeError(
                "pipeline_class must be None or a pipeline class with "
                f"from_pretrained, such as diffusers.StableDiffusionPipeline; got {cls!r}."
            )
        if not is_model_reference(model):
            raise ValueError(
                "pipeline_class chooses how a folder or Hub id is loaded; the "
                "pipeline object passed as model already has its class. Drop "
                "pipeline_class, or pass the folder instead."
            )
    return check_lora(generator)

def check_lora(generator: Any) -> tuple[list[str], list[float]] | None:
    if not isinstance(generator.fuse_lora, (bool, np.bool_)):
        raise TypeError(f"fuse_lora must be a bool, got {generator.fuse_lora!r}.")
    if generator.lora is None:
        if generator.fuse_lora:
            raise ValueError("fuse_lora=True needs adapters to fuse; set lora=... too.")
        _lora.check_lora_scales(generator.lora_scale, 1)
        return None
    files = _lora.resolve_lora_files(generator.lora)
    scales = _lora.check_lora_scales(generator.lora_scale, len(files))
    if generator.fuse_lora and not is_model_reference(generator.model):
        raise ValueError(
            "fuse_lora=True would change the weights of the pipeline object you "
            "passed as model. Pass its folder or Hub id instead (the generator "
            "then fuses its own copy), or keep fuse_lora=False."
        )
    return files, scales


def check_seed(seed: Any, position: int) -> int:
    if not is_int(seed):
        raise TypeError(f"Seeds must be int, got {seed!r} at position {position}.")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"Seeds must lie in [0, 2**64), got {seed} at position {position}.")
    return seed
