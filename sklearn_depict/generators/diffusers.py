"""Any Hugging Face ``diffusers`` text-to-image pipeline as a DEPICT generator.

Importing this module is cheap: torch, diffusers and transformers are imported
on first use, so that ``import sklearn_depict`` never imports torch.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import sys
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import import_module
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from . import lora as _lora
from ._base import check_captions_and_seeds

__all__ = ["DiffusersGenerator", "clear_pipeline_cache", "make_tiny_pipeline"]

# Bumped whenever a change to this module changes pixels (how seeds become
# noise, how outputs are converted), so that caches keyed on the fingerprint
# never serve images made by older code.
_GENERATION_VERSION = 1

_EXTRA_HINT = (
    'Install them with: pip install "sklearn-depict[diffusion]". The extra asks '
    "for torch>=2.1 and keeps a torch already installed; on a machine without "
    'one, install yours first (pip install "torch==2.13.0" on this platform, the '
    "CPU build: an unpinned torch pulls several GB of CUDA packages)."
)

# Weight formats that are never loaded (the generator loads safetensors only)
# and files that cannot change pixels: left out of the model's identity.
_UNUSED_SUFFIXES = (
    ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx", ".pb", ".md",
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".lock",
)  # fmt: skip

# Components switched off while generating: they cannot change the pixels.
_UNUSED_COMPONENTS = frozenset({"safety_checker", "feature_extractor"})

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

_DTYPE_ALIASES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "fp64": "float64", "double": "float64",
}  # fmt: skip

# Pipelines loaded from a path or id in this process, keyed by everything that
# went into loading them. A joblib worker unpickles a fresh generator for every
# task; this is what makes it load the model once and keep it. Only the most
# recent entry is kept, so an unused multi-GB model does not linger.
_LOADED: OrderedDict[tuple, Any] = OrderedDict()
_MAX_LOADED = 1

# sha256 of model files, keyed by (real path, size, mtime, inode, ctime).
_FILE_DIGESTS: dict[tuple, str] = {}

# sha256 of the tensors of in-memory nn.Modules: id(module) -> (weak reference,
# signature of its tensors, digest). The signature changes when a tensor is
# replaced or modified in place through autograd-visible operations.
_MODULE_DIGESTS: dict[int, tuple[Any, tuple, str]] = {}

# One pipeline call at a time per process: the generator swaps the scheduler
# and safety checker of a pipeline around each call.
_CALL_LOCK = threading.RLock()


def clear_pipeline_cache() -> None:
    """Forget the pipelines and file digests kept by this process.

    :class:`DiffusersGenerator` keeps the most recently loaded pipeline of a
    path or Hub id in memory, so that new instances (clones, or copies
    unpickled in joblib workers) do not load it again. Call this to free that
    memory; generators that hold their own reference keep theirs.

    See Also
    --------
    DiffusersGenerator : The generator whose pipelines this frees.

    Examples
    --------
    >>> from sklearn_depict.generators.diffusers import clear_pipeline_cache
    >>> clear_pipeline_cache()
    """
    _LOADED.clear()
    _FILE_DIGESTS.clear()
    _MODULE_DIGESTS.clear()


def _import_backend(*, accelerate: bool = False) -> tuple[Any, Any]:
    """Import torch and diffusers, or say which extra installs them."""
    names = ["torch", "diffusers", "transformers", "safetensors"]
    if accelerate:
        names.append("accelerate")
    # Look before importing: a missing package is reported at once, without
    # first spending seconds importing the others.
    missing = [name for name in names if not _installed(name)]
    if missing:
        raise ImportError(
            "DiffusersGenerator needs torch, diffusers, transformers, safetensors "
            f"and accelerate, and {', '.join(missing)} could not be found. " + _EXTRA_HINT
        )
    try:
        for name in names:
            import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"DiffusersGenerator could not import {name}: {exc}. " + _EXTRA_HINT
        ) from exc
    return import_module("torch"), import_module("diffusers")


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _package_version(name: str) -> str:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError as exc:
        raise ImportError(
            f"DiffusersGenerator needs {name}, which is not installed. " + _EXTRA_HINT
        ) from exc


class DiffusersGenerator(BaseEstimator):
    """Generate images with a Hugging Face ``diffusers`` text-to-image pipeline.

    Turns any text-to-image :class:`diffusers.DiffusionPipeline` (Stable
    Diffusion, a fine-tuned checkpoint of it, or another model on the Hub)
    into a generator for :class:`~sklearn_depict.CaptionToImage` and
    :func:`~sklearn_depict.depict_importance`.

    Every image gets its own CPU ``torch.Generator`` seeded with its seed, so
    the image of a (caption, seed) pair does not depend on the other prompts
    of its batch or on ``batch_size``, up to floating-point noise of about
    1e-6. A model given as a path or id is loaded on first use, not when the
    generator is built, and pickling carries the path, not the weights.

    The pipeline's safety checker, where it has one, is switched off while
    generating: it replaces any image it flags with a black one, which would
    silently change what the classifier under study sees and so the
    importances, and it costs an extra vision model per image.

    Parameters
    ----------
    model : str, path-like or DiffusionPipeline
        A folder written by ``save_pretrained`` (a fine-tuned checkpoint, say),
        a Hub id such as ``"stable-diffusion-v1-5/stable-diffusion-v1-5"``, or
        a pipeline already built. A folder or id is loaded on first use with
        :class:`diffusers.AutoPipelineForText2Image`, falling back to
        :class:`diffusers.DiffusionPipeline`, from safetensors weights only.
        A pipeline object is used in place and shared, never copied.
    num_inference_steps : int, default=30
        Denoising steps per image.
    guidance_scale : float, default=7.5
        Classifier-free guidance scale.
    height, width : int, default=None
        Image size in pixels; None uses the pipeline's default.
    negative_prompt : str, default=None
        Negative prompt used for every image.
    batch_size : int, default=8
        Prompts per pipeline call. Does not change the images.
    device : str or torch.device, default=None
        Where a model loaded from a path or id runs: None uses ``"cuda"`` when
        torch sees a GPU and ``"cpu"`` otherwise. A pipeline object is moved
        only when ``device`` is given; None leaves it where it is.
    torch_dtype : str or torch.dtype, default=None
        Weights' dtype, such as ``"float16"`` on a GPU to halve memory. None
        loads float32 weights, and leaves a pipeline object as it is.
    scheduler : str, SchedulerMixin or None, default=None
        None keeps the pipeline's scheduler. A class name of ``diffusers`` such
        as ``"DPMSolverMultistepScheduler"`` builds that scheduler from the
        pipeline's scheduler configuration. A scheduler object is used as a
        template: a fresh copy is built from its configuration for each call.
    pipeline_kwargs : dict, default=None
        More arguments of the pipeline call, such as ``{"eta": 0.0}`` or
        ``{"guidance_rescale": 0.7}``. Values must be plain JSON values
        (numbers, strings, booleans, None, lists, dicts), since they enter the
        fingerprint.
    local_files_only : bool, default=False
        Only look in the local Hugging Face cache when resolving a Hub id; set
        it (or the environment variable ``HF_HUB_OFFLINE=1``) on machines
        without network.
    enable_attention_slicing : bool, default=False
        Compute attention in slices: less memory, a little slower.
    enable_model_cpu_offload : bool, default=False
        Keep each model component on the CPU until it is needed on the GPU.
        Needs accelerate and a GPU device.
    trust_remote_code : bool, default=False
        Allow a folder or id to run its own pipeline code. Off unless asked.
    verbose : int, default=0
        Show the pipeline's progress bars (loading and denoising) when above 0.
    lora : str, path-like, list of them or None, default=None
        LoRA adapters in diffusers' format, applied on top of ``model``: the
        ``output_dir`` of ``fit_text_to_image(method="lora")``, a folder written
        by ``save_lora_weights`` (its ``pytorch_lora_weights.safetensors``), a
        ``.safetensors`` file, or a list of them to combine. They are loaded
        with the pipeline's ``load_lora_weights``; safetensors only. Bad paths
        and files that hold no LoRA weights are reported before any image.
    lora_scale : float or list of float, default=1.0
        Strength of each adapter (``set_adapters`` weights): one number for
        all, or one per adapter. 0 gives the base model's images.
    fuse_lora : bool, default=False
        Fuse the scaled adapters into the weights (``fuse_lora``, then
        ``unload_lora_weights``) so generation runs at the base model's speed.
        The images equal the unfused ones up to floating-point noise, but have
        their own fingerprint. Needs ``model`` as a folder or Hub id: fusing
        would change the weights of a pipeline object you passed.

    Attributes
    ----------
    fingerprint : str
        Changes whenever the image of some (caption, seed) pair would change:
        with the model's weights and configuration, the scheduler, the steps,
        the guidance, the size, the negative prompt, the dtype, the
        ``pipeline_kwargs``, and the LoRA adapters' contents, scales and
        fusing. Caches key on it.

    See Also
    --------
    sklearn_depict.ShapesGenerator : A fast procedural generator.
    sklearn_depict.CaptionToImage : Turns concept tables into images.
    make_tiny_pipeline : A tiny random-weight pipeline for tests and examples.

    Notes
    -----
    The fingerprint of a folder or Hub id is a sha256 over the model's
    configuration, tokenizer and safetensors files. Each file is read once per
    process; later calls reuse the digest while the file's size and
    modification time stay the same. Files in the Hugging Face cache are named
    by their sha256 and are not read at all. The fingerprint of a pipeline
    object hashes its components' configurations and every parameter and
    buffer, once; the digest is reused until a tensor is replaced or modified
    in place. A modification through ``tensor.data`` bypasses that check, so
    build a new pipeline object after one.

    The fingerprint does not include the device: images made on a GPU and on
    the CPU from the same model differ only by floating-point noise, and share
    cache entries.

    With ``lora``, the fingerprint adds the sha256 of each adapter file, the
    scales and ``fuse_lora``, so a cache never serves the base model's images
    for the adapted one, nor one adapter's for another's. Cloning and pickling
    carry the adapters' paths, not their weights. Given a pipeline object, the
    generator loads its adapters into it (named ``sklearn_depict_<digest>``)
    once, switches on exactly its own for each call and off again afterwards,
    so the object still generates the base model's images elsewhere.

    Examples
    --------
    >>> from sklearn_depict.generators.diffusers import (
    ...     DiffusersGenerator, make_tiny_pipeline)
    >>> pipe = make_tiny_pipeline(seed=0)  # random weights: images look like noise
    >>> gen = DiffusersGenerator(pipe, num_inference_steps=2)
    >>> images = gen.generate(["a red circle", "a blue square"], [0, 1])
    >>> images.shape, images.dtype
    ((2, 32, 32, 3), dtype('float32'))
    >>> gen.fingerprint == DiffusersGenerator(pipe, num_inference_steps=3).fingerprint
    False

    A folder written by ``save_pretrained`` loads lazily, on first use:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> pipe.save_pretrained(folder)
    >>> gen = DiffusersGenerator(folder, num_inference_steps=2, local_files_only=True)
    >>> again = gen.generate(["a red circle"], [0])
    >>> bool(abs(again[0] - images[0]).max() < 1e-4)
    True

    A model on the Hub is named by its id (this needs network, or the model in
    the local Hugging Face cache):

    >>> gen = DiffusersGenerator("stable-diffusion-v1-5/stable-diffusion-v1-5",
    ...                          torch_dtype="float16")  # doctest: +SKIP

    A LoRA adapter trained for a domain goes on top of its base model:

    >>> gen = DiffusersGenerator("stable-diffusion-v1-5/stable-diffusion-v1-5",
    ...                          lora="my-domain-lora/", lora_scale=0.8,
    ...                          fuse_lora=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        *,
        num_inference_steps: int = 30,
        guidance_scale: float = 7.5,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | None = None,
        batch_size: int = 8,
        device: Any = None,
        torch_dtype: Any = None,
        scheduler: Any = None,
        pipeline_kwargs: Mapping[str, Any] | None = None,
        local_files_only: bool = False,
        enable_attention_slicing: bool = False,
        enable_model_cpu_offload: bool = False,
        trust_remote_code: bool = False,
        verbose: int = 0,
        lora: Any = None,
        lora_scale: float | Sequence[float] = 1.0,
        fuse_lora: bool = False,
    ) -> None:
        self.model = model
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.height = height
        self.width = width
        self.negative_prompt = negative_prompt
        self.batch_size = batch_size
        self.device = device
        self.torch_dtype = torch_dtype
        self.scheduler = scheduler
        self.pipeline_kwargs = pipeline_kwargs
        self.local_files_only = local_files_only
        self.enable_attention_slicing = enable_attention_slicing
        self.enable_model_cpu_offload = enable_model_cpu_offload
        self.trust_remote_code = trust_remote_code
        self.verbose = verbose
        self.lora = lora
        self.lora_scale = lora_scale
        self.fuse_lora = fuse_lora

    # ------------------------------------------------------------------
    # Estimator hygiene
    # ------------------------------------------------------------------
    def __sklearn_clone__(self) -> DiffusersGenerator:
        # sklearn's clone deep-copies parameters that are not estimators: here
        # that would copy a whole diffusion pipeline. The model is shared (a
        # path, or the very same pipeline object) and so is whatever this
        # instance has loaded; the small parameters are copied as sklearn would.
        params = {
            name: value if name == "model" else copy.deepcopy(value)
            for name, value in self.get_params(deep=False).items()
        }
        new = type(self)(**params)
        runtime = self.__dict__.get("_runtime")
        if runtime is not None:
            new._runtime = runtime.copy()
        return new

    def __getstate__(self) -> dict[str, Any]:
        # A pipeline loaded from a path or id stays behind: the receiving
        # process loads it again on first use (once, see _LOADED). The digests
        # of the model's files travel, so that it need not read them again. A
        # pipeline object given as ``model`` is a parameter and is pickled with
        # the generator (diffusers pipelines pickle); pass a path instead to
        # send less to joblib workers.
        state = dict(super().__getstate__())
        runtime = state.pop("_runtime", None)
        if runtime is not None:
            state["_runtime"] = runtime.portable()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        runtime = state.get("_runtime")
        if runtime is not None:
            _FILE_DIGESTS.update(runtime.file_digests)
            runtime.file_digests = {}
        super().__setstate__(state)

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        if _is_model_reference(self.model):
            return super().__repr__(N_CHAR_MAX)
        # A pipeline's own repr spans dozens of lines of configuration.
        shown = object.__new__(type(self))
        shown.__dict__.update(self.__dict__)
        shown.model = _Label(f"<{type(self.model).__name__}>")
        return BaseEstimator.__repr__(shown, N_CHAR_MAX)

    # ------------------------------------------------------------------
    # The generator protocol
    # ------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """A sha256 of everything that decides the pixels.

        For a folder or Hub id it is computed from the files, without loading
        the model or importing torch; for a pipeline object, from its
        components. See the class notes.
        """
        adapters = self._check_params()
        if _is_model_reference(self.model):
            folder = self._runtime_state().resolve_folder(self)
            model_identity: Any = {"files": _folder_digests(folder)}
        else:
            pipe = self._pipeline()
            model_identity = {"pipeline": _pipeline_digest(pipe)}
        description = {
            "generator": type(self).__name__,
            "version": _GENERATION_VERSION,
            "model": model_identity,
            "scheduler": _scheduler_description(self.scheduler),
            "num_inference_steps": int(self.num_inference_steps),
            "guidance_scale": float(self.guidance_scale),
            "height": None if self.height is None else int(self.height),
            "width": None if self.width is None else int(self.width),
            "negative_prompt": self.negative_prompt,
            "torch_dtype": _dtype_name(self.torch_dtype),
            "pipeline_kwargs": dict(self.pipeline_kwargs or {}),
            "diffusers": _package_version("diffusers"),
            "transformers": _package_version("transformers"),
        }
        if adapters is not None:
            # Only with adapters, so that the fingerprints (and caches) of models
            # without them stay what they were.
            files, scales = adapters
            description["lora"] = {
                "adapters": [_file_digest(path) for path in files],
                "scales": scales,
                "fused": bool(self.fuse_lora),
            }
        payload = json.dumps(description, sort_keys=True, default=_strict_json)
        return f"DiffusersGenerator-v{_GENERATION_VERSION}-" + _sha256(payload)[:32]

    def generate(self, captions: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Generate one image per (caption, seed) pair.

        Parameters
        ----------
        captions : list of str
            Prompts.
        seeds : list of int
            One seed per caption; it seeds the image's own CPU
            ``torch.Generator``.

        Returns
        -------
        images : ndarray of shape (n, height, width, channels), float32
            Values in [0, 1].
        """
        captions, seeds = check_captions_and_seeds(captions, seeds)
        seeds = [_check_seed(seed, i) for i, seed in enumerate(seeds)]
        self._check_params()
        if not captions:
            return np.empty((0, 0, 0, 3), dtype=np.float32)
        torch, _ = _import_backend(accelerate=bool(self.enable_model_cpu_offload))
        pipe = self._pipeline()
        _warn_if_truncated(pipe, captions)

        call_args: dict[str, Any] = dict(self.pipeline_kwargs or {})
        call_args.update(
            num_inference_steps=int(self.num_inference_steps),
            guidance_scale=float(self.guidance_scale),
            output_type="np",
        )
        if self.height is not None:
            call_args["height"] = int(self.height)
        if self.width is not None:
            call_args["width"] = int(self.width)

        batches = []
        with _CALL_LOCK, self._call_setup(pipe):
            for start in range(0, len(captions), int(self.batch_size)):
                prompts = captions[start : start + int(self.batch_size)]
                generators = [
                    torch.Generator("cpu").manual_seed(seed)
                    for seed in seeds[start : start + int(self.batch_size)]
                ]
                if self.negative_prompt is not None:
                    call_args["negative_prompt"] = [self.negative_prompt] * len(prompts)
                output = pipe(prompt=prompts, generator=generators, **call_args)
                batches.append(_as_image_array(output, len(prompts)))
        images = np.concatenate(batches)
        if not np.isfinite(images).all():
            raise ValueError(
                "The pipeline produced NaN or infinite pixel values. With "
                "torch_dtype='float16' the autoencoder can overflow; try "
                "torch_dtype='bfloat16' or float32."
            )
        return np.clip(images, 0.0, 1.0, out=images)

    # ------------------------------------------------------------------
    # Loading and preparing the pipeline
    # ------------------------------------------------------------------
    def _runtime_state(self) -> _Runtime:
        runtime = self.__dict__.get("_runtime")
        if runtime is None:
            runtime = self._runtime = _Runtime()
        return runtime

    def _check_params(self) -> tuple[list[str], list[float]] | None:
        """Validate the parameters; the adapters' files and scales, if any."""
        model = self.model
        if not _is_model_reference(model) and not (
            callable(model) and hasattr(model, "components")
        ):
            raise TypeError(
                "The 'model' parameter of DiffusersGenerator must be a folder, a "
                f"Hub id or a diffusers pipeline object; got {type(model).__name__}."
            )
        for name in ("num_inference_steps", "batch_size"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1, got {value!r}.")
        if isinstance(self.guidance_scale, bool) or not isinstance(
            self.guidance_scale, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"guidance_scale must be a number, got {self.guidance_scale!r}.")
        if self.negative_prompt is not None and not isinstance(self.negative_prompt, str):
            raise TypeError(f"negative_prompt must be None or a str, got {self.negative_prompt!r}.")
        _dtype_name(self.torch_dtype)
        _scheduler_description(self.scheduler)
        kwargs = self.pipeline_kwargs
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
                json.dumps(dict(kwargs), default=_strict_json)
            except TypeError as exc:
                raise TypeError(
                    "pipeline_kwargs values must be plain JSON values (numbers, "
                    "strings, booleans, None, lists or dicts) so that the "
                    f"fingerprint can describe them: {exc}"
                ) from None
        return self._check_lora()

    def _check_lora(self) -> tuple[list[str], list[float]] | None:
        if not isinstance(self.fuse_lora, (bool, np.bool_)):
            raise TypeError(f"fuse_lora must be a bool, got {self.fuse_lora!r}.")
        if self.lora is None:
            if self.fuse_lora:
                raise ValueError("fuse_lora=True needs adapters to fuse; set lora=... too.")
            _lora.check_lora_scales(self.lora_scale, 1)
            return None
        files = _lora.resolve_lora_files(self.lora)
        scales = _lora.check_lora_scales(self.lora_scale, len(files))
        if self.fuse_lora and not _is_model_reference(self.model):
            raise ValueError(
                "fuse_lora=True would change the weights of the pipeline object you "
                "passed as model. Pass its folder or Hub id instead (the generator "
                "then fuses its own copy), or keep fuse_lora=False."
            )
        return files, scales

    def _device(self, torch: Any) -> str | None:
        if self.device is None:
            if not _is_model_reference(self.model) and not self.enable_model_cpu_offload:
                return None  # a pipeline object stays where its owner put it
            return "cuda" if torch.cuda.is_available() else "cpu"
        return str(torch.device(self.device))

    def _pipeline(self) -> Any:
        """The pipeline, loaded and moved where it runs."""
        torch, diffusers = _import_backend(accelerate=bool(self.enable_model_cpu_offload))
        device = self._device(torch)
        if self.enable_model_cpu_offload and (device is None or device == "cpu"):
            raise ValueError(
                "enable_model_cpu_offload=True keeps components on the CPU until a "
                f"GPU needs them; it needs a GPU device, got device={device!r}."
            )
        dtype_name = _dtype_name(self.torch_dtype)
        dtype = None if dtype_name is None else getattr(torch, dtype_name)
        switches = (bool(self.enable_attention_slicing), bool(self.enable_model_cpu_offload))
        runtime = self._runtime_state()
        adapters = self._check_lora()
        if not _is_model_reference(self.model):
            pipe = self.model
            key = ("object", id(pipe), device, dtype_name, switches, adapters)
            if runtime.key != key or runtime.pipe is not pipe:
                if adapters is not None:
                    _lora.check_foreign_adapters(pipe)
                    _lora.load_adapters(pipe, adapters[0], self._adapter_names(adapters[0]))
                    pipe.disable_lora()  # switched on only inside this generator's calls
                _configure(pipe, device=device, dtype=dtype, switches=switches)
                runtime.key, runtime.pipe = key, pipe
            return pipe

        folder = runtime.resolve_folder(self)
        key = (
            "folder",
            folder,
            _folder_signature(folder),
            device,
            dtype_name,
            switches,
            bool(self.trust_remote_code),
            None
            if adapters is None
            else (tuple(map(_stat_key, adapters[0])), tuple(adapters[1]), bool(self.fuse_lora)),
        )
        if runtime.key == key and runtime.pipe is not None:
            return runtime.pipe
        pipe = _LOADED.get(key)
        if pipe is None:
            # Let go of older pipelines first, so two never sit in memory at once.
            while _LOADED and len(_LOADED) >= _MAX_LOADED:
                _LOADED.popitem(last=False)
            pipe = self._load(folder, diffusers, dtype)
            if adapters is not None:
                self._apply_adapters(pipe, *adapters)
            _configure(pipe, device=device, dtype=None, switches=switches)
            _LOADED[key] = pipe
        runtime.key, runtime.pipe = key, pipe
        return pipe

    def _load(self, folder: str, diffusers: Any, dtype: Any) -> Any:
        kwargs: dict[str, Any] = {
            "use_safetensors": True,
            "local_files_only": bool(self.local_files_only),
        }
        if dtype is not None:
            kwargs[_dtype_keyword()] = dtype
        if self.trust_remote_code:
            kwargs["trust_remote_code"] = True
        if "safety_checker" in _model_index(folder):
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        own_class = _package_pipeline_class(_model_index(folder).get("_class_name"))
        with _progress_bars(bool(self.verbose)):
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

    def _adapter_names(self, files: list[str]) -> list[str]:
        return [_lora.adapter_name(_file_digest(path)) for path in files]

    def _apply_adapters(self, pipe: Any, files: list[str], scales: list[float]) -> None:
        """Load the adapters into a pipeline this generator loaded, and set or fuse them."""
        names = self._adapter_names(files)
        _lora.load_adapters(pipe, files, names)
        if self.fuse_lora:
            _lora.fuse(pipe, names, scales)
        else:
            pipe.set_adapters(names, adapter_weights=scales)

    @contextmanager
    def _call_setup(self, pipe: Any) -> Iterator[None]:
        """Give the pipeline a fresh scheduler, no safety checker and the
        generator's progress bar for one call, and put back what was there."""
        _, diffusers = _import_backend()
        saved: dict[str, Any] = {}
        if hasattr(pipe, "scheduler"):
            saved["scheduler"] = pipe.scheduler
            pipe.scheduler = _make_scheduler(self.scheduler, pipe.scheduler, diffusers)
        if getattr(pipe, "safety_checker", None) is not None:
            saved["safety_checker"] = pipe.safety_checker
            pipe.safety_checker = None
        progress = pipe.__dict__.get("_progress_bar_config")
        config = dict(progress or {})
        config["disable"] = not self.verbose
        pipe.set_progress_bar_config(**config)
        adapters = None if _is_model_reference(self.model) else self._check_lora()
        try:
            if adapters is None:
                yield
            else:
                files, scales = adapters
                with _lora.activated(pipe, self._adapter_names(files), scales):
                    yield
        finally:
            for name, value in saved.items():
                setattr(pipe, name, value)
            if progress is None:
                pipe.__dict__.pop("_progress_bar_config", None)
            else:
                pipe._progress_bar_config = progress


class _Runtime:
    """What a generator has loaded: not parameters, never deep-copied."""

    def __init__(self) -> None:
        self.folder: str | None = None
        self.folder_for: tuple | None = None
        self.key: tuple | None = None
        self.pipe: Any = None
        self.file_digests: dict[tuple, str] = {}

    def copy(self) -> _Runtime:
        new = _Runtime()
        new.__dict__.update(self.__dict__)
        new.file_digests = {}
        return new

    def portable(self) -> _Runtime:
        new = _Runtime()
        new.folder, new.folder_for = self.folder, self.folder_for
        if self.folder is not None and os.path.isdir(self.folder):
            signature = _folder_signature(self.folder)
            new.file_digests = {
                key: _FILE_DIGESTS[key] for key in signature if key in _FILE_DIGESTS
            }
        return new

    def resolve_folder(self, generator: DiffusersGenerator) -> str:
        """The local folder of a path or Hub id, resolved once per generator.

        A Hub id is resolved to one snapshot folder, which both the fingerprint
        and the loading use, so that they always describe the same files.
        """
        model = os.fspath(generator.model)
        ask = (model, bool(generator.local_files_only), bool(generator.trust_remote_code))
        if self.folder is not None and self.folder_for == ask and os.path.isdir(self.folder):
            return self.folder
        folder = _resolve_model_folder(model, generator)
        self.folder, self.folder_for = folder, ask
        return folder


class _Label:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
class CaptionTruncationWarning(UserWarning):
    """A caption is longer than the text encoder reads; its end is ignored."""


def _warn_if_truncated(pipe: Any, captions: list[str]) -> None:
    """Say which captions the pipeline's tokenizer will cut short.

    Truncation silently drops concepts at the end of a long caption, so
    permuting them would change nothing; a DEPICT user must know.
    """
    tokenizer = getattr(pipe, "tokenizer", None)
    limit = getattr(tokenizer, "model_max_length", None)
    if tokenizer is None or not isinstance(limit, int) or limit > 100_000:
        return
    lengths = [len(ids) for ids in tokenizer(captions, truncation=False)["input_ids"]]
    too_long = [(c, n) for c, n in zip(captions, lengths) if n > limit]
    if too_long:
        caption, n_tokens = too_long[0]
        warnings.warn(
            f"{len(too_long)} caption(s) exceed the tokenizer's limit of {limit} tokens "
            f"and will be truncated, for example one of {n_tokens} tokens: "
            f"{caption[:80]!r}... Concepts past the limit cannot affect the image; "
            "shorten the captions (a template, fewer context columns) or put the "
            "permuted concepts first.",
            CaptionTruncationWarning,
            stacklevel=3,
        )


def _package_pipeline_class(name: Any) -> Any:
    """The pipeline class of this package that a saved model_index.json names."""
    if not isinstance(name, str):
        return None
    try:
        module = import_module("sklearn_depict.text_to_image")
    except ImportError:
        return None
    return getattr(module, name, None) if name in getattr(module, "__all__", ()) else None


def _dtype_keyword() -> str:
    """``dtype`` where diffusers deprecates ``torch_dtype`` for it, else ``torch_dtype``."""
    try:
        deprecation = import_module("diffusers.utils.deprecation_utils")
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def _is_model_reference(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_seed(seed: Any, position: int) -> int:
    if not _is_int(seed):
        raise TypeError(f"Seeds must be int, got {seed!r} at position {position}.")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"Seeds must lie in [0, 2**64), got {seed} at position {position}.")
    return seed


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _strict_json(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{value!r} of type {type(value).__name__} is not a plain JSON value")


def _loose_json(value: Any) -> Any:
    # For configurations: anything else is described by its type and repr.
    try:
        return _strict_json(value)
    except TypeError:
        return f"<{type(value).__module__}.{type(value).__qualname__}> {value!r}"


def _dtype_name(dtype: Any) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = _DTYPE_ALIASES.get(dtype.lower().removeprefix("torch."))
        if name is None:
            raise ValueError(
                f"torch_dtype {dtype!r} is not understood; use one of "
                f"{sorted(set(_DTYPE_ALIASES.values()))} or a torch.dtype."
            )
        return name
    if type(dtype).__name__ == "dtype" and type(dtype).__module__ == "torch":
        return str(dtype).removeprefix("torch.")
    raise TypeError(f"torch_dtype must be None, a str or a torch.dtype, got {dtype!r}.")


def _scheduler_description(scheduler: Any) -> Any:
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
            "config": _public_config(scheduler.config),
        }
    raise TypeError(
        "scheduler must be None, a diffusers scheduler class name, a scheduler "
        f"class or a scheduler object; got {scheduler!r}."
    )


def _public_config(config: Any) -> dict[str, Any]:
    items = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    payload = {k: v for k, v in items.items() if not str(k).startswith("_")}
    for private in ("name_or_path", "transformers_version"):
        payload.pop(private, None)
    return json.loads(json.dumps(payload, sort_keys=True, default=_loose_json))


def _make_scheduler(spec: Any, current: Any, diffusers: Any) -> Any:
    """A fresh scheduler for one call: schedulers keep state between steps."""
    if spec is None:
        return type(current).from_config(current.config)
    if isinstance(spec, str):
        cls = getattr(diffusers, spec, None)
        if not (isinstance(cls, type) and hasattr(cls, "from_config")):
            raise ValueError(f"diffusers has no scheduler class named {spec!r}.")
        return cls.from_config(current.config)
    if isinstance(spec, type):
        return spec.from_config(current.config)
    return type(spec).from_config(spec.config)


def _configure(pipe: Any, *, device: str | None, dtype: Any, switches: tuple[bool, bool]) -> None:
    slicing, offload = switches
    if offload:
        if dtype is not None:
            pipe.to(dtype=dtype)
        pipe.enable_model_cpu_offload(device=device)
    elif device is not None or dtype is not None:
        pipe.to(device=device, dtype=dtype)
    if slicing:
        pipe.enable_attention_slicing()


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """Silence the loading bars of diffusers and transformers unless verbose."""
    if enabled:
        yield
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    modules = (diffusers_logging, transformers_logging)
    was = [m.is_progress_bar_enabled() for m in modules]
    for m in modules:
        m.disable_progress_bar()
    try:
        yield
    finally:
        for m, enabled_before in zip(modules, was):
            if enabled_before:
                m.enable_progress_bar()


def _as_image_array(output: Any, n: int) -> np.ndarray:
    images = output.images if hasattr(output, "images") else output[0]
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(image) for image in images])
        if images.dtype == np.uint8:
            images = images.astype(np.float32) / 255.0
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] != n:
        raise ValueError(
            f"The pipeline returned images of shape {images.shape} for {n} prompts; "
            "DiffusersGenerator needs a text-to-image pipeline returning one image "
            "per prompt."
        )
    return images


