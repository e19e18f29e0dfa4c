"""LoRA adapters for :func:`~sklearn_depict.text_to_image.fit_text_to_image`.

The recipe of diffusers' ``train_text_to_image_lora.py``: peft adapters
attached with ``add_adapter`` to the attention projections of a frozen UNet
(and, if asked, of the text encoder), saved in diffusers' LoRA format with
``save_lora_weights`` so that plain diffusers loads them with
``load_lora_weights``.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..generators.lora_loading import TRAINING_RECORD, read_training_record

__all__ = [
    "TEXT_ENCODER_TARGETS",
    "TRAINING_RECORD",
    "UNET_TARGETS",
    "add_lora_adapters",
    "check_lora_options",
    "read_training_record",
    "save_lora_adapters",
    "trainable_state",
]

#: Attention projections of diffusers' UNet that get adapters by default.
UNET_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
#: Attention projections of CLIP's text encoder that get adapters.
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")

#: What ``fit_text_to_image(method="lora")`` writes next to the adapter: the
#: base model it adapts and the adapter's settings.

_ADAPTER = "default"


def check_lora_options(rank: Any, alpha: Any, target_modules: Any) -> tuple[int, float, list[str]]:
    """Validate the LoRA settings; (rank, alpha, UNet target modules).

    Examples
    --------
    >>> from sklearn_depict.text_to_image.lora_training import check_lora_options
    >>> check_lora_options(4, None, None)
    (4, 4.0, ['to_k', 'to_q', 'to_v', 'to_out.0'])
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"lora_rank must be an int >= 1, got {rank!r}.")
    if alpha is None:
        alpha = rank
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(f"lora_alpha must be None or a number > 0, got {alpha!r}.")
    if target_modules is None:
        targets = list(UNET_TARGETS)
    elif isinstance(target_modules, str) or not all(
        isinstance(t, str) for t in target_modules
    ):
        raise TypeError(
            "target_modules must be None or a list of module names such as "
            f"['to_q', 'to_k', 'to_v', 'to_out.0'], got {target_modules!r}."
        )
    else:
        targets = list(target_modules)
        if not targets:
            raise ValueError("target_modules is empty: no layer would get an adapter.")
    return rank, float(alpha), targets


def add_lora_adapters(
    unet: Any,
    text_encoder: Any,
    *,
    rank: int,
    alpha: float,
    target_modules: Sequence[str],
    train_text_encoder: bool,
    seed: int,
) -> None:
    """Freeze both models and attach trainable, seeded LoRA adapters.

    The adapters' initial weights come from ``seed`` (peft draws them from the
    global torch random state, which is left as it was).
    """
    import torch
    from peft import LoraConfig

    unet.requires_grad_(False)
    text_encoder.requires_grad_(False)
    missing = [t for t in target_modules if not _has_module(unet, t)]
    if missing:
        raise ValueError(
            f"target_modules {missing} match no layer of the UNet; its attention "
            f"projections are named {list(UNET_TARGETS)}."
        )
    adapted = [(unet, target_modules)]
    if train_text_encoder:
        adapted.append((text_encoder, TEXT_ENCODER_TARGETS))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for module, targets in adapted:
            # Gaussian A and zero B (diffusers' choice): training starts at the base model.
            config = LoraConfig(
                r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=list(targets)
            )
            module.add_adapter(config, adapter_name=_ADAPTER)


def _has_module(model: Any, target: str) -> bool:
    return any(name == target or name.endswith("." + target) for name, _ in model.named_modules())


def trainable_state(modules: dict[str, Any]) -> dict[str, Any]:
    """The trainable tensors of named modules, for a checkpoint."""
    return {
        f"{part}.{name}": param.detach().clone()
        for part, module in modules.items()
        for name, param in module.named_parameters()
        if param.requires_grad
    }


def load_trainable_state(modules: dict[str, Any], state: dict[str, Any]) -> None:
    """Put back what :func:`trainable_state` saved, checking it matches."""
    import torch

    current = {
        f"{part}.{name}": param
        for part, module in modules.items()
        for name, param in module.named_parameters()
        if param.requires_grad
    }
    if set(current) != set(state) or any(
        current[name].shape != state[name].shape for name in current
    ):
        raise ValueError(
            "The checkpoint's adapters do not match this run's (another lora_rank, "
            "target_modules or train_text_encoder?). Use the settings of the "
            "interrupted run, or resume=False to start over."
        )
    with torch.no_grad():
        for name, param in current.items():
            param.copy_(state[name])


def save_lora_adapters(pipe: Any, folder: str | os.PathLike, *, text_encoder: bool) -> Path:
    """Write the adapters in diffusers' LoRA format; the path of the weights file."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    saver = pipe if hasattr(pipe, "save_lora_weights") else StableDiffusionPipeline
    with_metadata = saves_adapter_metadata(saver)
    layers: dict[str, Any] = {}
    for part, present in (("unet", True), ("text_encoder", text_encoder)):
        if not present:
            continue
        module = getattr(pipe, part)
        config = module.peft_config[_ADAPTER]
        layers[f"{part}_lora_layers"] = convert_state_dict_to_diffusers(
            get_peft_model_state_dict(module, adapter_name=_ADAPTER)
        )
        if with_metadata:
            # The adapter's LoraConfig travels in the file, so loading needs no
            # guessing of lora_alpha or of the layers it covers.
            layers[f"{part}_lora_adapter_metadata"] = config.to_dict()
    saver.save_lora_weights(folder, safe_serialization=True, **layers)
    return Path(folder) / "pytorch_lora_weights.safetensors"


def saves_adapter_metadata(saver: Any = None) -> bool:
    """Whether ``save_lora_weights`` stores the adapter's LoraConfig (recent diffusers)."""
    if saver is None:
        from diffusers import StableDiffusionPipeline as saver
    return "unet_lora_adapter_metadata" in inspect.signature(saver.save_lora_weights).parameters


def check_alpha_is_storable(rank: int, alpha: float) -> None:
    """Fail before training when the adapter could not carry its lora_alpha."""
    if alpha != rank and not saves_adapter_metadata():
        # Without the config in the file, loaders assume alpha == rank and
        # would apply the adapter at the wrong strength.
        raise ValueError(
            f"lora_alpha={alpha} differs from lora_rank={rank}, and this diffusers "
            "cannot store lora_alpha with the adapter. Upgrade diffusers, or leave "
            "lora_alpha=None."
        )


def write_training_record(folder: str | os.PathLike, record: dict[str, Any]) -> None:
    path = Path(folder) / TRAINING_RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, path)
