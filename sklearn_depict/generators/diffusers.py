"""Any Hugging Face ``diffusers`` text-to-image pipeline as a DEPICT generator.

Importing this module is cheap: torch, diffusers and transformers are imported
on first use, so that ``import sklearn_depict`` never imports torch. Loading
lives in :mod:`._diffusers_loading`, the model's identity (the fingerprint's
hashes) in :mod:`._fingerprint`; :func:`make_tiny_pipeline` is defined in
:mod:`sklearn_depict.testing` and importable from here as before.
"""

from __future__ import annotations

import copy
import json
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import import_module
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._torch_utils import dtype_name
from .._warnings import external_stacklevel
from . import _fingerprint as _fp
from . import lora_loading as _lora
from ._base import check_captions_and_seeds
from ._diffusers_backend import import_backend, is_model_reference, package_version
from ._diffusers_loading import Runtime, adapter_names, clear_loaded_pipelines, pipeline_for
from ._diffusers_params import check_lora, check_params, check_seed
from ._fingerprint import (
    file_digest,
    folder_digests,
    pipeline_digest,
    scheduler_description,
    sha256,
    strict_json,
)

# make_tiny_pipeline is served by __getattr__, at the end.
__all__ = ["DiffusersGenerator", "clear_pipeline_cache", "make_tiny_pipeline"]  # noqa: F822

# Bumped whenever a change to the generator's code (this module, or how
# _diffusers_loading loads and configures a pipeline) changes pixels: how seeds
# become noise, how outputs are converted. Caches keyed on the fingerprint then
# never serve images made by older code.
_GENERATION_VERSION = 1