# ----------------------------------------------------------------------
# Model identity: folders
# ----------------------------------------------------------------------
def _resolve_model_folder(model: str, generator: DiffusersGenerator) -> str:
    path = Path(model).expanduser()
    if path.is_dir():
        folder = str(path.resolve())
        _model_index(folder)
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
    _, diffusers = _import_backend()
    kwargs: dict[str, Any] = {
        "use_safetensors": True,
        "local_files_only": bool(generator.local_files_only),
    }
    if generator.trust_remote_code:
        kwargs["trust_remote_code"] = True
    try:
        with _progress_bars(bool(generator.verbose)):
            folder = diffusers.DiffusionPipeline.download(model, **kwargs)
    except Exception as exc:
        raise OSError(
            f"DiffusersGenerator could not find the model {model!r} on the Hub or in "
            "the local Hugging Face cache. Without network (local_files_only=True or "
            "HF_HUB_OFFLINE=1) only models already in the cache can be used; a "
            "folder written by save_pretrained always can."
        ) from exc
    folder = str(Path(folder).resolve())
    _model_index(folder)
    return folder


def _model_index(folder: str) -> dict[str, Any]:
    index = Path(folder) / "model_index.json"
    if not index.is_file():
        raise ValueError(
            f"{folder} holds no model_index.json, so it is not a diffusers pipeline "
            "folder. DiffusersGenerator loads folders written by save_pretrained; "
            "for a single-file checkpoint, load it with the pipeline's "
            "from_single_file and pass the pipeline object."
        )
    return json.loads(index.read_text(encoding="utf-8"))


