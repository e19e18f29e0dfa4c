"""Loading the model of a diffusers generator, once per process.

A folder or Hub id is resolved to one local folder, loaded from safetensors
with the pipeline class its ``model_index.json`` names, given its LoRA
adapters, moved and configured, and kept in :data:`LOADED_PIPELINES` so that
other generators of this process (clones, copies unpickled in joblib workers)
reuse it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from importlib import import_module
from pathlib import Path
from typing import Any

from .._torch_utils import dtype_name, resolve_device
from . import lora_loading as _lora
from ._diffusers_backend import dtype_keyword, import_backend, is_model_reference, progress_bars
from ._fingerprint import FILE_DIGESTS, file_digest, folder_signature, model_index, stat_key

__all__ = [
    "LOADED_PIPELINES",
    "Runtime",
    "clear_loaded_pipelines",
    "package_pipeline_class",
    "pipeline_for",
    "resolve_model_folder",
]

#: The pipelines this process loaded from a path or Hub id, keyed by everything
#: that went into loading them: folder, its files' stat signature, device,
#: dtype, attention slicing and CPU offload switches, trust_remote_code, the
#: ``pipeline_class`` parameter and the adapters (files' stat keys, scales,
#: fusing). A joblib worker unpickles a fresh generator for every task; this is
#: what makes it load the model once and keep it. Only the most recent entry is
#: kept, so an unused multi-GB model does not linger. Pipeline objects passed
#: as ``model`` are never stored here.
LOADED_PIPELINES: OrderedDict[tuple, Any] = OrderedDict()
_MAX_LOADED = 1

# Pipeline classes of this package, by the class name that save_pretrained
# writes to model_index.json, and the module that defines each. diffusers
# resolves only its own classes by name. Looked up by module name, on first
# need, so that loading one imports neither the training code nor torch early.
_PACKAGE_PIPELINES = {"PixelDiffusionPipeline": "sklearn_depict.text_to_image.pipeline"}


def clear_loaded_pipelines() -> None:
    """Let go of the pipelines kept by :data:`LOADED_PIPELINES`."""
    LOADED_PIPELINES.clear()


def package_pipeline_class(name: Any) -> Any:
    """The pipeline class of this package that a saved model_index.json names, or None."""
    if not isinstance(name, str) or name not in _PACKAGE_PIPELINES:
        return None
    return getattr(import_module(_PACKAGE_PIPELINES[name]), name)


class Runtime:
    """What a generator has loaded: not parameters, never deep-copied."""

    # A class default too: a Runtime pickled before it kept fingerprints has none.
    fingerprint: tuple[tuple, str] | None = None

    def __init__(self) -> None:
        self.folder: str | None = None
        self.folder_for: tuple | None = None
        self.key: tuple | None = None
        self.pipe: Any = None
        self.file_digests: dict[tuple, str] = {}
        # (what the fingerprint depends on, cheaply; the fingerprint)
        self.fingerprint: tuple[tuple, str] | None = None

    def copy(self) -> Runtime:
        new = Runtime()
        new.__dict__.update(self.__dict__)
        new.file_digests = {}
        return new

    def portable(self) -> Runtime:
        new = Runtime()
        new.folder, new.folder_for = self.folder, self.folder_for
        if self.folder is not None and os.path.isdir(self.folder):
            signature = folder_signature(self.folder)
            new.file_digests = {
                key: FILE_DIGESTS[key] for key in signature if key in FILE_DIGESTS
            }
        return new

    def resolve_folder(self, generator: Any) -> str:
        """The local folder of a path or Hub id, resolved once per generator.

        A Hub id is resolved to one snapshot folder, which both the fingerprint
        and the loading use, so that they always describe the same files.
        """
        model = os.fspath(generator.model)
        ask = (model, bool(generator.local_files_only), bool(generator.trust_remote_code))
        if self.folder is not None and self.folder_for == ask and os.path.isdir(self.folder):
            return self.folder
        folder = resolve_model_folder(model, generator)
        self.folder, self.folder_for = folder, ask
        return folder


def resolve_model_folder(model: str, generator: Any) -> str:
    path = Path(model).expanduser()
    if path.is_dir():
        folder = str(path.resolve())
        model_index(folder)
        return folder
    looks_like_path = (
        path.is_absolute()
        or model.startswith(("./", "../", "~", ".\\", "..\\"))
        or model.count("/") > 1
        or path.exists()
    )
    if looks_like_path:
        raise FileNotFoundError(
            f"DiffusersGenerator: {model!r} is not a folder. Give a folder written "
            "by save_pretrained, a Hub id such as 'org/name', or a pipeline object."
        )
    _, diffusers = import_backend()
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "local_files_only": bool(generator.local_files_only),
    }
    if generator.trust_remote_code:
        kwargs["trust_remote_code"] = True
    try:
        with progress_bars(bool(generator.verbose)):
            folder = diffusers.DiffusionPipeline.download(model, **kwargs)
    except Exception as exc:
        raise OSError(
            f"DiffusersGenerator could not find the model {model!r} on the Hub or in "
            "the local Hugging Face cache. Without network (local_files_only=True or "
            "HF_HUB_OFFLINE=1) only models already in the cache can be used; a "
            "folder written by save_pretrained always can."
        ) from exc
    folder = str(Path(folder).resolve())
    model_index(folder)
    return folder


def device_for(generator: Any, torch: Any) -> str | None:
    """Where the generator's pipeline runs; None leaves a pipeline object where it is.

    Checked before the model is loaded: a device torch cannot use here raises
    a ValueError naming ``device``.
    """
    if generator.device is None and not (
        is_model_reference(generator.model) or generator.enable_model_cpu_offload
    ):
        return None  # a pipeline object stays where its owner put it
    return str(resolve_device(generator.device, torch, owner="DiffusersGenerator"))


def pipeline_for(generator: Any) -> Any:
    """The pipeline, loaded and moved where it runs."""
    torch, diffusers = import_backend(accelerate=bool(generator.enable_model_cpu_offload))
    device = device_for(generator, torch)
    if generator.enable_model_cpu_offload and (device is None or device == "cpu"):
        raise ValueError(
            "enable_model_cpu_offload=True keeps components on the CPU until a "
            f"GPU needs them; it needs a GPU device, got device={device!r}."
        )
    dtype_label = dtype_name(generator.torch_dtype)
    dtype = None if dtype_label is None else getattr(torch, dtype_label)
    switches = (bool(generator.enable_attention_slicing), bool(generator.enable_model_cpu_offload))
    runtime = generator._runtime_state()
    adapters = generator._check_lora()
    if not is_model_reference(generator.model):
        pipe = generator.model
        key = ("object", id(pipe), device, dtype_label, switches, adapters)
        if runtime.key != key or runtime.pipe is not pipe:
            if adapters is not None:
                _lora.check_foreign_adapters(pipe)
                _lora.load_adapters(pipe, adapters[0], adapter_names(adapters[0]))
                pipe.disable_lora()  # switched on only inside this generator's calls
            configure(pipe, device=device, dtype=dtype, switches=switches)
            runtime.key, runtime.pipe = key, pipe
        return pipe

    folder = runtime.resolve_folder(generator)
    key = (
        "folder",
        folder,
        folder_signature(folder),
        device,
        dtype_label,
        switches,
        bool(generator.trust_remote_code),
        generator.pipeline_class,
        None
        if adapters is None
        else (tuple(map(stat_key, adapters[0])), tuple(adapters[1]), bool(generator.fuse_lora)),
    )
    if runtime.key == key and runtime.pipe is not None:
        return runtime.pipe
    pipe = LOADED_PIPELINES.get(key)
    if pipe is None:
        # Let go of older pipelines first, so two never sit in memory at once.
        while LOADED_PIPELINES and len(LOADED_PIPELINES) >= _MAX_LOADED:
            LOADED_PIPELINES.popitem(last=False)
        pipe = load_pipeline(generator, folder, diffusers, dtype)
        if adapters is not None:
            apply_adapters(pipe, *adapters, bool(generator.fuse_lora))
        configure(pipe, device=device, dtype=None, switches=switches)
        LOADED_PIPELINES[key] = pipe
    runtime.key, runtime.pipe = key, pipe
    return pipe


def load_pipeline(generator: Any, folder: str, diffusers: Any, dtype: Any) -> Any:
    """Load a pipeline folder: safetensors only, no safety checker."""
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "local_files_only": bool(generator.local_files_only),
    }
    if dtype is not None:
        kwargs[dtype_keyword()] = dtype
    if generator.trust_remote_code:
        kwargs["trust_remote_code"] = True
    if "safety_checker" in model_index(folder):
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    own_class = generator.pipeline_class
    if own_class is None:
        own_class = package_pipeline_class(model_index(folder).get("_class_name"))
    with progress_bars(bool(generator.verbose)):
        if own_class is not None:
            # diffusers only resolves its own classes by name; pipelines this
            # package saves (such as the shipped shapes model) name ours.
            return own_class.from_pretrained(folder, **kwargs)
        try:
            return diffusers.AutoPipelineForText2Image.from_pretrained(folder, **kwargs)
        except ValueError as auto_error:
            # AutoPipeline only knows the text-to-image pipelines of diffusers.
            try:
                return diffusers.DiffusionPipeline.from_pretrained(folder, **kwargs)
            except Exception as exc:
                raise exc from auto_error


def adapter_names(files: list[str]) -> list[str]:
    return [_lora.adapter_name(file_digest(path)) for path in files]


def apply_adapters(pipe: Any, files: list[str], scales: list[float], fuse: bool) -> None:
    """Load the adapters into a pipeline this generator loaded, and set or fuse them."""
    names = adapter_names(files)
    _lora.load_adapters(pipe, files, names)
    if fuse:
        _lora.fuse(pipe, names, scales)
    else:
        pipe.set_adapters(names, adapter_weights=scales)


def configure(pipe: Any, *, device: str | None, dtype: Any, switches: tuple[bool, bool]) -> None:
    slicing, offload = switches
    if offload:
        if dtype is not None:
            pipe.to(dtype=dtype)
        pipe.enable_model_cpu_offload(device=device)
    elif device is not None or dtype is not None:
        pipe.to(device=device, dtype=dtype)
    if slicing:
        pipe.enable_attention_slicing()
