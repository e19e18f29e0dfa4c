"""LoRA adapters for :class:`~sklearn_depict.generators.diffusers.DiffusersGenerator`.

Resolves and validates the ``lora`` parameter (folders or files of
diffusers-format LoRA weights), names adapters after their content, and loads,
scales, fuses and switches them on a pipeline. Validation reads only the
safetensors header, so bad adapters are reported before torch is imported and
before any image is made.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ADAPTER_PREFIX",
    "LORA_WEIGHT_NAME",
    "TRAINING_RECORD",
    "activated",
    "adapter_folder_base",
    "adapter_name",
    "check_foreign_adapters",
    "check_lora_scales",
    "fuse",
    "is_generator_adapter_key",
    "load_adapters",
    "read_training_record",
    "resolve_lora_files",
    "text_encoder_lora_problem",
]

#: The file ``save_lora_weights`` writes, and the one looked for in a folder.
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"

#: Adapters loaded by a generator are named ``ADAPTER_PREFIX + digest``.
ADAPTER_PREFIX = "sklearn_depict_"

# A peft adapter tensor of a generator's adapter, in a module's state_dict.
_OWN_ADAPTER_KEY = re.compile(rf"\.lora_[A-Za-z_]+\.{ADAPTER_PREFIX}[0-9a-f]+(\.|$)")

# safetensors files start with an 8-byte header length, then a JSON header.
_MAX_HEADER = 100 << 20


def resolve_lora_files(lora: Any) -> list[str]:
    """The adapter files named by ``lora``: absolute paths, in order.

    ``lora`` is a folder holding ``pytorch_lora_weights.safetensors`` (or a
    single ``.safetensors`` file), such a file, or a list of these. Each file
    must be a safetensors file whose tensor names all contain ``"lora"``, as
    diffusers' ``load_lora_weights`` requires; only its header is read.
    """
    if isinstance(lora, (str, os.PathLike)):
        entries = [lora]
    elif isinstance(lora, Sequence) and not isinstance(lora, (bytes, bytearray)):
        entries = list(lora)
        if not entries:
            raise ValueError("lora is an empty list; give None for no adapter.")
    else:
        raise TypeError(
            "lora must be None, a folder or .safetensors file of diffusers-format "
            f"LoRA weights, or a list of them; got {type(lora).__name__}."
        )
    files = []
    for entry in entries:
        if not isinstance(entry, (str, os.PathLike)):
            raise TypeError(f"Each lora entry must be a path, got {entry!r}.")
        path = Path(entry).expanduser()
        if path.is_dir():
            path = _weights_in_folder(path)
        elif not path.is_file():
            raise FileNotFoundError(
                f"lora: {os.fspath(entry)!r} is neither a folder nor a file. Give the "
                "output_dir of fit_text_to_image(method='lora'), a folder written by "
                f"save_lora_weights, or its {LORA_WEIGHT_NAME} file."
            )
        elif path.suffix != ".safetensors":
            raise ValueError(
                f"lora: {str(path)!r} is not a .safetensors file. Only safetensors "
                "adapters are loaded (pickled .bin files can run code); convert it "
                "with diffusers' save_lora_weights(..., safe_serialization=True)."
            )
        _check_lora_keys(path)
        files.append(str(path.resolve()))
    if len(set(files)) != len(files):
        raise ValueError(f"lora lists the same adapter file twice: {files}.")
    return files


def _weights_in_folder(folder: Path) -> Path:
    standard = folder / LORA_WEIGHT_NAME
    if standard.is_file():
        return standard
    found = sorted(folder.glob("*.safetensors"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(
        f"lora: the folder {str(folder)!r} holds no {LORA_WEIGHT_NAME}"
        + (f" and {len(found)} other .safetensors files; name the file instead." if found else ".")
    )


def _check_lora_keys(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER:
                raise ValueError("header too large")
            header = json.loads(handle.read(length))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"lora: {str(path)!r} is not a readable safetensors file ({exc})."
        ) from None
    names = [key for key in header if key != "__metadata__"]
    if not names or not all("lora" in key for key in names):
        example = next((key for key in names if "lora" not in key), None)
        raise ValueError(
            f"lora: {str(path)!r} does not hold LoRA weights"
            + (f" (tensor {example!r} is not a LoRA tensor)" if example else " (no tensors)")
            + ". A full checkpoint is a model, not an adapter: pass its folder as "
            "DiffusersGenerator's model."
        )


#: The record ``fit_text_to_image(method="lora")`` writes beside its adapters.
TRAINING_RECORD = "lora_training.json"


def read_training_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The record of a LoRA training run in ``folder``, or None."""
    path = Path(folder) / TRAINING_RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def adapter_folder_base(folder: Any) -> tuple[bool, str | None]:
    """Whether ``folder`` holds LoRA adapters instead of a pipeline, and their base.

    Such a folder (the ``output_dir`` of ``fit_text_to_image(method="lora")``,
    or one written by ``save_lora_weights``) has a ``LORA_WEIGHT_NAME`` file
    and no ``model_index.json``. Its base model is the one named in the
    ``lora_training.json`` that ``fit_text_to_image`` writes, when there is
    one. Lets the errors for a model given as such a folder say to pass it as
    ``lora`` (``--lora`` on the command line) instead.

    Returns
    -------
    is_adapter_folder : bool
    base : str or None
        The recorded base model, or None when none is recorded.
    """
    path = Path(os.fspath(folder)).expanduser()
    if (path / "model_index.json").exists() or not (path / LORA_WEIGHT_NAME).is_file():
        return False, None
    try:
        base = (read_training_record(path) or {}).get("base")
    except (OSError, ValueError, AttributeError):  # unreadable: no base to suggest
        base = None
    return True, base if isinstance(base, str) else None


