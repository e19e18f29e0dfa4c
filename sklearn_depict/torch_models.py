"""A fitted PyTorch or Hugging Face image model as a scikit-learn estimator.

:class:`TorchImageClassifier` and :class:`TorchImageRegressor` take images as
generators return them, (n, height, width, channels) float32 in [0, 1], and do
what users otherwise write by hand: move the channels first, resize, normalise,
batch, pick the device, switch to ``eval()`` and ``torch.inference_mode()``, and
turn logits into probabilities.

This module is a leaf of the package: nothing else imports it, and torch is
imported inside functions only, so ``import sklearn_depict`` never imports
torch.
"""

from __future__ import annotations

import copy
import io
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from .generators.diffusers import _dtype_name
from .image_transforms import check_images
from .preflight import is_torch_module

__all__ = ["TorchImageClassifier", "TorchImageRegressor"]

_OUTPUTS = ("logits", "probabilities")


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in CI
        raise ImportError(
            "TorchImageClassifier and TorchImageRegressor need torch. Install it with "
            "pip install torch (pin torch==2.13.0 on CPU-only machines)."
        ) from exc
    return torch


class _TorchImageModel(BaseEstimator):
    """What the classifier and the regressor share: preprocessing and batching."""

    # ------------------------------------------------------------------ estimator hygiene
    def __sklearn_clone__(self) -> _TorchImageModel:
        # sklearn's clone deep-copies parameters that are not estimators: that
        # would copy the network (and its GPU memory). The module, the image
        # processor and a features callable are shared; the small parameters
        # are copied as sklearn would.
        shared = ("module", "image_processor", "features")
        params = {
            name: value if name in shared else copy.deepcopy(value)
            for name, value in self.get_params(deep=False).items()
        }
        return type(self)(**params)

    def __sklearn_is_fitted__(self) -> bool:
        # The module was trained elsewhere; the adapter is usable as built.
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def __getstate__(self) -> dict[str, Any]:
        # torch.save records each tensor's device; loading maps tensors saved on
        # a GPU to the CPU when the loading machine has none (see __setstate__),
        # so a model pickled on a GPU machine loads anywhere.
        state = dict(super().__getstate__())
        module = state.get("module")
        if is_torch_module(module):
            torch = _import_torch()
            buffer = io.BytesIO()
            torch.save(module, buffer)
            state["module"] = _SavedModule(buffer.getvalue(), _module_device_type(module))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("module")
        if isinstance(saved, _SavedModule):
            state = dict(state, module=saved.load())
        super().__setstate__(state)

    def fit(self, X: Any = None, y: Any = None, **fit_params: Any) -> Any:
        """Not supported: the module is trained elsewhere.

        The adapter wraps a module that is already trained (with torch, skorch,
        Hugging Face ``Trainer``, ...) and is usable as built: pass it to
        :func:`~sklearn_depict.depict_importance` directly.

        Raises
        ------
        TypeError
            Always.
        """
        raise TypeError(
            f"{type(self).__name__} wraps a torch module that is trained elsewhere, "
            "so it cannot be fitted: train the module with torch (or skorch, or a "
            f"Hugging Face Trainer), then wrap the trained module. The "
            f"{type(self).__name__} is already fitted and can be passed to "
            "depict_importance as it is."
        )

    # ------------------------------------------------------------------ settings
    def _check_params(self) -> None:
        if not is_torch_module(self.module):
            hint = ""
            if hasattr(self.module, "module_") and hasattr(self.module, "predict_proba"):
                hint = (
                    " A skorch net is already an estimator: put it in a pipeline after "
                    "sklearn_depict.ChannelsFirst() instead, or wrap its net.module_."
                )
            raise TypeError(
                f"The 'module' parameter of {type(self).__name__} must be a torch.nn.Module "
                f"(a trained network), got {type(self.module).__name__}.{hint}"
            )
        batch_size = self.batch_size
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or (
            batch_size < 1
        ):
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        _dtype_name(self.dtype)
        if self.features is not None and not (
            isinstance(self.features, str) or callable(self.features)
        ):
            raise TypeError(
                "features must be None, the name of a submodule (such as 'features' or "
                "'vit.layernorm') or a callable f(module, batch) -> tensor; got "
                f"{self.features!r}."
            )

    def _preprocessing(self, n_channels: int) -> tuple[Any, Any, Any, Any]:
        """(resize, crop, mean, std) from the parameters and the image processor."""
        processor = _processor_settings(self.image_processor)
        resize, crop = processor["resize"], processor["crop"]
        if self.input_size is not None:
            resize, crop = ("exact", _pair(self.input_size, "input_size")), None
        mean = processor["mean"] if self.mean is None else self.mean
        std = processor["std"] if self.std is None else self.std
        if (mean is None) != (std is None):
            raise ValueError(
                "mean and std go together: give both (per-channel values used as "
                "(x - mean) / std) or neither."
            )
        if mean is not None:
            mean = _per_channel(mean, n_channels, "mean")
            std = _per_channel(std, n_channels, "std")
            if np.any(std <= 0):
                raise ValueError(f"std must be positive, got {std.tolist()}.")
        return resize, crop, mean, std

    def _device(self, torch: Any) -> Any:
        if self.device is None or (isinstance(self.device, str) and self.device == "auto"):
            return _module_device(self.module, torch)
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"{type(self).__name__}(device={self.device!r}) but torch sees no CUDA "
                "device here. Use device='auto' (where the module is) or device='cpu', "
                "e.g. adapter.set_params(device='cpu')."
            )
        return device

    # ------------------------------------------------------------------ forward passes
    def _batches(self, X: Any, run: Callable[[Any, Any], Any]) -> np.ndarray:
        """Apply ``run(module, batch)`` to preprocessed batches; stack the results."""
        self._check_params()
        images = check_images(X, caller=type(self).__name__)
        _check_channels(self.module, images.shape[-1], type(self).__name__)
        torch = _import_torch()
        device = self._device(torch)
        resize, crop, mean, std = self._preprocessing(images.shape[-1])
        input_dtype = _floating_dtype(self.module, torch)
        if mean is not None:
            mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
            std_t = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        autocast = self._autocast(torch, device)
        outputs = []
        with _evaluating(self.module, device, torch), torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = np.ascontiguousarray(images[start : start + self.batch_size])
                if not chunk.flags.writeable:  # torch warns on read-only arrays
                    chunk = chunk.copy()
                batch = torch.from_numpy(chunk).to(device)
                batch = batch.permute(0, 3, 1, 2)
                batch = _resize(batch, resize, crop, torch)
                if mean is not None:
                    batch = (batch - mean_t) / std_t
                # No .contiguous(): the permuted NHWC memory is channels-last, which
                # convolutions take as it is (a copy to NCHW made them ~1.5x slower).
                batch = batch.to(input_dtype)
                with autocast:
                    try:
                        out = run(self.module, batch)
                    except RuntimeError as exc:
                        raise RuntimeError(
                            f"{type(self).__name__}: the module failed on a batch of shape "
                            f"{tuple(batch.shape)} (n, channels, height, width), made from "
                            f"images of shape {images.shape[1:]} (height, width, channels): "
                            f"{exc}. Check input_size, mean and std, and the number of "
                            "channels the module expects."
                        ) from exc
                outputs.append(out.detach().float().cpu().numpy().astype(np.float64))
        return np.concatenate(outputs)

    def _autocast(self, torch: Any, device: Any) -> Any:
        name = _dtype_name(self.dtype)
        if name is None or name == "float32":
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=getattr(torch, name))

    def _outputs(self, X: Any) -> np.ndarray:
        """The module's outputs (logits, scores), shape (n, n_outputs)."""

        def run(module: Any, batch: Any) -> Any:
            return _output_tensor(module(batch), type(self).__name__)

        return self._batches(X, run)

    def _has_features(self) -> bool:
        return self.features is not None

    @available_if(_has_features)
    def transform(self, X: Any) -> np.ndarray:
        """Embed images with the backbone named by ``features``.

        Feature maps (n, channels, h, w) are averaged over space, token
        sequences (n, tokens, width) over tokens, so every image gives one
        vector. Use it to build a concept detector: see the user guide.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
            Float images in [0, 1].

        Returns
        -------
        embeddings : ndarray of shape (n, n_features)
        """
        features = self.features

        def run(module: Any, batch: Any) -> Any:
            if callable(features):
                return _pooled(features(module, batch), type(self).__name__)
            return _pooled(_layer_output(module, features, batch), type(self).__name__)

        return self._batches(X, run)

    @available_if(_has_features)
    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Embed images; nothing is trained (the backbone is frozen).

        A pipeline's ``fit`` calls this on every step but the last, so
        ``make_pipeline(adapter, LogisticRegression()).fit(images, y)`` trains a
        head on the frozen embeddings.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
        y : ignored
        **fit_params : ignored

        Returns
        -------
        embeddings : ndarray of shape (n, n_features)
        """
        return self.transform(X)


class TorchImageClassifier(ClassifierMixin, _TorchImageModel):
    """A trained torch or Hugging Face image classifier as a scikit-learn classifier.

    Takes images as the library's generators produce them, (n, height, width,
    channels) float32 in [0, 1], and does what a hand-written wrapper would:
    channels first, resize to ``input_size`` (bilinear, antialiased), normalise
    with ``mean`` and ``std``, batches of ``batch_size``, ``eval()`` and
    ``torch.inference_mode()`` on the module's device, optional autocast, then
    softmax (or sigmoid for a single-logit head). Outputs with a ``.logits``
    attribute, as Hugging Face models return, are understood.

    The adapter is fitted as built (the module is trained elsewhere): pass it
    to :func:`~sklearn_depict.depict_importance`, ``cross_val_score`` or the
    command line as it is. ``clone`` shares the module rather than copying it,
    and a joblib file of the adapter loads on a machine without a GPU.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network, taking a float batch (n, channels, height, width).
    classes : array-like of shape (n_classes,), default=None
        The class labels, in the order of the module's outputs. None reads them
        from a Hugging Face ``module.config.id2label``. A single-logit binary
        head has two classes: (negative, positive).
    input_size : int or (int, int), default=None
        (height, width) the module was trained at; images are resized to it.
        None keeps the images' size, or uses the ``image_processor``'s.
    mean, std : float or sequence of float, default=None
        Per-channel normalisation ``(x - mean) / std`` of images in [0, 1],
        after resizing. None uses the ``image_processor``'s, or none at all.
    image_processor : transformers image processor, default=None
        A Hugging Face image processor (such as ``ViTImageProcessor``): its
        ``size`` (``{"height", "width"}``, or ``{"shortest_edge"}`` with its
        ``crop_size`` when ``do_center_crop``), ``image_mean`` and ``image_std``
        are used unless ``input_size``, ``mean`` or ``std`` are given. Its
        rescaling to [0, 1] is not applied: images already are.
    device : str or torch.device, default="auto"
        Where the module runs. ``"auto"`` uses the device the module's
        parameters are on. Another device moves the module there, in place, on
        the first prediction.
    dtype : str or torch.dtype, default=None
        Autocast dtype, such as ``"float16"`` or ``"bfloat16"`` on a GPU. None
        runs the module in its own dtype.
    batch_size : int, default=64
        Images per forward pass. Does not change the results beyond
        floating-point noise.
    output : {"logits", "probabilities"}, default="logits"
        What the module returns. ``"logits"`` applies a softmax, or a sigmoid
        for a single output; ``"probabilities"`` uses the outputs as they are
        (a single output is the positive class's probability).
    features : str or callable, default=None
        A backbone to embed images with :meth:`transform`: the name of a
        submodule (its output is captured with a forward hook), or a callable
        ``f(module, batch) -> tensor``. Used to build concept detectors.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    See Also
    --------
    TorchImageRegressor : The regression twin.
    ChannelsFirst : For torch models that are already estimators (skorch).

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict import TorchImageClassifier, make_shapes_dataset
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...     torch.nn.Linear(4, 2))
    >>> clf = TorchImageClassifier(net, classes=["no", "yes"], mean=0.5, std=0.5)
    >>> data = make_shapes_dataset(5, random_state=0)
    >>> clf.predict_proba(data.images).shape
    (5, 2)
    >>> clf.classes_.tolist()
    ['no', 'yes']
    """

    def __init__(
        self,
        module: Any,
        *,
        classes: Any = None,
        input_size: int | tuple[int, int] | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        image_processor: Any = None,
        device: Any = "auto",
        dtype: Any = None,
        batch_size: int = 64,
        output: str = "logits",
        features: str | Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.module = module
        self.classes = classes
        self.input_size = input_size
        self.mean = mean
        self.std = std
        self.image_processor = image_processor
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.output = output
        self.features = features

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of the module's outputs."""
        if self.classes is not None:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or len(classes) < 2:
                raise AttributeError(
                    f"classes must be a 1-D list of at least 2 labels, got {self.classes!r}."
                )
            return classes
        id2label = getattr(getattr(self.module, "config", None), "id2label", None)
        if isinstance(id2label, Mapping) and len(id2label) >= 2:
            order = sorted(id2label, key=int)
            return np.asarray([id2label[k] for k in order])
        raise AttributeError(
            "TorchImageClassifier needs the class labels: pass classes=[...] in the order "
            "of the module's outputs (for a single-logit binary head: [negative, "
            "positive]); Hugging Face models give them through config.id2label."
        )

    def _check_params(self) -> None:
        super()._check_params()
        if self.output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {self.output!r}.")

    def _scores(self, X: Any) -> np.ndarray:
        """Outputs of the module, checked against the classes."""
        classes = self.classes_
        outputs = self._outputs(X)
        width, n_classes = outputs.shape[1], len(classes)
        if width != n_classes and not (width == 1 and n_classes == 2):
            raise ValueError(
                f"The module returns {width} output(s) per image but there are "
                f"{n_classes} classes {classes.tolist()}. Pass classes= with one label per "
                "output, in the module's order (two labels for a single-logit binary "
                "head), or check that this is the trained classification head."
            )
        return outputs

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
            Float images in [0, 1].

        Returns
        -------
        proba : ndarray of shape (n, n_classes)
        """
        scores = self._scores(X)
        if self.output == "probabilities":
            proba = scores
        elif scores.shape[1] == 1:
            proba = _sigmoid(scores)
        else:
            proba = _softmax(scores)
        if proba.shape[1] == 1:
            proba = np.hstack([1.0 - proba, proba])
        return proba

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of the class probabilities, computed stably from logits.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        log_proba : ndarray of shape (n, n_classes)
        """
        if self.output == "probabilities":
            with np.errstate(divide="ignore"):
                return np.log(self.predict_proba(X))
        scores = self._scores(X)
        if scores.shape[1] == 1:
            # log sigmoid(z) = -log(1 + e^-z), and log(1 - sigmoid(z)) = -log(1 + e^z)
            return np.hstack([-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)])
        return scores - _logsumexp(scores)

    def _outputs_logits(self) -> bool:
        return self.output == "logits"

    @available_if(_outputs_logits)
    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: the log-odds of the positive class for a binary model.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        scores : ndarray of shape (n,) for two classes, else (n, n_classes)
        """
        scores = self._scores(X)
        if scores.shape[1] == 1:
            return scores[:, 0]
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each image.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        labels : ndarray of shape (n,)
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class TorchImageRegressor(RegressorMixin, _TorchImageModel):
    """A trained torch or Hugging Face image regressor as a scikit-learn regressor.

    The regression twin of :class:`TorchImageClassifier`, for the paper's
    remark that the method extends to regression: the same preprocessing,
    batching and device handling, and :meth:`predict` returns the module's
    outputs (``.logits`` of a Hugging Face model with ``problem_type=
    "regression"``).

    Parameters
    ----------
    module : torch.nn.Module
        The trained network, taking a float batch (n, channels, height, width).
    input_size : int or (int, int), default=None
        (height, width) the images are resized to.
    mean, std : float or sequence of float, default=None
        Per-channel normalisation after resizing.
    image_processor : transformers image processor, default=None
        Supplies size, mean and std, as in :class:`TorchImageClassifier`.
    device : str or torch.device, default="auto"
        Where the module runs; ``"auto"`` is where its parameters are.
    dtype : str or torch.dtype, default=None
        Autocast dtype.
    batch_size : int, default=64
        Images per forward pass.
    features : str or callable, default=None
        A backbone for :meth:`transform`.

    See Also
    --------
    TorchImageClassifier

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict import TorchImageRegressor, make_shapes_dataset
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32 * 3, 1))
    >>> reg = TorchImageRegressor(net)
    >>> reg.predict(make_shapes_dataset(4, random_state=0).images).shape
    (4,)
    """

    def __init__(
        self,
        module: Any,
        *,
        input_size: int | tuple[int, int] | None = None,
        mean: float | Sequence[float] | None = None,
        std: float | Sequence[float] | None = None,
        image_processor: Any = None,
        device: Any = "auto",
        dtype: Any = None,
        batch_size: int = 64,
        features: str | Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.module = module
        self.input_size = input_size
        self.mean = mean
        self.std = std
        self.image_processor = image_processor
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.features = features

    def predict(self, X: Any) -> np.ndarray:
        """The module's predictions.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
            Float images in [0, 1].

        Returns
        -------
        y_pred : ndarray of shape (n,), or (n, n_outputs) for several outputs
        """
        outputs = self._outputs(X)
        return outputs[:, 0] if outputs.shape[1] == 1 else outputs


# --------------------------------------------------------------------------- pickling


class _SavedModule:
    """A module serialised with ``torch.save``, loaded back on an available device."""

    def __init__(self, data: bytes, device_type: str) -> None:
        self.data = data
        self.device_type = device_type

    def load(self) -> Any:
        torch = _import_torch()
        available = self.device_type == "cpu" or (
            self.device_type == "cuda" and torch.cuda.is_available()
        ) or (self.device_type == "mps" and torch.backends.mps.is_available())
        # The whole module object is pickled (its class by reference), so this
        # loads code as joblib.load does: only for files the user trusts.
        return torch.load(
            io.BytesIO(self.data),
            map_location=None if available else "cpu",
            weights_only=False,
        )


def _module_device_type(module: Any) -> str:
    for tensor in _tensors(module):
        return tensor.device.type
    return "cpu"


# --------------------------------------------------------------------------- helpers


def _tensors(module: Any) -> Iterator[Any]:
    yield from module.parameters()
    yield from module.buffers()


def _module_device(module: Any, torch: Any) -> Any:
    for tensor in _tensors(module):
        return tensor.device
    return torch.device("cpu")


def _floating_dtype(module: Any, torch: Any) -> Any:
    """The dtype of the module's floating parameters (a half model wants half input)."""
    for tensor in _tensors(module):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextmanager
