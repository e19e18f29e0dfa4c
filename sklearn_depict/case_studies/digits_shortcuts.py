"""Does a model take a shortcut? The handwritten-digits case study.

The paper's primary-feature design on real images. The task is "is the digit
5 or above"; the target models are small convolutional networks trained on
the real digits of :func:`~sklearn_depict.datasets.digits.make_digits_dataset` at 16
pixels, the size the shipped diffusion model draws:

``clean``
    Trained on the natural training split, where the style concepts
    ``thick`` and ``slanted`` are independent of the label (they are split at
    the median of each digit class).
``thick`` and ``slanted`` (the *forced* models)
    Trained only on the training rows where that concept equals the label, so
    that in its training data the concept predicts the label as well as the
    digit does, and is far easier to see. They are evaluated on the test rows
    resampled the same way (the distribution they were built for).

Each model is explained by :func:`~sklearn_depict.depict_importance` through
:class:`~sklearn_depict.models.torch_adapters.TorchImageClassifier`, with the digits
diffusion model and the digits concept detector (the paper's two checks). The
reference, computed from real images alone, is the *concept-bottleneck
oracle*: a logistic regression on the measured concept table (the digit one-hot
encoded), trained on the same rows as the network, explained by
:func:`sklearn.inspection.permutation_importance` on the same evaluated rows.
A second real-image reference needs no model at all: a network that relies on
its style concept loses AUROC on the natural test rows, where the concept says
nothing about the label.

torch is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import numbers
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils import Bunch

from ..datasets.digits import STYLE_CONCEPTS, make_digits_dataset

__all__ = [
    "MODELS",
    "concept_oracle",
    "digits_split",
    "forced_rows",
    "run_shortcut_study",
    "shortcut_labels",
    "train_digits_cnn",
]

#: The target models: one trained on natural data, one forced per style concept.
MODELS = ("clean", *STYLE_CONCEPTS)
#: The concept each model should be found to rely on most.
EXPECTED_TOP = {"clean": "digit", **{concept: concept for concept in STYLE_CONCEPTS}}
#: Size of the images the models see: that of the shipped diffusion model.
IMAGE_SIZE = 16


def shortcut_labels(target: Any) -> np.ndarray:
    """The task's labels: 1 when the digit is 5 or above.

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_shortcuts import shortcut_labels
    >>> shortcut_labels([0, 4, 5, 9]).tolist()
    [0, 0, 1, 1]
    """
    return (np.asarray(target) >= 5).astype(np.int64)


def digits_split(
    image_size: int = IMAGE_SIZE, *, random_state: int = 0, thick_threshold: str = "within_digit"
) -> Bunch:
    """The digits domain and its stratified 75/25 split.

    The split of ``scripts/train_digits_diffusion.py``: the shipped diffusion
    model never saw the test rows, so Check 1 on them is held-out.

    Parameters
    ----------
    image_size : int, default=16
    random_state : int, default=0
        Seed of :func:`sklearn.model_selection.train_test_split`.
    thick_threshold : {"within_digit", "global"}, default="within_digit"
        Passed to :func:`~sklearn_depict.datasets.digits.make_digits_dataset`.
        The split is stratified by digit, so its rows do not depend on it.

    Returns
    -------
    split : :class:`~sklearn.utils.Bunch`
        data : the :func:`~sklearn_depict.datasets.digits.make_digits_dataset` Bunch
        train, test : ndarray of row positions
        y : ndarray of shape (1797,), the task's labels

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_shortcuts import digits_split
    >>> split = digits_split()
    >>> len(split.train), len(split.test)
    (1347, 450)
    """
    from sklearn.model_selection import train_test_split

    data = make_digits_dataset(image_size=image_size, thick_threshold=thick_threshold)
    train, test = train_test_split(
        np.arange(len(data.target)), test_size=0.25, stratify=data.target,
        random_state=random_state,
    )
    return Bunch(data=data, train=train, test=test, y=shortcut_labels(data.target))


def forced_rows(concepts: pd.DataFrame, y: Any, concept: str | None) -> np.ndarray:
    """Mask of the rows where ``concept`` agrees with the label (all rows for None).

    Keeping only these rows makes the concept and the label agree one to one,
    which forces a model trained on them to be able to use the concept alone.

    Parameters
    ----------
    concepts : DataFrame
        The concept table.
    y : array-like of shape (n_samples,)
        0/1 labels.
    concept : str or None
        A binary column of ``concepts``; None keeps every row (the clean model).

    Returns
    -------
    mask : ndarray of shape (n_samples,), bool

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.case_studies.digits_shortcuts import forced_rows
    >>> table = pd.DataFrame({"thick": [0, 1, 1, 0]})
    >>> forced_rows(table, [0, 1, 0, 1], "thick").tolist()
    [True, True, False, False]
    """
    y = np.asarray(y)
    if concept is None:
        return np.ones(len(y), dtype=bool)
    if concept not in concepts.columns:
        raise ValueError(
            f"Cannot force the unknown concept {concept!r}; the concepts are "
            f"{list(concepts.columns)}."
        )
    return concepts[concept].to_numpy() == y


def _digits_cnn() -> Any:
    """Two convolutions, one pooling, a global average and a linear layer.

    Averaging over the whole image keeps the network small and makes global
    style cues (how much ink, which way strokes lean) easier to pick up than
    the arrangement of strokes that tells digits apart: a model that can take
    a shortcut when its training data offers one.
    """
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 2),
    )


def train_digits_cnn(
    images: Any, y: Any, *, epochs: int = 30, seed: int = 0, batch_size: int = 64
) -> Any:
    """Train the case study's small CNN and wrap it for scikit-learn.

    Cross-entropy, Adam (learning rate 3e-3), mini-batches drawn with a seeded
    generator, no augmentation, trained on one CPU thread: the same ``seed``
    gives the same network on any machine, and the caller's global torch
    random state is left alone.

    Parameters
    ----------
    images : ndarray of shape (n, H, W, 1)
        Grey images in [0, 1].
    y : array-like of shape (n,)
        0/1 labels.
    epochs : int, default=30
    seed : int, default=0
        Seeds the initial weights and the order of the mini-batches.
    batch_size : int, default=64

    Returns
    -------
    classifier : TorchImageClassifier
        With ``classes=[0, 1]``.

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_shortcuts import digits_split, train_digits_cnn
    >>> split = digits_split()
    >>> clf = train_digits_cnn(split.data.images[split.train[:300]],
    ...                        split.y[split.train[:300]], epochs=2)
    >>> clf.predict_proba(split.data.images[:3]).shape
    (3, 2)
    """
    import torch

    from .._torch_utils import one_thread
    from ..models.torch_adapters import TorchImageClassifier

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(
            f"train_digits_cnn expects grey images of shape (n, H, W, 1), got {images.shape}."
        )
    # Seeded without moving the caller's global torch RNG, and on one thread so
    # that the same seed gives the same network on any machine.
    with torch.random.fork_rng(devices=[]), one_thread(torch):
        torch.manual_seed(seed)
        net = _digits_cnn()
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        target = torch.as_tensor(np.asarray(y), dtype=torch.long)
        order = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(epochs):
            permutation = torch.randperm(len(x), generator=order)
            for start in range(0, len(x), batch_size):
                batch = permutation[start : start + batch_size]
                loss = torch.nn.functional.cross_entropy(net(x[batch]), target[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return TorchImageClassifier(net.eval(), classes=[0, 1])


def _bottleneck_head() -> Any:
    """Concept table → label: the digit one-hot, the style concepts as they are."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return make_pipeline(
        ColumnTransformer(
            [("digit", OneHotEncoder(handle_unknown="ignore"), ["digit"])],
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=5000),
    )


