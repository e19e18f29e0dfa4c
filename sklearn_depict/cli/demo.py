"""The end-to-end demo on the paper's synthetic shapes domain."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils import Bunch

from ..caption_to_image import CaptionToImage
from ..datasets.shapes import make_concept_labels, make_shapes_dataset, oracle_importance
from ..diagnostics import depict_diagnostics
from ..formatting import fixed
from ..generators.shapes import ShapesGenerator
from ..importance import depict_importance
from ..models.bottleneck import ConceptBottleneckClassifier, make_shapes_detector
from ..reporting.verdicts import format_checks

__all__ = ["demo_payload", "run_demo", "write_demo_report"]


def run_demo(
    n_samples: int = 500,
    *,
    n_repeats: int = 25,
    n_train: int = 2000,
    seed: int = 0,
    n_jobs: int | None = None,
    cache: Any = None,
    verbose: int = 1,
    diagnostics: bool = True,
    generator: str = "shapes",
) -> Bunch:
    """Explain a concept-bottleneck classifier whose reliance is known.

    1. Render a training set and a test set of shapes.
    2. Draw concept weights ``w ~ U[0, 1]`` and label each image by whether
       ``w · c`` exceeds its median.
    3. Train a concept-bottleneck classifier on the real training renders, with
       its linear head fixed to ``w``.
    4. Run :func:`depict_importance` on the test concept table with
       :class:`ShapesGenerator` and AUROC.
    5. Compare the ranking with the paper's oracle, ``w`` times the standard
       deviation of the predicted concepts.

    Parameters
    ----------
    n_samples : int, default=500
        Rows of the concept table that is explained.
    n_repeats : int, default=25
        Permutations per concept.
    n_train : int, default=2000
        Real renders the classifier is trained on.
    seed : int, default=0
        Seeds the data, the weights and the permutations.
    n_jobs : int, default=None
        Workers for generation and prediction.
    cache : str, path-like or ImageCache, default=None
        Image cache for :func:`depict_importance`.
    verbose : int, default=1
        Progress bars when above 0.
    generator : {"shapes", "diffusion"}, default="shapes"
        ``"shapes"``: the exact procedural renderer. ``"diffusion"``: the
        shipped text-to-image diffusion model
        (:func:`~sklearn_depict.shapes_diffusion.load_shapes_diffusion`, needs
        the ``diffusion`` extra); about 15 images per second on 2 CPU cores, so
        keep ``n_samples`` near 250.
    diagnostics : bool, default=True
        Also run the paper's two checks: fit the shapes concept detector
        (:func:`~sklearn_depict.models.bottleneck.make_shapes_detector`) on the
        training renders and pass it, with the real test renders, to
        :func:`depict_importance`. The result then holds ``diagnostics``.

    Returns
    -------
    report : :class:`~sklearn.utils.Bunch`
        table : DataFrame
            One row per concept: importance mean and std, oracle, both ranks.
        pearson_r : float
            Correlation of the mean importances with the oracle.
        result : Bunch
            What :func:`depict_importance` returned.
        real_score, generated_score : float
            The classifier's AUROC on the real test renders and on the images
            generated from their captions (the baseline).
        seconds : float
            Wall time of the whole demo.

    Examples
    --------
    >>> from sklearn_depict.cli.demo import run_demo
    >>> report = run_demo(100, n_repeats=2, n_train=300, verbose=0)
    >>> report.table.shape
    (6, 5)
    """
    start = time.perf_counter()
    train = make_shapes_dataset(n_train, random_state=seed)
    test = make_shapes_dataset(n_samples, random_state=seed + 1)
    weights = train.weights
    y_test = make_concept_labels(test.concept_table, weights)

    model = ConceptBottleneckClassifier(weights=weights)
    model.fit(train.images, train.target, concept_table=train.concept_table)
    checks = {}
    if diagnostics:
        detector = make_shapes_detector()
        checks = {
            "detector": detector.fit(train.images, train.concept_table),
            "X_images": test.images,
        }

    explain = depict_diagnostics if checks else depict_importance
    result = explain(
        model,
        test.concept_table,
        y_test,
        generator=CaptionToImage(make_demo_generator(generator), cache=cache),
        scoring="roc_auc",
        n_repeats=n_repeats,
        random_state=seed,
        ci_random_state=seed,
        n_jobs=n_jobs,
        verbose=verbose,
        **checks,
    )
    if checks:
        result = result.result
    oracle = oracle_importance(weights, model.concept_probabilities(test.images))
    mean = result.importances_mean
    table = pd.DataFrame(
        {
            "importance_mean": mean,
            "importance_std": result.importances_std,
            "oracle": oracle,
            "rank": _ranks(mean),
            "oracle_rank": _ranks(oracle),
        },
        index=pd.Index(result.concept_names, name="concept"),
    ).sort_values("rank")
    return Bunch(
        table=table,
        pearson_r=float(np.corrcoef(mean, oracle)[0, 1]),
        result=result,
        real_score=float(roc_auc_score(y_test, model.predict_proba(test.images)[:, 1])),
        generated_score=float(result.baseline_score),
        seconds=time.perf_counter() - start,
        generator=generator,
    )


def make_demo_generator(name: str):
    """The demo's generator: ``"shapes"`` (renderer) or ``"diffusion"`` (shipped model)."""
    if name == "shapes":
        return ShapesGenerator()
    if name == "diffusion":
        from ..shapes_diffusion import load_shapes_diffusion

        return load_shapes_diffusion()
    raise ValueError(f"generator must be 'shapes' or 'diffusion', got {name!r}.")


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the largest value."""
    order = np.argsort(-np.asarray(values), kind="stable")
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def format_report(report: Bunch) -> str:
    """The demo's result as text for a terminal."""
    result = report.result
    lines = [
        "DEPICT on synthetic shapes: which concepts does the classifier rely on?",
        "",
        f"{'concept':<14}{'importance (AUROC drop)':>26}{'oracle':>9}"
        f"{'rank':>6}{'oracle rank':>13}",
    ]
    for concept, row in report.table.iterrows():
        importance = f"{fixed(row.importance_mean, 3)} ± {fixed(row.importance_std, 3)}"
        lines.append(
            f"{concept!s:<14}{importance:>26}{fixed(row.oracle, 3):>9}"
            f"{int(row['rank']):>6}{int(row.oracle_rank):>13}"
        )
    lines += [
        "",
        f"Generator: {report.get('generator', 'shapes')}",
        f"Pearson r with the oracle: {report.pearson_r:.3f}",
        f"AUROC on real images {report.real_score:.3f}, on generated images "
        f"{report.generated_score:.3f} (baseline)",
        *format_checks(result.get("diagnostics")),
        f"Images generated: {result.n_images_generated} distinct "
        f"(bound {result.n_images_bound}; a literal run would generate "
        f"{result.n_images_naive})",
        f"Finished in {report.seconds:.1f} s",
    ]
    return "\n".join(lines)


