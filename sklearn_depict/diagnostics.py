"""The paper's two checks before trusting a ranking.

1. **Effective generation**: the target model scores about the same on real and
   on generated images, and a concept detector finds each concept about equally
   well in both.
2. **Independent permutation**: permuting concept j lowers the detector's score
   for j and leaves every other concept's score alone (scored against the
   original labels).

Both reuse the images the importance run generated: the detector predicts each
distinct image in the same streamed chunks as the estimator. The checks are
pure functions of what the engine gathered (image ids, the detector's
probabilities, concept labels, scores); :class:`Checks` hands them over.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._engine.params import CHECK_CONSTRAINTS, RUN_CONSTRAINTS, check_scoring_names
from ._engine.plan import ImportancePlan
from ._engine.probe import N_REAL_PROBES, PreflightError, model_name, predict_probe
from ._engine.run import explain, predict_real
from ._engine.stages import Predictions, RunInputs, Scores
from ._sklearn_compat import validate_params
from ._warnings import external_stacklevel
from .caption_to_image import CaptionToImage, unpack_caption_step
from .exceptions import DiagnosticWarning
from .formatting import quoted
from .models.image_transforms import looks_channels_first
from .stats.chance import chance_failures, chance_level
from .stats.concept_auroc import (
    _categories,
    _concept_auroc,
    _outputs,
    _presence,
    auroc,
    concept_probabilities,
)
from .stats.results import is_single_metric

if TYPE_CHECKING:
    from .generators._base import GeneratorLike

__all__ = [
    "Checks",
    "DEFAULT_TOLERANCES",
    "DiagnosticWarning",
    "auroc",
    "depict_diagnostics",
    "detector_checks",
    "generation_checks",
]

DEFAULT_TOLERANCES = {"generation_gap": 0.1, "min_drop": 0.1, "max_leak": 0.05}


def generation_checks(
    baseline_scores: Mapping[Any, Any],
    shared: Bunch,
    failures: list[str],
    real_scores: Any,
    *,
    ran_independence: bool,
    chance_scores: Mapping[Any, float] | None = None,
    labels: Mapping[Any, str] | None = None,
) -> dict[Any, Bunch]:
    """Check 1 for the estimator; both checks as each metric's ``diagnostics``.

    Check 1 compares the estimator's score on real and on generated images,
    and fails too when either score is at or below chance
    (:func:`~sklearn_depict.stats.chance.chance_failures`), real images or not. A
    :class:`DiagnosticWarning` is issued for each failed check.

    Parameters
    ----------
    baseline_scores : mapping
        From metric name (None for a single metric) to its score on the
        generated images.
    shared : Bunch
        What the detector's checks found (with ``tolerances``).
    failures : list of str
        The detector's failed checks.
    real_scores : float, dict or None
        The estimator's score on the real images (None without them).
    ran_independence : bool
        Whether a detector was checked.
    chance_scores : mapping, default=None
        From metric name to the score of guessing (NaN where undefined).
    labels : mapping, default=None
        From metric name to its name in messages (a single metric's scorer).

    Returns
    -------
    diagnostics : dict
        From metric name to its ``diagnostics`` Bunch.
    """
    tol = shared.tolerances
    found = {}
    for name, generated in baseline_scores.items():
        diagnostics = Bunch(**shared)
        own_failures = list(failures)
        diagnostics.generated_score = generated
        diagnostics.chance_score = (chance_scores or {}).get(name, np.nan)
        real = None
        if real_scores is not None:
            real = real_scores[name] if isinstance(real_scores, dict) else real_scores
            diagnostics.real_score = real
            diagnostics.score_gap = real - generated
            if abs(diagnostics.score_gap) > tol["generation_gap"]:
                label = "score" if name is None else name
                own_failures.append(
                    f"effective generation: the estimator's {label} is {real:.3f} on real "
                    f"images but {generated:.3f} on generated ones (gap "
                    f"{diagnostics.score_gap:+.3f}, tolerance {tol['generation_gap']})."
                )
        label = (labels or {}).get(name) or ("score" if name is None else str(name))
        below_chance = chance_failures(
            label, Bunch(baseline_score=generated, chance_score=diagnostics.chance_score), real
        )
        own_failures += below_chance
        diagnostics.checks = {
            "effective_generation": _verdict(
                own_failures, "effective generation",
                real_scores is not None or bool(below_chance),
            ),
            "independent_permutation": _verdict(
                own_failures, "independent permutation", ran_independence
            ),
        }
        diagnostics.failures = own_failures
        found[name] = diagnostics
    seen: set[str] = set()
    for diagnostics in found.values():
        for message in diagnostics.failures:
            if message not in seen:
                seen.add(message)
                warnings.warn(message, DiagnosticWarning, stacklevel=external_stacklevel())
    return found


def _verdict(failures: list[str], check: str, ran: bool) -> bool | None:
    if not ran:
        return None
    return not any(message.startswith(check) for message in failures)


def detector_checks(
    out: Bunch,
    plan: ImportancePlan,
    labels: np.ndarray,
    proba: np.ndarray,
    real_proba: np.ndarray | None,
    detector_concepts: list[Any],
    tol: dict[str, float],
    groups: np.ndarray | None = None,
) -> list[str]:
    """Check 1 for the detector, and check 2: AUROC drops after each permutation.

    Parameters
    ----------
    out : Bunch
        Receives ``detector_concepts``, ``detector_generated_auc``,
        ``detector_real_auc``, ``detector_gaps`` and ``independence``.
    plan : ImportancePlan
        Which image id each row shows, in the baseline and after permutation.
    labels : ndarray of shape (n_samples, n_label_columns)
        One 0/1 column per binary detector concept (its presence) and one per
        class of a categorical concept (one-vs-rest), as :func:`_presence` gives.
    proba : ndarray of shape (n_distinct, n_label_columns)
        The detector's scores for every distinct generated image, in the
        same columns.
    real_proba : ndarray of shape (n_samples, n_label_columns) or None
        Its scores for the real images.
    detector_concepts : list
    tol : dict
        The tolerances.
    groups : ndarray of shape (n_label_columns,), default=None
        The detector concept each column belongs to; a categorical concept's
        AUROC is the macro mean of its classes' one-vs-rest AUROCs. None: one
        column per concept.

    Returns
    -------
    failures : list of str
    """
    failures = []
    if groups is None:
        groups = np.arange(len(detector_concepts))

    generated = _concept_auroc(labels, proba[plan.baseline_ids], groups)
    out.detector_concepts = detector_concepts
    out.detector_generated_auc = generated
    if real_proba is not None:
        real = _concept_auroc(labels, real_proba, groups)
        out.detector_real_auc = real
        out.detector_gaps = real - generated
        for k, gap in enumerate(out.detector_gaps):
            if np.isfinite(gap) and abs(gap) > tol["generation_gap"]:
                failures.append(
                    f"effective generation: the detector finds {quoted(detector_concepts[k])} "
                    f"with AUROC {real[k]:.3f} in real images but {generated[k]:.3f} in "
                    f"generated ones (tolerance {tol['generation_gap']})."
                )

    rows = plan.row_indices
    scored_labels = labels[rows]
    base = _concept_auroc(scored_labels, proba[plan.baseline_ids[rows]], groups)
    n_entries, n_repeats, _ = plan.permuted_ids.shape
    drops = np.empty((n_entries, n_repeats, len(detector_concepts)))
    for j in range(n_entries):
        for r in range(n_repeats):
            drops[j, r] = base - _concept_auroc(
                scored_labels, proba[plan.permuted_ids[j, r]], groups
            )
    matrix = drops.mean(axis=1)
    out.independence = pd.DataFrame(
        matrix,
        index=pd.Index(plan.concept_names, name="permuted"),
        columns=pd.Index(detector_concepts, name="detected"),
    )
    for j, name in enumerate(plan.concept_names):
        own = [k for k, c in enumerate(detector_concepts) if c in plan.concept_columns[j]]
        others = [k for k in range(len(detector_concepts)) if k not in own]
        if own:
            drop = np.nanmean(matrix[j, own])
            if not drop >= tol["min_drop"]:
                failures.append(
                    f"independent permutation: permuting {quoted(name)} lowers the detector's "
                    f"AUROC for it by only {drop:.3f} (expected at least "
                    f"{tol['min_drop']}): the generator may ignore this concept."
                )
        leaks = {
            detector_concepts[k]: matrix[j, k]
            for k in others
            if np.isfinite(matrix[j, k]) and abs(matrix[j, k]) > tol["max_leak"]
        }
        if leaks:
            shown = ", ".join(f"{quoted(c)} ({v:+.3f})" for c, v in leaks.items())
            failures.append(
                f"independent permutation: permuting {quoted(name)} also changes the "
                f"detector's AUROC for {shown} (tolerance {tol['max_leak']}): the "
                "concepts are entangled in generation."
            )
    return failures


@dataclasses.dataclass(frozen=True)
class Checks:
    """The two checks of one run: inputs checked before generation, results after.

    The engine calls :meth:`validate` once the run is planned (before any
    image is generated; the estimator and the detector are tried on two real
    images there) and runs the checks it returns: :meth:`check_detector_output`
    on the detector's output for a probe image of the generated size, their
    ``detector`` predicts every image too, and their :meth:`apply` gives each metric's
    ``diagnostics`` once the importances are scored. The checks themselves
    (:func:`detector_checks`, :func:`generation_checks`) are pure functions
    of what the engine gathered: image ids, the detector's probabilities,
    concept labels and scores (on the real images too, see
    ``sklearn_depict._engine.run.predict_real``).

    Attributes
    ----------
    detector : object or None
        The concept detector.
    X_images : array-like or None
        The real images.
    detector_concepts : list or None
        The table columns the detector's outputs stand for; None means every
        permuted column until :meth:`validate` lists them.
    tolerances : dict or None
        Overrides of :data:`DEFAULT_TOLERANCES`; all of them after
        :meth:`validate`.
    default_concepts : bool
        Whether :meth:`validate` listed ``detector_concepts`` itself (every
        permuted column), for messages.
    """

    detector: Any
    X_images: Any
    detector_concepts: Any
    tolerances: dict[str, float] | None
    default_concepts: bool = False

    def validate(self, inputs: RunInputs) -> Checks:
        """The checks ready to apply; raises on a mistake that needs no generated image.

        The estimator and the detector are tried on two of the real images,
        so that real images they cannot take, or a detector whose outputs do
        not match its concepts, fail now rather than after the run.

        Returns
        -------
        checks : Checks
            With every tolerance, ``X_images`` as an array and
            ``detector_concepts`` listed.
        """
        tol = dict(DEFAULT_TOLERANCES)
        unknown = set(self.tolerances or {}) - set(tol)
        if unknown:
            raise ValueError(f"Unknown tolerance(s) {sorted(unknown)}; use {sorted(tol)}.")
        tol.update(self.tolerances or {})
        table = inputs.table
        images = self.X_images
        if images is not None:
            images = np.asarray(images)
            if images.ndim < 2 or len(images) != table.n_rows:
                raise ValueError(
                    f"X_images must hold one real image per row of the concept table "
                    f"({table.n_rows}), got an array of shape {images.shape}."
                )
            if looks_channels_first(images.shape):
                raise PreflightError(
                    f"{{argument}} has shape {images.shape}, which looks channels-first "
                    "(n, channels, height, width); images are channels last, (n, height, "
                    "width, channels), as generators make them. Move the channels last "
                    "(np.moveaxis(images, 1, -1)).",
                    "X_images",
                )
        concepts = None
        if self.detector is not None:
            if hasattr(self.detector, "fit") and hasattr(self.detector, "get_params"):
                check_is_fitted(
                    self.detector,
                    msg="The detector %(name)s is not fitted yet: the checks need a fitted "
                        "concept detector. Fit it on images and their concept table first "
                        "(detector.fit(images, concepts)), then pass it as detector=.",
                )
            concepts = self.detector_concepts
            if concepts is None:
                concepts = [c for columns in inputs.plan.concept_columns for c in columns]
            concepts = list(concepts)
            missing = [c for c in concepts if c not in table.frame.columns]
            if missing:
                raise ValueError(
                    f"detector_concepts names column(s) {missing} that are not in the "
                    f"concept table; its columns are {list(table.columns)}."
                )
        checks = dataclasses.replace(
            self, X_images=images, detector_concepts=concepts, tolerances=tol,
            default_concepts=self.detector is not None and self.detector_concepts is None,
        )
        checks._try_real_images(inputs)
        return checks

    def _try_real_images(self, inputs: RunInputs) -> None:
        if self.X_images is None:
            return
        images = self.X_images[:N_REAL_PROBES]
        source = f"{len(images)} of the real images"
        predict_probe(inputs.estimator, list(inputs.methods), images, role="estimator",
                      source=source, argument="X_images")
        if self.detector is not None:
            proba = predict_probe(self.detector, ["predict_proba"], images, role="detector",
                                  source=source, argument="X_images")["predict_proba"]
            self.check_detector_output(inputs, proba)

    def check_detector_output(self, inputs: RunInputs, proba: Any) -> None:
        """The detector's ``predict_proba`` on probe images: one output per detector concept."""
        concepts = self.detector_concepts
        n_concepts = len(concepts)
        try:
            outputs = _outputs(proba, n_concepts, "detector")
        except ValueError as exc:
            given = (f"a list of {len(proba)} arrays" if isinstance(proba, list)
                     else f"an array of shape {np.shape(proba)}")
            which = ("by default every permuted column, as {argument} is not given"
                     if self.default_concepts else "{argument}")
            raise PreflightError(
                f"The detector {model_name(self.detector)} must give one output per detector "
                f"concept, but its predict_proba on the probe image(s) is {given}, for "
                f"{n_concepts} concept(s) ({which}: "
                f"{[str(c) for c in concepts]}). Set {{argument}} to the table columns "
                "its outputs predict, in order. Found before generating the run's images.",
                "detector_concepts",
            ) from exc
        _categories(inputs.table.frame, concepts, outputs, self.detector)

    def apply(self, inputs: RunInputs, predictions: Predictions,
              scores: Scores) -> dict[Any, Bunch]:
        """Both checks, as each metric's ``diagnostics`` (from validated checks)."""
        real_scores = real_proba = None
        if self.X_images is not None:
            real_scores, real_proba = predict_real(inputs, self.X_images, self.detector)
        shared = Bunch(tolerances=self.tolerances)
        failures: list[str] = []
        if self.detector is not None:
            frame = inputs.table.frame
            concepts = self.detector_concepts
            n_concepts = len(concepts)
            generated = predictions.detector_proba
            categories = _categories(
                frame, concepts, _outputs(generated, n_concepts, "detector"), self.detector,
            )
            proba = concept_probabilities(generated, n_concepts, categories=categories)
            if real_proba is not None:
                real_proba = concept_probabilities(real_proba, n_concepts, categories=categories)
            labels = _presence(frame, concepts, categories)
            groups = np.repeat(
                np.arange(n_concepts), [1 if c is None else len(c) for c in categories]
            )
            failures = detector_checks(shared, inputs.plan, labels, proba, real_proba,
                                       concepts, self.tolerances, groups)
        baseline_scores = {key: metric.baseline_score for key, metric in scores.metrics.items()}
        chance_scores = {
            key: chance_level(metric.route.metric, inputs.y, inputs.sample_weight)
            for key, metric in scores.metrics.items()
        }
        labels = {key: metric.route.metric for key, metric in scores.metrics.items()
                  if key is None}
        return generation_checks(baseline_scores, shared, failures, real_scores,
                                 ran_independence=self.detector is not None,
                                 chance_scores=chance_scores, labels=labels)


@validate_params({**RUN_CONSTRAINTS, **CHECK_CONSTRAINTS}, prefer_skip_nested_validation=True)
def depict_diagnostics(
    estimator: Any,
    X_captions: Any,
    y: Any,
    *,
    generator: GeneratorLike | CaptionToImage | None = None,
    detector: Any = None,
    X_images: Any = None,
    detector_concepts: Any = None,
    tolerances: dict[str, float] | None = None,
    scoring: Any = "roc_auc",
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state: Any = None,
    sample_weight: Any = None,
    max_samples: float | int = 1.0,
    concepts: Any = None,
    conditioning: Any = None,
    conditioning_params: Any = None,
    confidence: float = 0.95,
    ci_method: str = "bootstrap",
    n_bootstraps: int = 1000,
    ci_random_state: Any = None,
    pvalue_correction: str | None = None,
    verbose: int = 0,
) -> Bunch:
    """Run the paper's two checks for a generator, estimator and detector.

    One :func:`depict_importance` run in which the detector predicts every
    generated image alongside the estimator: the importances come for free,
    since the checks reuse the generated images (``result``). Failing checks
    raise a :class:`DiagnosticWarning`. Everything that needs no generated
    image is checked before the first one: the tolerances, the real images'
    shape and layout, that the detector is fitted and that it gives one
    output per detector concept. The estimator and the detector are tried on
    two of the real images and on one image of the generated size, so that
    images they cannot take fail at once.

    Parameters
    ----------
    estimator : object
        The fitted target model.
    X_captions : DataFrame or array-like of shape (n_samples, n_columns)
        The concept table.
    y : array-like of shape (n_samples,)
        Targets.
    generator : object, default=None
        The text-to-image generator; optional when ``estimator`` is a pipeline
        that begins with :class:`~sklearn_depict.CaptionToImage`.
    detector : object, default=None
        A fitted multi-label concept detector on images with ``predict_proba``
        (one output per detector concept), for both checks. At least one of
        ``detector`` and ``X_images`` is required.
    X_images : array-like of shape (n_samples, H, W, C), default=None
        The real images the concept table describes. When given, check 1
        compares the estimator's (and the detector's) score on them with the
        score on the generated images.
    detector_concepts : list, default=None
        The table columns that the detector's outputs predict, in order. None
        means every permuted column.
    tolerances : dict, default=None
        Overrides of the check tolerances: ``generation_gap`` (0.1, the largest
        accepted AUROC gap between real and generated images), ``min_drop``
        (0.1, how much permuting a concept must lower the detector's AUROC for
        it) and ``max_leak`` (0.05, how much it may lower any other concept's).
    scoring : str, callable, list or dict, default="roc_auc"
        The target model's metric.
    n_repeats, n_jobs, random_state, sample_weight, max_samples, concepts, \
conditioning, conditioning_params, confidence, ci_method, n_bootstraps, \
ci_random_state, pvalue_correction, verbose : object
        As in :func:`depict_importance`.

    Returns
    -------
    diagnostics : :class:`~sklearn.utils.Bunch`
        checks : dict
            ``{"effective_generation": bool or None, "independent_permutation":
            bool}``; None when a check could not run (no real images). Check 1
            also fails, real images or not, when the target model's score on
            the generated (or real) images is at or below ``chance_score``.
        chance_score : float
            The score at chance (see
            :func:`~sklearn_depict.stats.chance.chance_level`); NaN when unknown.
        real_score, generated_score, score_gap : float
            The target model on real and generated images (with ``X_images``).
        detector_concepts : list
            The table columns the detector's outputs stand for.
        detector_real_auc, detector_generated_auc, detector_gaps : ndarray
            Per detector concept.
        independence : DataFrame of shape (n_permuted, n_detector_concepts)
            M[j, k]: mean drop of the detector's AUROC for concept k after
            permuting concept j. Large on the diagonal, near 0 elsewhere.
        failures : list of str
            One message per failed check, also issued as warnings.
        tolerances : dict
            The tolerances used.
        result : Bunch or dict of Bunch
            The full :func:`depict_importance` result, each Bunch with these
            diagnostics as ``diagnostics``.

    Examples
    --------
    >>> from sklearn_depict import ShapesGenerator, make_shapes_dataset
    >>> from sklearn_depict.models.bottleneck import (ConceptBottleneckClassifier,
    ...                                        make_shapes_detector)
    >>> from sklearn_depict.diagnostics import depict_diagnostics
    >>> train = make_shapes_dataset(600, random_state=0)
    >>> test = make_shapes_dataset(100, random_state=1)
    >>> detector = make_shapes_detector().fit(train.images, train.concept_table)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concept_table=train.concept_table)
    >>> checks = depict_diagnostics(clf, test.concept_table, test.target,
    ...                             generator=ShapesGenerator(), detector=detector,
    ...                             X_images=test.images, n_repeats=3, random_state=0)
    >>> checks.checks
    {'effective_generation': True, 'independent_permutation': True}
    """
    if detector is None and X_images is None:
        raise ValueError(
            "depict_diagnostics needs detector= (a fitted concept detector, for both "
            "checks) or X_images= (the real images, for check 1), or both."
        )
    check_scoring_names(scoring, caller="depict_diagnostics")
    unpacked = unpack_caption_step(estimator, generator=generator, scoring=scoring,
                                   caller="depict_diagnostics")
    result = explain(
        unpacked.estimator, X_captions, y,
        generator=unpacked.generator, scoring=unpacked.scoring, n_repeats=n_repeats,
        random_state=random_state, sample_weight=sample_weight, max_samples=max_samples,
        concepts=concepts, conditioning=conditioning,
        conditioning_params=conditioning_params, confidence=confidence, ci_method=ci_method,
        n_bootstraps=n_bootstraps, ci_random_state=ci_random_state,
        pvalue_correction=pvalue_correction, n_jobs=n_jobs, verbose=verbose,
        checks=Checks(detector, X_images, detector_concepts, tolerances),
        caption_options=unpacked.caption_options,
    )  # fmt: skip
    bunch = result if is_single_metric(result) else next(iter(result.values()))
    diagnostics = Bunch(**bunch.diagnostics)
    diagnostics.result = result
    return diagnostics