def concept_oracle(
    train_concepts: pd.DataFrame,
    y_train: Any,
    test_concepts: pd.DataFrame,
    y_test: Any,
    *,
    n_repeats: int = 10,
    random_state: Any = 0,
) -> Bunch:
    """Permutation importance of a concept-bottleneck version of a model.

    A logistic regression on the concept table (``digit`` one-hot encoded) is
    trained on the rows the network was trained on, and
    :func:`sklearn.inspection.permutation_importance` with ROC AUC explains it
    on the real concept table of the evaluated rows: no images, no generator.

    Parameters
    ----------
    train_concepts, test_concepts : DataFrame
        Concept tables with a ``digit`` column and binary style columns.
    y_train, y_test : array-like
        0/1 labels.
    n_repeats : int, default=10
    random_state : int, RandomState instance or None, default=0

    Returns
    -------
    importances : :class:`~sklearn.utils.Bunch`
        What ``permutation_importance`` returns, plus ``concept_names``,
        ``model`` (the fitted head) and ``score`` (its ROC AUC on the rows).

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_shortcuts import concept_oracle, digits_split
    >>> split = digits_split()
    >>> table = split.data.concept_table
    >>> oracle = concept_oracle(table.iloc[split.train], split.y[split.train],
    ...                         table.iloc[split.test], split.y[split.test])
    >>> str(oracle.concept_names[oracle.importances_mean.argmax()])
    'digit'
    """
    from sklearn.inspection import permutation_importance

    head = _bottleneck_head().fit(train_concepts, np.asarray(y_train))
    result = permutation_importance(
        head, test_concepts, np.asarray(y_test), scoring="roc_auc",
        n_repeats=n_repeats, random_state=random_state,
    )
    result.concept_names = np.asarray(test_concepts.columns, dtype=object)
    result.model = head
    result.score = float(roc_auc_score(y_test, head.predict_proba(test_concepts)[:, 1]))
    return result


