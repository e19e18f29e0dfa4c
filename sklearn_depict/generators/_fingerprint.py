"""What a diffusers model is, as hashes: the identity behind the fingerprint.

A model folder is identified by the sha256 of its configuration, tokenizer and
safetensors files; a pipeline object by its components' configurations and
the bytes of every tensor. Both are expensive for a large model, so each
digest is computed once per process and reused while the file (size, times,
inode) or the tensors (identity, version counter) stay the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import lora_loading as _lora

__all__ = [
    "FILE_DIGESTS",
    "clear_digests",
    "file_digest",
    "folder_digests",
    "folder_signature",
    "loose_json",
    "model_files",
    "model_index",
    "pipeline_digest",
    "pipeline_state",
    "public_config",
    "scheduler_description",
    "sha256",
    "stat_key",
    "strict_json",
]

# Weight formats that are never loaded (the generator loads safetensors only)
# and files that cannot change pixels: left out of the model's identity.
_UNUSED_SUFFIXES = (
    ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".pb", ".md",
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".lock",
)  # fmt: skip

# Components switched off while generating: they cannot change the pixels.
_UNUSED_COMPONENTS = frozenset({"safety_checker", "feature_extractor"})


# sha256 of model files, keyed by (real path, size, mtime, inode, ctime).
FILE_DIGESTS: dict[tuple, str] = {}

# sha256 of the tensors of in-memory nn.Modules: id(module) -> (weak reference,
# signature of its tensors, digest). The signature changes when a tensor is
# replaced or modified in place through autograd-visible operations.
_MODULE_DIGESTS: dict[int, tuple[Any, tuple, str]] = {}


def clear_digests() -> None:
    """Forget every digest computed by this process."""
    FILE_DIGESTS.clear()
    _MODULE_DIGESTS.clear()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def strict_json(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{value!r} of type {type(value).__name__} is not a plain JSON value")


def loose_json(value: Any) -> Any:
    # For configurations: anything else is described by its type and repr.
    try:
        return strict_json(value)
    except TypeError:
        return f"<{type(value).__module__}.{type(value).__qualname__}> {value!r}"


def scheduler_description(scheduler: Any) -> Any:
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", scheduler):
            raise ValueError(
                "scheduler must be a class name of diffusers such as "
                f"'DPMSolverMultistepScheduler', got {scheduler!r}."
            )
        return {"class": scheduler}
    if isinstance(scheduler, type):
        if not hasattr(scheduler, "from_config"):
            raise TypeError(f"scheduler class {scheduler!r} has no from_config.")
        return {"class": f"{scheduler.__module__}.{scheduler.__qualname__}"}
    if hasattr(scheduler, "config") and hasattr(scheduler, "from_config"):
        cls = type(scheduler)
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "config": public_config(scheduler.config),
        }
    raise TypeError(
        "scheduler must be None, a diffusers scheduler class name, a scheduler "
        f"class or a scheduler object; got {scheduler!r}."
    )


def public_config(config: Any) -> dict[str, Any]:
    items = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    payload = {k: v for k, v in items.items() if not str(k).startswith("_")}
    for private in ("name_or_path", "transformers_version"):
        payload.pop(private, None)
    return json.loads(json.dumps(payload, sort_keys=True, default=loose_json))


# ----------------------------------------------------------------------
# Model identity: folders
# ----------------------------------------------------------------------
def model_index(folder: str) -> dict[str, Any]:
    index = Path(folder) / "model_index.json"
    is_adapter, base = _lora.adapter_folder_base(folder)
    if is_adapter:
        raise ValueError(
            f"{folder} holds LoRA adapters, not a pipeline: pass the base model they "
            "adapt as model and this folder as lora=, as in DiffusersGenerator("
            f"{'base_model' if base is None else repr(base)}, lora={str(folder)!r})."
        )
    if not index.is_file():
        raise ValueError(
            f"{folder} holds no model_index.json, so it is not a diffusers pipeline "
            "folder. DiffusersGenerator loads folders written by save_pretrained; "
            "for a single-file checkpoint, load it with the pipeline's "
            "from_single_file and pass the pipeline object."
        )
    return json.loads(index.read_text(encoding="utf-8"))


def model_files(folder: str) -> list[str]:
    """The files that decide the pipeline: index, configs, tokenizers, weights."""
    root = Path(folder)
    index = model_index(folder)
    components = [
        name
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, (list, tuple))
        and len(value) == 2
        and value[0] is not None
    ]
    files = ["model_index.json"]
    files += sorted(
        p.name
        for p in root.iterdir()
        if p.is_file() and p.suffix in (".py", ".json") and p.name != "model_index.json"
    )
    for name in sorted(components):
        sub = root / name
        if not sub.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(sub):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith(".") or filename.lower().endswith(_UNUSED_SUFFIXES):
                    continue
                files.append(os.path.relpath(os.path.join(dirpath, filename), root))
    return [f.replace(os.sep, "/") for f in files]


def stat_key(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def folder_signature(folder: str) -> tuple:
    """Cheap to compute; changes whenever a model file is rewritten."""
    return tuple(stat_key(os.path.join(folder, f)) for f in model_files(folder))


def file_digest(path: str) -> str:
    key = stat_key(path)
    digest = FILE_DIGESTS.get(key)
    if digest is None:
        real = key[0]
        name = os.path.basename(real)
        parent = os.path.basename(os.path.dirname(real))
        if parent == "blobs" and re.fullmatch(r"[0-9a-f]{64}", name):
            # The Hugging Face cache names large files by their sha256.
            digest = name
        elif path.endswith(".json") and key[1] < (1 << 24):
            digest = _json_digest(real)
        else:
            h = hashlib.sha256()
            with open(real, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 24), b""):
                    h.update(block)
            digest = h.hexdigest()
        FILE_DIGESTS[key] = digest
    return digest


def _json_digest(path: str) -> str:
    # save_pretrained records where a model was loaded from ("_name_or_path");
    # that cannot change pixels, so a re-saved copy keeps its fingerprint.
    raw = Path(path).read_bytes()
    try:
        content = json.loads(raw)
    except ValueError:
        return hashlib.sha256(raw).hexdigest()
    if isinstance(content, dict):
        content.pop("_name_or_path", None)
    return sha256(json.dumps(content, sort_keys=True))


def folder_digests(folder: str) -> list[list[str]]:
    # Relative names and contents, not the folder's location: a copy of the
    # same checkpoint elsewhere shares cache entries.
    return [[f, file_digest(os.path.join(folder, f))] for f in model_files(folder)]


# ----------------------------------------------------------------------
# Model identity: pipeline objects
# ----------------------------------------------------------------------
def pipeline_digest(pipe: Any) -> str:
    h = hashlib.sha256()
    h.update(f"{type(pipe).__module__}.{type(pipe).__qualname__}".encode())
    h.update(json.dumps(public_config(pipe.config), sort_keys=True).encode())
    for name, component in sorted(pipe.components.items()):
        cls = type(component)
        h.update(f"\x1e{name}:{cls.__module__}.{cls.__qualname__}".encode())
        if component is None or name in _UNUSED_COMPONENTS:
            continue
        config = getattr(component, "config", None)
        if config is not None and (hasattr(config, "to_dict") or isinstance(config, Mapping)):
            h.update(json.dumps(public_config(config), sort_keys=True).encode())
        if hasattr(component, "get_vocab"):
            h.update(_tokenizer_description(component).encode())
        if hasattr(component, "state_dict") and hasattr(component, "named_parameters"):
            h.update(_module_digest(component).encode())
    return h.hexdigest()


def _tokenizer_description(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        # A fast tokenizer serialises the truncation and padding of its last
        # call too: run-time state that the pipeline sets on every call, not
        # part of the model. Left in, a pipeline's fingerprint would change
        # after its first generate().
        content = json.loads(backend.to_str())
        if isinstance(content, dict):
            content.pop("truncation", None)
            content.pop("padding", None)
        text = json.dumps(content, sort_keys=True)
    else:
        merges = getattr(tokenizer, "bpe_ranks", None)
        text = json.dumps(
            [sorted(tokenizer.get_vocab().items()), sorted(map(list, merges or {}))],
            default=loose_json,
        )
    extra = [
        getattr(tokenizer, "model_max_length", None),
        getattr(tokenizer, "padding_side", None),
        getattr(tokenizer, "truncation_side", None),
    ]
    return text + json.dumps(extra, default=loose_json)


def pipeline_state(pipe: Any) -> tuple:
    """What :func:`pipeline_digest` depends on, cheaply: no tensor is read.

    Equal states give equal digests: the components (by identity), their
    configurations, each tokenizer's size and settings, and the signature of
    every tensor (identity, storage, in-place version counter).
    """
    config = json.dumps(public_config(pipe.config), sort_keys=True)
    state: list[Any] = [id(pipe), type(pipe), config]
    for name, component in sorted(pipe.components.items()):
        state.append((name, id(component), type(component)))
        if component is None or name in _UNUSED_COMPONENTS:
            continue
        config = getattr(component, "config", None)
        if config is not None and (hasattr(config, "to_dict") or isinstance(config, Mapping)):
            state.append(json.dumps(public_config(config), sort_keys=True))
        if hasattr(component, "get_vocab"):
            state.append(
                (
                    len(component),
                    getattr(component, "model_max_length", None),
                    getattr(component, "padding_side", None),
                    getattr(component, "truncation_side", None),
                )
            )
        if hasattr(component, "state_dict") and hasattr(component, "named_parameters"):
            state.append(_tensor_signature(_module_tensors(component)))
    return tuple(state)


def _module_tensors(module: Any) -> list[tuple[str, Any]]:
    # The adapters a generator loads into a pipeline object are described by
    # their files, not here; peft's wrapping (".base_layer") renames but does
    # not change the base weights. So loading them leaves the digest as it was.
    return [
        (name.replace(".base_layer.", "."), t)
        for name, t in module.state_dict(keep_vars=True).items()
        if not _lora.is_generator_adapter_key(name)
    ]


def _tensor_signature(tensors: list[tuple[str, Any]]) -> tuple:
    """Changes when a tensor is replaced or modified in place (autograd-visibly)."""
    return tuple(
        (name, id(t), t.data_ptr(), t._version, tuple(t.shape), str(t.dtype), str(t.device))
        for name, t in tensors
    )


def _module_digest(module: Any) -> str:
    import torch

    tensors = _module_tensors(module)
    signature = _tensor_signature(tensors)
    memo = _MODULE_DIGESTS.get(id(module))
    if memo is not None and memo[0]() is module and memo[1] == signature:
        return memo[2]
    h = hashlib.sha256()
    for name, tensor in tensors:
        if tensor.device.type == "meta":
            raise ValueError(
                f"Parameter {name!r} of {type(module).__name__} is on the 'meta' "
                "device, so its values cannot be fingerprinted. Pass a folder or "
                "Hub id instead, or a pipeline whose weights are materialised."
            )
        raw = tensor.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy()
        h.update(f"\x1e{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        h.update(memoryview(raw))
    digest = h.hexdigest()
    for key in [k for k, v in _MODULE_DIGESTS.items() if v[0]() is None]:
        del _MODULE_DIGESTS[key]
    _MODULE_DIGESTS[id(module)] = (weakref.ref(module), signature, digest)
    return digest
