"""Loading the diffusion models that ship inside the package.

Each shipped model is a folder ``weights`` (``save_pretrained`` layout,
safetensors) beside a ``training.json`` that records how it was trained and
how well it draws. This module holds what loading one takes, so that every
shipped domain loads the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_shipped_generator", "read_training_report"]


def read_training_report(folder: Path) -> dict[str, Any]:
    """The ``training.json`` beside a shipped model's weights."""
    return json.loads((Path(folder) / "training.json").read_text())


def load_shipped_generator(
    folder: Path,
    *,
    script: str,
    defaults: dict[str, Any] | None = None,
    weights: str = "weights",
    **generator_kwargs: Any,
) -> Any:
    """A :class:`DiffusersGenerator` for the weights in ``folder / weights``.

    Parameters
    ----------
    folder : Path
        The shipped model's package folder.
    script : str
        The script that trains it, named in the error when the weights are missing.
    defaults : dict, default=None
        The model's own sampler settings (steps, guidance); the caller's
        ``generator_kwargs`` override them rather than colliding with them.
    weights : str, default="weights"
        The weights' subfolder, for a domain that ships more than one model.
    **generator_kwargs
        Any :class:`DiffusersGenerator` parameter, over the defaults of
        shipped models: offline, DPM-Solver++, batches of 64.

    Returns
    -------
    generator : DiffusersGenerator
    """
    from .diffusers import DiffusersGenerator

    weights_dir = Path(folder) / weights
    if not (weights_dir / "model_index.json").exists():
        raise FileNotFoundError(
            f"The diffusion weights are missing from {weights_dir}; train them with {script}."
        )
    kwargs: dict[str, Any] = dict(
        local_files_only=True, scheduler="DPMSolverMultistepScheduler", batch_size=64
    )
    kwargs.update(defaults or {})
    kwargs.update(generator_kwargs)
    return DiffusersGenerator(str(weights_dir), **kwargs)