def run_shortcut_study(
    *,
    n_explain: int | None = None,
    n_repeats: int = 10,
    epochs: int = 30,
    seed: int = 0,
    generator: Any = None,
    detector: Any = None,
    cache: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> Bunch:
    """Train the clean and forced models, and explain each with DEPICT and the oracle.

    Parameters
    ----------
    n_explain : int, default=None
        The explained rows are the first ``n_explain`` rows of the test split
        (all 450 for None). The clean model is explained on all of them, each
        forced model on those where its concept agrees with the label. Their
        index labels are kept, so a row has the same noise seed in every run
        and a shared ``cache`` generates its images once.
    n_repeats : int, default=10
        Permutations per concept, for DEPICT and the oracle.
    epochs : int, default=30
        Training epochs of each network.
    seed : int, default=0
        Seeds the networks, the permutations and the bootstrap intervals.
    generator : object, default=None
        The text-to-image generator; None loads the shipped digits diffusion
        model (:func:`~sklearn_depict.digits_diffusion.load_digits_diffusion`).
    detector : object, default=None
        The judge of the two checks; None uses
        :func:`~sklearn_depict.datasets.digits.digits_detector` at 16 pixels.
    cache : str, path-like or ImageCache, default=None
        Shared by the three runs. None uses a temporary folder, removed at
        the end.
    n_jobs : int, default=None
        Workers for generation and prediction.
    verbose : int, default=0

    Returns
    -------
    study : :class:`~sklearn.utils.Bunch`
        table : DataFrame
            One row per (model, concept): DEPICT's mean AUROC drop, its 95 %
            bootstrap interval and rank; the oracle's mean and std and rank.
        summary : DataFrame
            One row per model: training and evaluated rows, DEPICT's and the
            oracle's top concept, AUROC on real and generated images, AUROC on
            the natural test rows, and the checks' verdicts.
        models : dict
            Per model: ``classifier``, ``result`` (DEPICT's Bunch, with
            ``diagnostics``), ``oracle``, ``rows`` (evaluated index labels).
        seconds : dict
            Wall time of ``training``, ``explaining`` and ``total``.
        n_images_generated : int
            Images the generator drew for the study (its cache's count).

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_shortcuts import run_shortcut_study
    >>> study = run_shortcut_study(n_explain=40, n_repeats=2, epochs=2)  # doctest: +SKIP
    >>> study.summary.loc["thick", "depict_top"]  # doctest: +SKIP
    'thick'
    """
    from ..cache import ImageCache
    from ..datasets.digits import digits_detector

    if n_explain is not None and (
        not isinstance(n_explain, numbers.Integral) or isinstance(n_explain, bool)
        or n_explain < 10
    ):
        raise ValueError(
            f"n_explain must be None (all 450 test rows) or an int >= 10, got {n_explain!r}."
        )
    start = time.perf_counter()
    split = digits_split(IMAGE_SIZE)
    test = split.test if n_explain is None else split.test[: int(n_explain)]
    if generator is None:
        from ..digits_diffusion import load_digits_diffusion

        generator = load_digits_diffusion()
    detector = digits_detector(IMAGE_SIZE) if detector is None else detector
    with contextlib.ExitStack() as stack:
        if cache is None:
            cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="digits_shortcuts_"))
        if not isinstance(cache, ImageCache):
            cache = ImageCache(cache)
        models, seconds = _train_and_explain(
            split, test, generator, detector, cache,
            n_repeats=n_repeats, epochs=epochs, seed=seed, n_jobs=n_jobs, verbose=verbose,
        )
    seconds["total"] = time.perf_counter() - start
    return Bunch(
        table=_importance_table(models), summary=_summary(models), models=models,
        seconds=seconds, n_images_generated=int(cache.generated),
    )


