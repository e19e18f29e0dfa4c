"""Torch helpers shared by the torch estimators and the diffusion generator.

Torch itself is imported inside functions only: importing this module is cheap.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "SavedModule",
    "dtype_name",
    "evaluating",
    "floating_dtype",
    "import_torch",
    "module_device",
    "module_device_type",
    "one_thread",
    "resolve_device",
]

_DTYPE_ALIASES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "fp64": "float64", "double": "float64",
}  # fmt: skip


def dtype_name(dtype: Any) -> str | None:
    """The canonical name of a dtype given as None, a str alias or a torch.dtype.

    Examples
    --------
    >>> from sklearn_depict._torch_utils import dtype_name
    >>> dtype_name("fp16"), dtype_name("torch.bfloat16"), dtype_name(None)
    ('float16', 'bfloat16', None)
    """
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


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in CI
        raise ImportError(
            "TorchImageClassifier and TorchImageRegressor need torch. Install it with "
            "pip install torch (pin torch==2.13.0 on CPU-only machines)."
        ) from exc
    return torch


class SavedModule:
    """A module serialised with ``torch.save``, loaded back on an available device."""

    def __init__(self, data: bytes, device_type: str) -> None:
        self.data = data
        self.device_type = device_type

    def load(self) -> Any:
        torch = import_torch()
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


def module_device_type(module: Any) -> str:
    for tensor in _tensors(module):
        return tensor.device.type
    return "cpu"


def _tensors(module: Any) -> Iterator[Any]:
    yield from module.parameters()
    yield from module.buffers()


def module_device(module: Any, torch: Any) -> Any:
    for tensor in _tensors(module):
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: Any, torch: Any, *, owner: str) -> Any:
    """The torch device to run on; ``"auto"`` (or None) is CUDA when torch sees one.

    A device that torch cannot use here, such as ``"cuda"`` on a machine or a
    torch build without CUDA, raises a ValueError that names ``device`` and
    the fix, before any model is moved, instead of torch's "Torch not
    compiled with CUDA enabled" from deep inside a call.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"`` or None, or a device torch knows (``"cpu"``, ``"cuda:1"``).
    torch : module
        The torch module (imported by the caller).
    owner : str
        Who was given ``device``, for the message (``"fit_text_to_image"``).

    Returns
    -------
    device : torch.device

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict._torch_utils import resolve_device
    >>> resolve_device("cpu", torch, owner="f")
    device(type='cpu')
    >>> resolve_device("auto", torch, owner="f").type in ("cpu", "cuda")
    True
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{owner}(device={device!r}): not a device torch knows. Use device='auto' "
            "(CUDA when available, else the CPU), 'cpu' or 'cuda'."
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = " (this torch build has no CUDA support)" if torch.version.cuda is None else ""
            problem = f"torch sees no CUDA device here{build}"
        elif resolved.index is not None and resolved.index >= torch.cuda.device_count():
            problem = f"torch sees only {torch.cuda.device_count()} CUDA device(s)"
        else:
            return resolved
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        problem = "torch sees no MPS device here"
    else:
        return resolved
    raise ValueError(
        f"{owner}(device={device!r}): {problem}. Use device='auto' (CUDA when available, "
        "else the CPU) or device='cpu'."
    )


def floating_dtype(module: Any, torch: Any) -> Any:
    """The dtype of the module's floating parameters (a half model wants half input)."""
    for tensor in _tensors(module):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


@contextmanager
def evaluating(module: Any, device: Any, torch: Any) -> Iterator[None]:
    """Eval mode on ``device`` for the duration; the training flag is restored."""
    if module_device(module, torch) != device:
        module.to(device)
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@contextmanager
def one_thread(torch: Any) -> Iterator[None]:
    """Run torch on one CPU thread for the duration, then restore the count.

    A small network trained on the CPU gets bit-identical weights from the
    same seed only when the reductions run in the same order, and torch splits
    them by thread count: on one thread, ``seed=0`` means the same model on
    every machine.

    Examples
    --------
    >>> import torch
    >>> from sklearn_depict._torch_utils import one_thread
    >>> before = torch.get_num_threads()
    >>> with one_thread(torch):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