def _model_files(folder: str) -> list[str]:
    """The files that decide the pipeline: index, configs, tokenizers, weights."""
    root = Path(folder)
    index = _model_index(folder)
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


def _stat_key(path: str) -> tuple:
    st = os.stat(path)
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _folder_signature(folder: str) -> tuple:
    """Cheap to compute; changes whenever a model file is rewritten."""
    return tuple(_stat_key(os.path.join(folder, f)) for f in _model_files(folder))


def _file_digest(path: str) -> str:
    key = _stat_key(path)
    digest = _FILE_DIGESTS.get(key)
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
        _FILE_DIGESTS[key] = digest
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
    return _sha256(json.dumps(content, sort_keys=True))


def _folder_digests(folder: str) -> list[list[str]]:
    # Relative names and contents, not the folder's location: a copy of the
    # same checkpoint elsewhere shares cache entries.
    return [[f, _file_digest(os.path.join(folder, f))] for f in _model_files(folder)]


# ----------------------------------------------------------------------
# Model identity: pipeline objects
# ----------------------------------------------------------------------
def _pipeline_digest(pipe: Any) -> str:
    h = hashlib.sha256()
    h.update(f"{type(pipe).__module__}.{type(pipe).__qualname__}".encode())
    h.update(json.dumps(_public_config(pipe.config), sort_keys=True).encode())
    for name, component in sorted(pipe.components.items()):
        cls = type(component)
        h.update(f"\x1e{name}:{cls.__module__}.{cls.__qualname__}".encode())
        if component is None or name in _UNUSED_COMPONENTS:
            continue
        config = getattr(component, "config", None)
        if config is not None and (hasattr(config, "to_dict") or isinstance(config, Mapping)):
            h.update(json.dumps(_public_config(config), sort_keys=True).encode())
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
            default=_loose_json,
        )
    extra = [
        getattr(tokenizer, "model_max_length", None),
        getattr(tokenizer, "padding_side", None),
        getattr(tokenizer, "truncation_side", None),
    ]
    return text + json.dumps(extra, default=_loose_json)