def _train_and_explain(
    split: Bunch, test: np.ndarray, generator: Any, detector: Any, cache: Any, *,
    n_repeats: int, epochs: int, seed: int, n_jobs: int | None, verbose: int,
) -> tuple[dict[str, Bunch], dict[str, float]]:
    from ..caption_to_image import CaptionToImage
    from ..diagnostics import depict_diagnostics

    data, y = split.data, split.y
    models: dict[str, Bunch] = {}
    seconds = {"training": 0.0, "explaining": 0.0}
    for name in MODELS:
        concept = None if name == "clean" else name
        rows = data.concept_table.iloc[split.train]
        train = split.train[forced_rows(rows, y[split.train], concept)]
        rows = test[forced_rows(data.concept_table.iloc[test], y[test], concept)]
        clock = time.perf_counter()
        classifier = train_digits_cnn(data.images[train], y[train], epochs=epochs, seed=seed)
        seconds["training"] += time.perf_counter() - clock
        clock = time.perf_counter()
        result = depict_diagnostics(
            classifier,
            data.concept_table.iloc[rows],
            y[rows],
            generator=CaptionToImage(generator, cache=cache),
            scoring="roc_auc",
            n_repeats=n_repeats,
            random_state=seed,
            ci_random_state=seed,
            n_jobs=n_jobs,
            verbose=verbose,
            detector=detector,
            X_images=data.images[rows],
        ).result
        seconds["explaining"] += time.perf_counter() - clock
        oracle = concept_oracle(
            data.concept_table.iloc[train], y[train], data.concept_table.iloc[rows], y[rows],
            n_repeats=n_repeats, random_state=seed,
        )
        natural = classifier.predict_proba(data.images[split.test])[:, 1]
        models[name] = Bunch(
            classifier=classifier, result=result, oracle=oracle, rows=rows,
            n_train=len(train),
            natural_score=float(roc_auc_score(y[split.test], natural)),
        )
    return models, seconds


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.asarray(values), kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _importance_table(models: dict[str, Bunch]) -> pd.DataFrame:
    frames = []
    for name, model in models.items():
        result, oracle = model.result, model.oracle
        frames.append(pd.DataFrame({
            "model": name,
            "concept": list(result.concept_names),
            "depict_mean": result.importances_mean,
            "depict_ci_low": np.asarray(result.importances_ci)[:, 0],
            "depict_ci_high": np.asarray(result.importances_ci)[:, 1],
            "depict_rank": _ranks(result.importances_mean),
            "oracle_mean": oracle.importances_mean,
            "oracle_std": oracle.importances_std,
            "oracle_rank": _ranks(oracle.importances_mean),
        }))
    return pd.concat(frames).set_index(["model", "concept"])


def _summary(models: dict[str, Bunch]) -> pd.DataFrame:
    rows = {}
    for name, model in models.items():
        result, oracle = model.result, model.oracle
        diagnostics = result.diagnostics
        names = list(result.concept_names)
        rows[name] = {
            "n_train": model.n_train,
            "n_explained": len(model.rows),
            "expected_top": EXPECTED_TOP[name],
            "depict_top": names[int(np.argmax(result.importances_mean))],
            "oracle_top": names[int(np.argmax(oracle.importances_mean))],
            "real_auc": float(diagnostics.real_score),
            "generated_auc": float(diagnostics.generated_score),
            "natural_auc": model.natural_score,
            "check_1": diagnostics.checks["effective_generation"],
            "check_2": diagnostics.checks["independent_permutation"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")