def _evaluating(module: Any, device: Any, torch: Any) -> Iterator[None]:
    """Eval mode on ``device`` for the duration; the training flag is restored."""
    if _module_device(module, torch) != device:
        module.to(device)
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def expected_channels(module: Any) -> int | None:
    """Input channels of a module: ``config.num_channels``, or its first Conv2d."""
    config_channels = getattr(getattr(module, "config", None), "num_channels", None)
    if isinstance(config_channels, int):
        return config_channels
    for layer in module.modules():
        in_channels = getattr(layer, "in_channels", None)
        if type(layer).__name__ == "Conv2d" and isinstance(in_channels, int):
            return in_channels
    return None


def _check_channels(module: Any, n_channels: int, caller: str) -> None:
    expected = expected_channels(module)
    if expected is None or expected == n_channels:
        return
    fix = (
        "Convert the images before the adapter, for example with a generator that "
        f"returns {expected}-channel images, or train the module on {n_channels}-channel "
        "images."
    )
    if n_channels == 1 and expected == 3:
        fix = (
            "The images are grey: repeat them to RGB (np.repeat(images, 3, axis=-1)), "
            "for example inside the generator, or train the module on 1-channel images."
        )
    raise ValueError(
        f"{caller}: the module expects {expected}-channel images but got images with "
        f"{n_channels} channel(s) (images are (n, height, width, channels)). {fix}"
    )


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        size = (int(value), int(value))
    elif isinstance(value, Sequence) and len(value) == 2 and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        size = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or (height, width), got {value!r}.")
    if min(size) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}.")
    return size


