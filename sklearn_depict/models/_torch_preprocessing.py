"""Image preprocessing and output handling of the torch estimators.

What :mod:`sklearn_depict.models.torch_adapters` does to a batch before and after the
module: channel checks, sizes and per-channel statistics, the settings of a
Hugging Face image processor, resizing and cropping, reading logits or
features out of a module's output. Torch is passed in, never imported here.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["class_order", "expected_channels", "output_labels"]


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


def _module_failure(
    exc: Exception, caller: str, batch_shape: tuple[int, ...], image_shape: tuple[int, ...],
    module: Any,
) -> Exception | None:
    """The error to raise when the module fails on a batch; None to raise ``exc`` as it is.

    Torch's shape errors (RuntimeError) and a Hugging Face model's image size
    error (a ValueError, "Input image size (64*64) doesn't match model
    (32*32)") say what the module got; this says where it came from and which
    parameters fix it. Out-of-memory errors and the other ValueErrors are
    left as they are: no parameter of the preprocessing fixes them.
    """
    text = str(exc)
    if "out of memory" in text.lower() or (
        isinstance(exc, ValueError) and "doesn't match model" not in text
    ):
        return None
    size = getattr(getattr(module, "config", None), "image_size", None)
    configured = "" if size is None else f" The module's config says image_size={size}."
    message = (
        f"{caller}: the module failed on a batch of shape {batch_shape} (n, channels, "
        f"height, width), made from images of shape {image_shape} (height, width, "
        f"channels): {exc}. Check input_size (or the image_processor's size), mean and "
        f"std, and the number of channels the module expects.{configured}"
    )
    return ValueError(message) if isinstance(exc, ValueError) else RuntimeError(message)


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


def output_labels(classes: Any, module: Any, caller: str) -> np.ndarray:
    """The label of each of the module's outputs, in the module's order.

    ``classes`` as the user gave it, or a Hugging Face ``config.id2label``.
    Raises an AttributeError (so that ``hasattr(adapter, "classes_")`` is
    False) when there are no labels or they cannot name distinct outputs.
    """
    if classes is not None:
        labels = np.asarray(classes)
        if labels.ndim != 1 or len(labels) < 2:
            raise AttributeError(
                f"classes must be a 1-D list of at least 2 labels, got {classes!r}."
            )
        source = "classes"
    else:
        id2label = getattr(getattr(module, "config", None), "id2label", None)
        if not (isinstance(id2label, Mapping) and len(id2label) >= 2):
            raise AttributeError(
                f"{caller} needs the class labels: pass classes=[...] naming the module's "
                "outputs in its order (for a single-logit binary head: first the label "
                "of a low logit, then the label whose probability sigmoid(logit) is). "
                "Hugging Face models give them through config.id2label. classes_ is "
                "then sorted as scikit-learn's classifiers sort it, and predict_proba's "
                "columns follow classes_."
            )
        labels = np.asarray([id2label[k] for k in sorted(id2label, key=int)])
        source = "config.id2label"
    if len(np.unique(labels)) != len(labels):
        raise AttributeError(
            f"{source} must name each output with a distinct label, got "
            f"{labels.tolist()}."
        )
    return labels


def class_order(labels: np.ndarray) -> np.ndarray:
    """The output index of each class of ``classes_``: ``labels[order]`` is sorted.

    scikit-learn's scorers take ``classes_`` to be sorted as ``np.unique``
    sorts it (the last class is the positive one of a binary metric), so the
    adapters sort their labels and reorder the module's outputs to match.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.models._torch_preprocessing import class_order
    >>> labels = np.array(["normal", "abnormal"])
    >>> labels[class_order(labels)].tolist()
    ['abnormal', 'normal']
    """
    order = np.argsort(labels, kind="stable")
    # argsort and np.unique agree for every dtype np.asarray gives; checked so
    # that a column can never be paired with another class's label.
    if not np.array_equal(labels[order], np.unique(labels)):  # pragma: no cover
        raise ValueError(f"Cannot sort the class labels {labels.tolist()}.")
    return order
