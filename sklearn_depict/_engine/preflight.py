"""Checks that need no image, run before the first image is generated.

Generation is the expensive part of a run: minutes to hours with a diffusion
model. Everything that can be known from the estimator, the scorer, the target
and the captions is checked here first, so that a mistake costs seconds, not
a run. Pure functions: nothing here generates or predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.multiclass import type_of_target

from ..stats.replay import checked_score, make_replay

__all__ = [
    "check_captions",
    "check_not_torch_module",
    "check_scoring_before_generating",
    "is_torch_module",
]


def is_torch_module(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, without importing torch.

    Examples
    --------
    >>> from sklearn_depict._engine.preflight import is_torch_module
    >>> is_torch_module(object())
    False
    """
    return any(
        cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"
        for cls in type(obj).__mro__
    )


def check_not_torch_module(obj: Any, role: str = "estimator") -> None:
    """Raise a TypeError naming the adapter when a bare torch module is given.

    Parameters
    ----------
    obj : object
        What the user passed.
    role : str, default="estimator"
        The parameter it was passed as, for the message.
    """
    if not is_torch_module(obj):
        return
    raise TypeError(
        f"The {role} is a torch module ({type(obj).__name__}), which has no predict or "
        "predict_proba. Wrap it: sklearn_depict.TorchImageClassifier(module, "
        "classes=[...], input_size=..., mean=..., std=...) (or TorchImageRegressor); "
        "it takes the (n, height, width, channels) images that generators produce. "
        "A Hugging Face model can pass image_processor= for its size and normalisation."
    )


def check_scoring_before_generating(
    estimator: Any,
    available: tuple[str, ...],
    methods: set[str],
    scorer: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    *,
    scoring: Any,
) -> None:
    """Fail now on a scorer that cannot score this target or this model.

    The scorer is run once on stand-in predictions of the right shape (random
    probabilities over ``classes_``, or random values for a regressor) against
    the real ``y``. Whatever it rejects then, such as ``roc_auc`` on a 3-class
    target or a target with one class, it would reject after generating every
    baseline image.

    Parameters
    ----------
    estimator : object
        The fitted model explained.
    available : tuple of str
        Its prediction methods.
    methods : set of str
        The methods the scorer will call.
    scorer : callable
        From ``check_scoring``.
    y : ndarray
        The target.
    sample_weight : ndarray or None
    scoring : object
        The ``scoring`` argument, for messages.
    """
    missing = sorted(m for m in methods if m not in available)
    if missing:
        raise AttributeError(
            f"{_scoring_text(scoring)} calls {type(estimator).__name__}.{missing[0]}, which "
            f"it does not have (it has {list(available)}). Pass a scorer that uses what "
            "the model offers, for example scoring='neg_log_loss' or 'roc_auc' for a "
            "model with predict_proba."
        )
    replay = make_replay(estimator, available)
    classes = getattr(replay, "classes_", None)
    if y.ndim != 1 or (classes is not None and classes.ndim != 1):
        return  # multi-output targets: left to the baseline check
    replay = replay.with_responses(_stand_in_predictions(methods, y, classes))
    target = type_of_target(y, input_name="y")
    hint = ""
    if target == "multiclass":
        hint = (
            " For a multi-class target use a multi-class scorer, such as 'accuracy', "
            "'neg_log_loss', 'roc_auc_ovr' or 'f1_macro'."
        )
    what = (
        f"Checking {_scoring_text(scoring)} against y (a {target} target) before "
        "generating any image"
    )
    try:
        checked_score(scorer, replay, np.arange(len(y)), y, sample_weight, what=what)
    except ValueError as exc:
        raise ValueError(f"{exc}{hint}") from exc.__cause__


def _scoring_text(scoring: Any) -> str:
    if scoring is None:
        return "scoring=None (the estimator's score)"
    if isinstance(scoring, str):
        return f"scoring={scoring!r}"
    return f"the scorer {scoring!r}"


def _stand_in_predictions(
    methods: set[str], y: np.ndarray, classes: np.ndarray | None
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = len(y)
    if classes is None:
        # Values in the target's own range, so that metrics with a domain (log
        # errors, Poisson and gamma deviances) accept them when y fits it, and
        # not constant, so that correlation-like scorers are defined.
        values = np.asarray(y, dtype=float)
        return {"predict": 0.9 * values.mean() + 0.1 * rng.permutation(values)}
    proba = rng.dirichlet(np.ones(len(classes)), size=n)
    log_proba = np.log(proba)
    decision = log_proba[:, 1] - log_proba[:, 0] if len(classes) == 2 else log_proba
    responses = {
        "predict": classes[np.argmax(proba, axis=1)],
        "predict_proba": proba,
        "predict_log_proba": log_proba,
        "decision_function": decision,
    }
    return {method: responses[method] for method in methods if method in responses}


def check_captions(generator: Any, captions: list[str]) -> None:
    """Let a generator reject captions it cannot draw, before it draws any.

    Generators may offer ``check_captions(captions)``; the embedded
    :class:`~sklearn_depict.ShapesGenerator` raises there for words outside its
    vocabulary.
    """
    check = getattr(generator, "check_captions", None)
    if callable(check):
        check(sorted(set(captions)))