def _per_channel(value: Any, n_channels: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, n_channels)
    if array.size != n_channels or not np.isfinite(array).all():
        raise ValueError(
            f"{name} must be one finite number or one per channel ({n_channels}); got "
            f"{np.asarray(value).tolist()}."
        )
    return array


def _size_entry(size: Any, key: str) -> Any:
    if isinstance(size, Mapping):
        return size.get(key)
    return getattr(size, key, None)


def _processor_settings(processor: Any) -> dict[str, Any]:
    """Resize, crop, mean and std from a Hugging Face image processor.

    ``size`` comes as ``{"height", "width"}`` (ViT), ``{"shortest_edge"}``
    (CLIP, ConvNeXt; usually with a center crop to ``crop_size``) or an int.
    """
    settings: dict[str, Any] = {"resize": None, "crop": None, "mean": None, "std": None}
    if processor is None:
        return settings
    if not hasattr(processor, "size") and not hasattr(processor, "image_mean"):
        raise TypeError(
            "image_processor must be a Hugging Face image processor with size, image_mean "
            f"and image_std (such as ViTImageProcessor), got {type(processor).__name__}."
        )
    if getattr(processor, "do_resize", True):
        size = getattr(processor, "size", None)
        if isinstance(size, numbers.Integral):
            settings["resize"] = ("exact", (int(size), int(size)))
        elif size is not None:
            height, width = _size_entry(size, "height"), _size_entry(size, "width")
            shortest = _size_entry(size, "shortest_edge")
            if height and width:
                settings["resize"] = ("exact", (int(height), int(width)))
            elif shortest:
                settings["resize"] = ("shortest_edge", int(shortest))
            else:
                raise ValueError(
                    f"image_processor.size {dict(size) if isinstance(size, Mapping) else size} "
                    "is not understood: expected {'height', 'width'} or "
                    "{'shortest_edge'}. Pass input_size= instead."
                )
    if getattr(processor, "do_center_crop", False):
        crop = getattr(processor, "crop_size", None)
        if isinstance(crop, numbers.Integral):
            settings["crop"] = (int(crop), int(crop))
        elif crop is not None and _size_entry(crop, "height"):
            settings["crop"] = (int(_size_entry(crop, "height")), int(_size_entry(crop, "width")))
    if getattr(processor, "do_normalize", True):
        settings["mean"] = getattr(processor, "image_mean", None)
        settings["std"] = getattr(processor, "image_std", None)
    return settings