def check_lora_scales(lora_scale: Any, n_adapters: int) -> list[float]:
    """One finite scale per adapter, from a number or a list of them.

    Examples
    --------
    >>> from sklearn_depict.generators.lora_loading import check_lora_scales
    >>> check_lora_scales(0.5, 2)
    [0.5, 0.5]
    >>> check_lora_scales([1, 0.25], 2)
    [1.0, 0.25]
    """
    if isinstance(lora_scale, (list, tuple)):
        scales = list(lora_scale)
        if len(scales) != n_adapters:
            raise ValueError(
                f"lora_scale lists {len(scales)} scales for {n_adapters} adapter(s); "
                "give one number for all, or one per adapter."
            )
    else:
        scales = [lora_scale] * n_adapters
    for scale in scales:
        if (
            isinstance(scale, (bool, np.bool_))
            or not isinstance(scale, (int, float, np.integer, np.floating))
            or not math.isfinite(float(scale))
        ):
            raise ValueError(
                f"lora_scale must be a finite number or a list of them, got {lora_scale!r}."
            )
    return [float(scale) for scale in scales]


def adapter_name(digest: str) -> str:
    """The name of an adapter in a pipeline: fixed by its file's content.

    Examples
    --------
    >>> from sklearn_depict.generators.lora_loading import adapter_name
    >>> adapter_name("0123456789abcdef" * 4)
    'sklearn_depict_0123456789abcdef'
    """
    return ADAPTER_PREFIX + digest[:16]


def is_generator_adapter_key(key: str) -> bool:
    """Whether a state_dict key is a tensor of an adapter a generator loaded.

    Examples
    --------
    >>> from sklearn_depict.generators.lora_loading import is_generator_adapter_key
    >>> is_generator_adapter_key("attn1.to_q.lora_A.sklearn_depict_0a1b.weight")
    True
    >>> is_generator_adapter_key("attn1.to_q.base_layer.weight")
    False
    """
    return _OWN_ADAPTER_KEY.search(key) is not None


