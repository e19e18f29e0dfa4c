"""Importing the diffusion backend, and small helpers of the diffusers generator.

torch, diffusers and transformers are imported on first use only, and a
missing one is reported with the extra that installs it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from importlib import metadata as importlib_metadata
from typing import Any

import numpy as np

__all__ = [
    "EXTRA_HINT",
    "dtype_keyword",
    "import_backend",
    "is_int",
    "is_model_reference",
    "package_version",
    "progress_bars",
]

EXTRA_HINT = (
    'Install them with: pip install "sklearn-depict[diffusion]". The extra asks '
    "for torch>=2.1 and keeps a torch already installed; on a machine without "
    'one, install yours first (pip install "torch==2.13.0" on this platform, the '
    "CPU build: an unpinned torch pulls several GB of CUDA packages)."
)


def import_backend(*, accelerate: bool = False) -> tuple[Any, Any]:
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
            f"and accelerate, and {', '.join(missing)} could not be found. " + EXTRA_HINT
        )
    try:
        for name in names:
            import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"DiffusersGenerator could not import {name}: {exc}. " + EXTRA_HINT
        ) from exc
    return import_module("torch"), import_module("diffusers")


def _installed(name: str) -> bool:
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def package_version(name: str) -> str:
    # Read once per process: the code this process imported stays what it
    # was, whatever is installed later, and reading the metadata takes
    # milliseconds, half of a kept fingerprint's check.
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError as exc:
        raise ImportError(
            f"DiffusersGenerator needs {name}, which is not installed. " + EXTRA_HINT
        ) from exc


def dtype_keyword() -> str:
    """``dtype`` where diffusers deprecates ``torch_dtype`` for it, else ``torch_dtype``."""
    try:
        deprecation = import_module("diffusers.utils.deprecation_utils")
    except ImportError:
        return "torch_dtype"
    return "dtype" if hasattr(deprecation, "_TORCH_DTYPE_DEPRECATION_MESSAGE") else "torch_dtype"


def is_model_reference(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike))


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
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