def demo_payload(report: Bunch, *, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The demo's result in the JSON form of every result.

    See :mod:`~sklearn_depict.reporting.results_io`.

    Parameters
    ----------
    report : Bunch
        What :func:`run_demo` returned.
    options : dict, default=None
        The demo's options, stored with the result.

    Returns
    -------
    payload : dict
        :func:`~sklearn_depict.reporting.results_io.results_to_dict` of the result, with
        the oracle and, under ``summary``, the demo's correlation with the
        oracle, its AUROC on real and generated images, its wall time and
        its generator.

    Examples
    --------
    >>> from sklearn_depict.cli.demo import demo_payload, run_demo
    >>> payload = demo_payload(run_demo(60, n_repeats=2, n_train=300, verbose=0))
    >>> payload["metrics"], sorted(payload["summary"])
    (['roc_auc'], ['generated_score', 'generator', 'pearson_r', 'real_score', 'seconds'])
    """
    from ..reporting.results_io import results_to_dict

    return results_to_dict(report.result, metric_name="roc_auc", oracle=_oracle(report),
                           options=options, summary=_summary(report))


def _oracle(report: Bunch) -> np.ndarray:
    """The oracle in the order of the result's concepts (the table is sorted by rank)."""
    return report.table["oracle"].reindex(list(report.result.concept_names)).to_numpy()


def _summary(report: Bunch) -> dict[str, Any]:
    return {
        "pearson_r": report.pearson_r,
        "real_score": report.real_score,
        "generated_score": report.generated_score,
        "seconds": report.seconds,
        "generator": report.get("generator", "shapes"),
    }


def write_demo_report(
    report: Bunch,
    output_dir: Any,
    *,
    cache: Any = None,
    options: dict[str, Any] | None = None,
    verbose: int = 0,
) -> Bunch:
    """Write the demo's report with :func:`~sklearn_depict.reporting.report.write_report`.

    Parameters
    ----------
    report : Bunch
        What :func:`run_demo` returned (with ``diagnostics=True`` for the checks).
    output_dir : str or path-like
    cache : str, path-like or ImageCache, default=None
        The demo's cache; the example images are read from it when given.
    options : dict, default=None
        The demo's options, listed in the report.
    verbose : int, default=0

    Returns
    -------
    paths : Bunch
        As :func:`~sklearn_depict.reporting.report.write_report` returns.
    """
    from ..reporting.report import write_report

    return write_report(
        report.result,
        output_dir,
        generator=make_demo_generator(report.generator),
        cache=cache,
        oracle=_oracle(report),
        summary=_summary(report),
        metric_name="roc_auc",
        confidence=0.95,
        options=options,
        title="DEPICT demo on synthetic shapes",
        description=(
            "A concept-bottleneck classifier with known concept weights, explained with "
            f"the embedded ShapesGenerator. Pearson r with the oracle: {report.pearson_r:.3f}."
        ),
        verbose=verbose,
    )