def _module_digest(module: Any) -> str:
    import torch

    # The adapters a generator loads into a pipeline object are described by
    # their files, not here; peft's wrapping (".base_layer") renames but does
    # not change the base weights. So loading them leaves the digest as it was.
    tensors = [
        (name.replace(".base_layer.", "."), t)
        for name, t in module.state_dict(keep_vars=True).items()
        if not _lora.is_generator_adapter_key(name)
    ]
    signature = tuple(
        (name, id(t), t.data_ptr(), t._version, tuple(t.shape), str(t.dtype), str(t.device))
        for name, t in tensors
    )
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


# ----------------------------------------------------------------------
# A tiny random-weight pipeline, for tests, examples and docs
# ----------------------------------------------------------------------
_TINY_WORDS = (
    "a", "an", "the", "of", "and", "with", "no", "photo", "image", "picture",
    "red", "green", "blue", "circle", "square", "triangle", "person", "chair",
    "dog", "cat", "table", "age", "sex", "findings", "present", "absent",
)  # fmt: skip


def _tiny_tokenizer(tokenizer_cls: Any) -> Any:
    # A byte-level BPE vocabulary in the style of CLIP's: every printable ASCII
    # character, alone and as a word ending ("</w>"), and merges that spell a
    # few caption words. Anything else is split into characters.
    chars = [chr(c) for c in range(33, 127)]
    vocab: dict[str, int] = {}
    for symbol in chars + [c + "</w>" for c in chars]:
        vocab.setdefault(symbol, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in _TINY_WORDS:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(pair[0] + pair[1], len(vocab))
            pieces = [pair[0] + pair[1], *pieces[2:]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return tokenizer_cls(vocab=vocab, merges=merges, model_max_length=77)


def make_tiny_pipeline(*, seed: int = 0, image_size: int = 32) -> Any:
    """Build a tiny Stable Diffusion pipeline with random weights, offline.

    It has the structure of Stable Diffusion (a CLIP text encoder and
    tokenizer, a conditional UNet, a VAE and a DDIM scheduler) at a few
    hundred kilobytes, so it runs on a CPU in milliseconds per image. Its
    images look like coloured noise: it exists to test and demonstrate the
    machinery without network or a GPU, not to draw anything.

    Parameters
    ----------
    seed : int, default=0
        Seeds the random weights. The global torch random state is left as
        it was.
    image_size : int, default=32
        Height and width of the images, a multiple of 16.

    Returns
    -------
    pipeline : diffusers.StableDiffusionPipeline
        On the CPU, in float32, without safety checker. Save it with
        ``save_pretrained`` to get a folder like a fine-tuned checkpoint.

    See Also
    --------
    DiffusersGenerator : Generates images with such a pipeline.

    Examples
    --------
    >>> from sklearn_depict.generators.diffusers import make_tiny_pipeline
    >>> pipe = make_tiny_pipeline(seed=0)
    >>> type(pipe).__name__
    'StableDiffusionPipeline'
    """
    if not _is_int(image_size) or image_size < 16 or image_size % 16:
        raise ValueError(f"image_size must be a multiple of 16, got {image_size!r}.")
    torch, diffusers = _import_backend()
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = _tiny_tokenizer(CLIPTokenizer)
    n_tokens = len(tokenizer.get_vocab())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        unet = diffusers.UNet2DConditionModel(
            sample_size=image_size // 2,
            in_channels=4,
            out_channels=4,
            block_out_channels=(8, 16),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=2,
            norm_num_groups=8,
        )
        vae = diffusers.AutoencoderKL(
            sample_size=image_size,
            in_channels=3,
            out_channels=3,
            block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            norm_num_groups=8,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=n_tokens,
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=32,
                bos_token_id=n_tokens - 2,
                eos_token_id=n_tokens - 1,
                pad_token_id=n_tokens - 1,
            )
        )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return diffusers.StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