def _resize(batch: Any, resize: Any, crop: Any, torch: Any) -> Any:
    height, width = batch.shape[-2:]
    if resize is not None:
        kind, value = resize
        if kind == "exact":
            target = value
        else:  # shortest edge to value, keeping the aspect ratio
            short, long = (height, width) if height <= width else (width, height)
            other = int(value * long / short)
            target = (value, other) if height <= width else (other, value)
        if tuple(target) != (height, width):
            batch = torch.nn.functional.interpolate(
                batch, size=tuple(target), mode="bilinear", align_corners=False,
                antialias=True,
            )
    if crop is not None:
        height, width = batch.shape[-2:]
        crop_h, crop_w = min(crop[0], height), min(crop[1], width)
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        batch = batch[..., top : top + crop_h, left : left + crop_w]
    return batch


def _output_tensor(output: Any, caller: str) -> Any:
    """The (n, k) tensor of a module's output: ``.logits``, a tuple's first item..."""
    if hasattr(output, "logits") and output.logits is not None:
        output = output.logits
    elif isinstance(output, Mapping) and "logits" in output:
        output = output["logits"]
    elif isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not hasattr(output, "ndim") or not hasattr(output, "detach"):
        raise TypeError(
            f"{caller}: the module returned {type(output).__name__}; expected a tensor of "
            "shape (n, n_outputs), or an object with a .logits tensor."
        )
    if output.ndim == 1:
        output = output[:, None]
    if output.ndim != 2:
        raise ValueError(
            f"{caller}: the module returned a tensor of shape {tuple(output.shape)}; "
            "expected (n, n_outputs). Add a pooling and a linear head, or pass "
            "features= and use transform for embeddings."
        )
    return output


def _layer_output(module: Any, name: str, batch: Any) -> Any:
    try:
        layer = module.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n][:20]
        raise ValueError(
            f"features={name!r} names no submodule of {type(module).__name__}; its "
            f"submodules include {names}."
        ) from None
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        module(batch)
    finally:
        handle.remove()
    return captured[-1]


def _pooled(output: Any, caller: str) -> Any:
    """One vector per image from a layer's output."""
    for key in ("pooler_output", "last_hidden_state"):
        value = getattr(output, key, None)
        if value is not None:
            output = value
            break
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not hasattr(output, "ndim"):
        raise TypeError(f"{caller}: the features gave {type(output).__name__}, not a tensor.")
    if output.ndim == 4:  # feature maps (n, channels, h, w)
        return output.mean(dim=(2, 3))
    if output.ndim == 3:  # token sequences (n, tokens, width)
        return output.mean(dim=1)
    return output.reshape(output.shape[0], -1)


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _logsumexp(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    return top + np.log(np.exp(scores - top).sum(axis=1, keepdims=True))


def _sigmoid(scores: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -scores))