def text_encoder_lora_problem() -> str | None:
    """Why text-encoder adapters cannot be used here, or None if they can.

    diffusers hands a text encoder's adapter to transformers' PEFT integration,
    which demands its own minimum peft version (0.22 for transformers 5.x).
    """
    from importlib import metadata

    from packaging.version import Version

    try:
        from transformers.integrations import peft as transformers_peft
    except ImportError:
        return None
    need = getattr(transformers_peft, "MIN_PEFT_VERSION", None)
    try:
        have = metadata.version("peft")
    except metadata.PackageNotFoundError:
        have = "none"
    if need is None or (have != "none" and Version(have) >= Version(need)):
        return None
    return (
        f"transformers {metadata.version('transformers')} handles text-encoder adapters "
        f"only with peft>={need}, and peft {have} is installed"
    )


def _has_text_encoder_part(path: str) -> bool:
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return any(key.startswith("text_encoder") for key in json.loads(handle.read(length)))


def load_adapters(pipe: Any, files: Sequence[str], names: Sequence[str]) -> None:
    """Load the adapters not yet in ``pipe``, each from its file, by name."""
    _require_lora_support(pipe)
    with_text = [path for path in files if _has_text_encoder_part(path)]
    problem = text_encoder_lora_problem() if with_text else None
    if problem:
        raise ImportError(
            f"The adapter {with_text[0]!r} has a text-encoder part, and {problem}. "
            'Upgrade peft (pip install -U "peft>=0.22"), or use an adapter trained '
            "with train_text_encoder=False."
        )
    from diffusers.utils import logging as diffusers_logging

    present = {name for names_ in pipe.get_list_adapters().values() for name in names_}
    # diffusers logs a warning for each component an adapter leaves alone (most
    # adapters have no text-encoder part); that is normal, not news.
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        for path, name in zip(files, names):
            if name not in present:
                pipe.load_lora_weights(
                    os.path.dirname(path), weight_name=os.path.basename(path), adapter_name=name
                )
    finally:
        diffusers_logging.set_verbosity(verbosity)


def fuse(pipe: Any, names: Sequence[str], scales: Sequence[float]) -> None:
    """Fuse the adapters at their scales into the weights and drop the LoRA layers."""
    pipe.set_adapters(list(names), adapter_weights=list(scales))
    components = [c for c in pipe.get_list_adapters() if getattr(pipe, c, None) is not None]
    pipe.fuse_lora(components=components, lora_scale=1.0, adapter_names=list(names))
    # Without the LoRA layers the fused model runs at the base model's speed.
    pipe.unload_lora_weights()


def check_foreign_adapters(pipe: Any) -> None:
    """Refuse a pipeline object that carries adapters of its own."""
    if not hasattr(pipe, "get_list_adapters"):
        return
    foreign = sorted(
        {
            name
            for names in pipe.get_list_adapters().values()
            for name in names
            if not name.startswith(ADAPTER_PREFIX)
        }
    )
    if foreign:
        raise ValueError(
            f"The pipeline already holds LoRA adapters {foreign}; with lora=... the "
            "generator switches adapters around each call and would lose their "
            "settings. Fuse them first (pipe.fuse_lora(); pipe.unload_lora_weights()), "
            "or pass their files in lora=[...] instead of loading them yourself."
        )


@contextmanager
def activated(pipe: Any, names: Sequence[str], scales: Sequence[float]) -> Iterator[None]:
    """Only these adapters, at these scales, for one call; all off afterwards."""
    pipe.enable_lora()
    pipe.set_adapters(list(names), adapter_weights=list(scales))
    try:
        yield
    finally:
        # The pipeline object is shared: a generator without adapters must find
        # it as it was, the base model.
        pipe.disable_lora()


def _require_lora_support(pipe: Any) -> None:
    if not hasattr(pipe, "load_lora_weights"):
        raise TypeError(
            f"{type(pipe).__name__} cannot load LoRA weights (it has no "
            "load_lora_weights); lora=... needs a pipeline with diffusers' LoRA "
            "loader, such as StableDiffusionPipeline."
        )
    from importlib.util import find_spec

    if find_spec("peft") is None:
        raise ImportError(
            "lora=... needs peft, the backend of diffusers' LoRA loading. Install it "
            'with: pip install "sklearn-depict[diffusion]" (or pip install "peft>=0.17").'
        )