# Generators pickled when Runtime was defined here still unpickle.
_Runtime = Runtime

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
    clear_loaded_pipelines()
    _fp.clear_digests()

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
        Where a model loaded from a path or id runs: None or ``"auto"`` uses
        ``"cuda"`` when torch sees a GPU and ``"cpu"`` otherwise. A pipeline
        object is moved only when ``device`` is given (``"auto"`` included);
        None leaves it where it is. A device torch cannot use (``"cuda"``
        without CUDA) raises a ValueError before the model is loaded.
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
    pipeline_class : type or None, default=None
        The class whose ``from_pretrained`` loads a folder or Hub id, for a
        model saved by a pipeline class that diffusers cannot find by the name
        in its ``model_index.json``. None uses this package's own pipeline
        classes for the folders they saved (such as
        :class:`~sklearn_depict.text_to_image.PixelDiffusionPipeline`), and
        diffusers' ``AutoPipelineForText2Image`` or ``DiffusionPipeline``
        otherwise. A class given here enters the fingerprint.

    Attributes
    ----------
    fingerprint : str
        Changes whenever the image of some (caption, seed) pair would change:
        with the model's weights and configuration, the scheduler, the steps,
        the guidance, the size, the negative prompt, the dtype, the
        ``pipeline_kwargs``, and the LoRA adapters' contents, scales and
        fusing. Caches key on it. The first access hashes the model (see the
        notes); later ones return the kept value.

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

    The generator keeps its fingerprint once computed, and checks cheaply on
    each access that nothing it depends on changed: the parameters (so
    ``set_params`` invalidates it), the size and times of the model's and the
    adapters' files, or, for a pipeline object, its components, their
    configurations, each tokenizer's length and settings, and the identity and
    in-place version of every tensor.

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
        pipeline_class: type | None = None,
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
        self.pipeline_class = pipeline_class

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
        # process loads it again on first use (once, see LOADED_PIPELINES). The digests
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
            _fp.FILE_DIGESTS.update(runtime.file_digests)
            runtime.file_digests = {}
        super().__setstate__(state)

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        if is_model_reference(self.model):
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

        The first access hashes the model: for a folder or Hub id its files,
        without loading the model or importing torch; for a pipeline object
        its components and tensors. For a model of several GB that takes a
        while, once. The value is then kept and returned while the parameters,
        the files and the tensors stay as they were. See the class notes.
        """
        adapters = self._check_params()
        runtime = self._runtime_state()
        if is_model_reference(self.model):
            folder = runtime.resolve_folder(self)
            state: tuple = ("files", folder, _fp.folder_signature(folder))
        else:
            pipe = self._pipeline()
            state = ("pipeline", _fp.pipeline_state(pipe))
        description = self._description(adapters)
        key = (
            json.dumps(description, sort_keys=True, default=strict_json),
            state,
            None if adapters is None else tuple(map(_fp.stat_key, adapters[0])),
        )
        if runtime.fingerprint is not None and runtime.fingerprint[0] == key:
            return runtime.fingerprint[1]
        if is_model_reference(self.model):
            description["model"] = {"files": folder_digests(folder)}
        else:
            description["model"] = {"pipeline": pipeline_digest(pipe)}
        if adapters is not None:
            description["lora"]["adapters"] = [file_digest(path) for path in adapters[0]]
        payload = json.dumps(description, sort_keys=True, default=strict_json)
        value = f"DiffusersGenerator-v{_GENERATION_VERSION}-" + sha256(payload)[:32]
        runtime.fingerprint = (key, value)
        return value

    def _description(self, adapters: tuple[list[str], list[float]] | None) -> dict[str, Any]:
        """The fingerprint's content but the model's and the adapters' digests."""
        description: dict[str, Any] = {
            "generator": type(self).__name__,
            "version": _GENERATION_VERSION,
            "scheduler": scheduler_description(self.scheduler),
            "num_inference_steps": int(self.num_inference_steps),
            "guidance_scale": float(self.guidance_scale),
            "height": None if self.height is None else int(self.height),
            "width": None if self.width is None else int(self.width),
            "negative_prompt": self.negative_prompt,
            "torch_dtype": dtype_name(self.torch_dtype),
            "pipeline_kwargs": dict(self.pipeline_kwargs or {}),
            "diffusers": package_version("diffusers"),
            "transformers": package_version("transformers"),
        }
        # The optional entries only when set, so that the fingerprints (and
        # caches) of generators without them stay what they were.
        if adapters is not None:
            description["lora"] = {"scales": adapters[1], "fused": bool(self.fuse_lora)}
        if self.pipeline_class is not None:
            cls = self.pipeline_class
            description["pipeline_class"] = f"{cls.__module__}.{cls.__qualname__}"
        return description

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
        seeds = [check_seed(seed, i) for i, seed in enumerate(seeds)]
        self._check_params()
        if not captions:
            return np.empty((0, 0, 0, 3), dtype=np.float32)
        torch, _ = import_backend(accelerate=bool(self.enable_model_cpu_offload))
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
    def _runtime_state(self) -> Runtime:
        runtime = self.__dict__.get("_runtime")
        if runtime is None:
            runtime = self._runtime = Runtime()
        return runtime

    def _check_params(self) -> tuple[list[str], list[float]] | None:
        """Validate the parameters; the adapters' files and scales, if any."""
        return check_params(self)

    def _check_lora(self) -> tuple[list[str], list[float]] | None:
        return check_lora(self)

    def _pipeline(self) -> Any:
        """The pipeline, loaded (once per process) and moved where it runs."""
        return pipeline_for(self)

    @contextmanager
    def _call_setup(self, pipe: Any) -> Iterator[None]:
        """Give the pipeline a fresh scheduler, no safety checker and the
        generator's progress bar for one call, and put back what was there."""
        _, diffusers = import_backend()
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
        adapters = None if is_model_reference(self.model) else self._check_lora()
        try:
            if adapters is None:
                yield
            else:
                files, scales = adapters
                with _lora.activated(pipe, adapter_names(files), scales):
                    yield
        finally:
            for name, value in saved.items():
                setattr(pipe, name, value)
            if progress is None:
                pipe.__dict__.pop("_progress_bar_config", None)
            else:
                pipe._progress_bar_config = progress


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
            stacklevel=external_stacklevel(),
        )


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


def __getattr__(name: str) -> Any:
    # make_tiny_pipeline is defined in sklearn_depict.testing and stays
    # importable from here. It is looked up by name, on first use, because the
    # testing module builds on text_to_image, which builds on this one.
    if name == "make_tiny_pipeline":
        return import_module("sklearn_depict.testing").make_tiny_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
