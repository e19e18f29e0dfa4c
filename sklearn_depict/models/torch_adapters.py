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
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from .._engine.preflight import is_torch_module
from .._torch_utils import (
    SavedModule,
    dtype_name,
    evaluating,
    floating_dtype,
    import_torch,
    module_device,
    module_device_type,
)
from ._torch_preprocessing import (
    _check_channels,
    _layer_output,
    _logsumexp,
    _module_failure,
    _output_tensor,
    _pair,
    _per_channel,
    _pooled,
    _processor_settings,
    _resize,
    _sigmoid,
    _softmax,
    class_order,
    output_labels,
)
from .image_transforms import check_images

__all__ = ["TorchImageClassifier", "TorchImageRegressor"]

_OUTPUTS = ("logits", "probabilities")


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
            torch = import_torch()
            buffer = io.BytesIO()
            torch.save(module, buffer)
            state["module"] = SavedModule(buffer.getvalue(), module_device_type(module))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("module")
        if isinstance(saved, SavedModule):
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
        dtype_name(self.dtype)
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
            return module_device(self.module, torch)
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
        torch = import_torch()
        device = self._device(torch)
        resize, crop, mean, std = self._preprocessing(images.shape[-1])
        input_dtype = floating_dtype(self.module, torch)
        if mean is not None:
            mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
            std_t = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        autocast = self._autocast(torch, device)
        outputs = []
        with evaluating(self.module, device, torch), torch.inference_mode():
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
                    except (RuntimeError, ValueError) as exc:
                        failure = _module_failure(exc, type(self).__name__, tuple(batch.shape),
                                                  images.shape[1:], self.module)
                        if failure is None:
                            raise
                        raise failure from exc
                outputs.append(out.detach().float().cpu().numpy().astype(np.float64))
        return np.concatenate(outputs)

    def _autocast(self, torch: Any, device: Any) -> Any:
        name = dtype_name(self.dtype)
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
        The label of each of the module's outputs, in the module's order. None
        reads them from a Hugging Face ``module.config.id2label``. A
        single-logit binary head has two: the label of a low logit, then the
        label whose probability ``sigmoid(logit)`` is. ``classes_`` sorts
        them, and the outputs are reordered to match.
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
        rescaling to [0, 1] is not applied: images already are. It is never
        called, so its backend (PIL or torchvision) does not matter.
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
        The class labels, sorted as ``np.unique`` sorts them, as every
        scikit-learn classifier's are: column k of :meth:`predict_proba`
        belongs to ``classes_[k]``, whatever the module's order, and a binary
        scorer takes ``classes_[1]`` as the positive class.

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
    >>> clf = TorchImageClassifier(net, classes=["normal", "abnormal"], mean=0.5, std=0.5)
    >>> data = make_shapes_dataset(5, random_state=0)
    >>> clf.predict_proba(data.images).shape
    (5, 2)
    >>> clf.classes_.tolist()  # sorted: column 0 is the module's output 1
    ['abnormal', 'normal']
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
        """The class labels, sorted as ``np.unique`` sorts them."""
        labels = output_labels(self.classes, self.module, type(self).__name__)
        return labels[class_order(labels)]

    def _check_params(self) -> None:
        super()._check_params()
        if self.output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {self.output!r}.")

    def _scores(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Outputs of the module, checked against the classes, and the class order.

        ``order[k]`` is the output column of ``classes_[k]``.
        """
        labels = output_labels(self.classes, self.module, type(self).__name__)
        outputs = self._outputs(X)
        width, n_classes = outputs.shape[1], len(labels)
        if width != n_classes and not (width == 1 and n_classes == 2):
            raise ValueError(
                f"The module returns {width} output(s) per image but there are "
                f"{n_classes} classes {labels.tolist()}. Pass classes= with one label per "
                "output, in the module's order (two labels for a single-logit binary "
                "head), or check that this is the trained classification head."
            )
        return outputs, class_order(labels)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)
            Float images in [0, 1].

        Returns
        -------
        proba : ndarray of shape (n, n_classes)
            Column k belongs to ``classes_[k]``.
        """
        scores, order = self._scores(X)
        if self.output == "probabilities":
            proba = scores
        elif scores.shape[1] == 1:
            proba = _sigmoid(scores)
        else:
            proba = _softmax(scores)
        if proba.shape[1] == 1:
            proba = np.hstack([1.0 - proba, proba])
        return proba[:, order]

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
        scores, order = self._scores(X)
        if scores.shape[1] == 1:
            # log sigmoid(z) = -log(1 + e^-z), and log(1 - sigmoid(z)) = -log(1 + e^z)
            log_proba = np.hstack([-np.logaddexp(0.0, scores), -np.logaddexp(0.0, -scores)])
        else:
            log_proba = scores - _logsumexp(scores)
        return log_proba[:, order]

    def _outputs_logits(self) -> bool:
        return self.output == "logits"

    @available_if(_outputs_logits)
    def decision_function(self, X: Any) -> np.ndarray:
        """Logits, in the order of ``classes_``.

        For two classes, the log-odds of ``classes_[1]``, the class that
        scikit-learn's binary scorers (``roc_auc``...) take as positive.

        Parameters
        ----------
        X : array-like of shape (n, height, width, channels)

        Returns
        -------
        scores : ndarray of shape (n,) for two classes, else (n, n_classes)
        """
        scores, order = self._scores(X)
        if scores.shape[1] > 2:
            return scores[:, order]
        # The log-odds of the module's second output, then of classes_[1].
        log_odds = scores[:, 0] if scores.shape[1] == 1 else scores[:, 1] - scores[:, 0]
        return log_odds if order[1] == 1 else -log_odds

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
