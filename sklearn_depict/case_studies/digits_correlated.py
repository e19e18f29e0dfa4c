"""Marginal against conditional DEPICT on real images: digits whose thickness goes with the digit.

With ``make_digits_dataset(thick_threshold="global")`` the concept ``thick`` is
stroke width split at the median of *all* digits, so it goes with the digit
(most ones are thick, most threes thin). Two networks of
:mod:`~sklearn_depict.case_studies.digits_shortcuts`, on the same task ("is the
digit 5 or above"), are explained on that table, marginally and conditionally
on the digit (``conditioning={"thick": ["digit"]}``):

``digit_only``
    Trained on all training digits, as the case study's clean model: it
    relies on the digit (its ``thick`` importance is 0 in the case study).
    Explained on the natural test rows.
``thick_shortcut``
    Trained only on the training digits where the global ``thick`` equals the
    label, as the case study's forced model. Explained on the test rows
    resampled the same way (``forced``) and on the natural test rows.

The label is a function of the digit, so within a stratum of ``digit`` the
permuted ``thick`` keeps its joint distribution with the label, whatever the
model: conditional importance given the digit measures what ``thick`` says
about the label beyond the digit, which is nothing here. On the forced rows
``thick`` is even constant within each digit, so conditioning cannot move it
(changed fraction 0, a :class:`~sklearn_depict.ConditioningWarning`).

The study also measures how the generator draws ``thick``: it was trained on
the within-digit captions, so it reads the stroke width of each generated
image with the global rule.

torch is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import numbers
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils import Bunch

from ..datasets.digits import DIGIT_WORDS, make_digits_dataset, stroke_width
from ..exceptions import ConditioningWarning
from ..stats.associations import concept_associations
from .digits_shortcuts import IMAGE_SIZE, digits_split, forced_rows, train_digits_cnn

__all__ = [
    "PERMUTATIONS",
    "RUNS",
    "format_correlated_report",
    "generated_thickness",
    "run_correlated_study",
]

#: The explanations: (model, evaluated rows).
RUNS = (("digit_only", "natural"), ("thick_shortcut", "forced"), ("thick_shortcut", "natural"))
#: The two questions: ``conditioning=`` of each.
PERMUTATIONS = {"marginal": None, "given digit": {"thick": ["digit"]}}


def generated_thickness(
    generator: Any, table: pd.DataFrame, threshold: float, *, cache: Any = None
) -> pd.DataFrame:
    """How the generator draws ``thick``, read with a global stroke-width rule.

    For every row of ``table`` the generator draws the row's caption with
    ``thick`` set to 1 and to 0 (the digit, ``slanted`` and the row's noise
    seed kept): the two images a permutation of ``thick`` can give the row.
    Each image's stroke width is measured with
    :func:`~sklearn_depict.datasets.digits.stroke_width` and called thick
    above ``threshold``.

    Parameters
    ----------
    generator : object
        A text-to-image generator, or a :class:`~sklearn_depict.CaptionToImage`.
    table : DataFrame
        Concept table with ``digit``, ``thick`` and ``slanted``; its index
        labels give the noise seeds, as in DEPICT.
    threshold : float
        The stroke width above which an image is thick (the global median of
        the real digits).
    cache : str, path-like or ImageCache, default=None
        Used when ``generator`` is not already a ``CaptionToImage``.

    Returns
    -------
    shares : DataFrame
        One row per digit word present, then ``"all"``: the number of rows,
        the share of the real rows captioned thick (``real``), the share of
        images measured thick when captioned thick (``thick_if_thick``) and
        when captioned thin (``thick_if_thin``), the share of the rows' own
        captions (the unpermuted table) that the image measures as
        captioned (``agreement``), and the mean stroke width of the images
        captioned thick and thin (``width_thick``, ``width_thin``).
    """
    from ..caption_to_image import CaptionToImage

    to_images = (generator if isinstance(generator, CaptionToImage)
                 else CaptionToImage(generator, cache=cache))
    widths = {flag: stroke_width(to_images.transform(table.assign(thick=flag)))
              for flag in (1, 0)}
    real = table["thick"].to_numpy()
    own = np.where(real == 1, widths[1], widths[0]) > threshold
    frame = pd.DataFrame({
        "digit": table["digit"].to_numpy(), "real": real,
        "thick_if_thick": widths[1] > threshold, "thick_if_thin": widths[0] > threshold,
        "agreement": own == (real == 1), "width_thick": widths[1], "width_thin": widths[0],
    })
    order = [w for w in DIGIT_WORDS if w in set(frame["digit"])]
    shares = frame.groupby("digit").mean().reindex(order)
    shares.loc["all"] = frame.drop(columns="digit").mean()
    shares.insert(0, "n", [*frame.groupby("digit").size().reindex(order), len(frame)])
    return shares


def _associations(data: Bunch) -> Bunch:
    """Cramér's V of ``thick`` with ``digit`` under both splits, and the per-digit shares."""
    within = make_digits_dataset(image_size=IMAGE_SIZE).concept_table
    table = data.concept_table
    return Bunch(
        cramers_v_global=float(
            concept_associations(table, method="cramers_v").loc["thick", "digit"]),
        cramers_v_within=float(
            concept_associations(within, method="cramers_v").loc["thick", "digit"]),
        thick_share=table.groupby("digit")["thick"].mean().reindex(list(DIGIT_WORDS)),
        label_correlation=float(np.corrcoef(table["thick"], data.target >= 5)[0, 1]),
    )


def run_correlated_study(
    *,
    n_explain: int | None = None,
    n_repeats: int = 5,
    epochs: int = 30,
    seed: int = 0,
    generator: Any = None,
    cache: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
) -> Bunch:
    """Explain a digit-only and a thick-shortcut network, marginally and given the digit.

    Parameters
    ----------
    n_explain : int, default=None
        The natural rows are the first ``n_explain`` rows of the test split
        (all 450 for None); the forced rows are those of them where ``thick``
        equals the label. Index labels are kept, so a row has one noise seed
        in every run and a shared ``cache`` draws its images once.
    n_repeats : int, default=5
        Permutations per concept.
    epochs : int, default=30
        Training epochs of each network.
    seed : int, default=0
        Seeds the networks, the permutations and the bootstrap intervals.
    generator : object, default=None
        The text-to-image generator; None loads the shipped digits diffusion
        model (:func:`~sklearn_depict.digits_diffusion.load_digits_diffusion`).
    cache : str, path-like or ImageCache, default=None
        Shared by every run. None uses a temporary folder, removed at the end.
    n_jobs : int, default=None
        Workers for generation and prediction.
    verbose : int, default=0

    Returns
    -------
    study : :class:`~sklearn.utils.Bunch`
        table : DataFrame
            Indexed by (model, rows, permutation, concept): DEPICT's mean
            AUROC drop (``mean``), its 95 % bootstrap interval (``ci_low``,
            ``ci_high``), and for a conditioned concept its strata
            (``n_strata``) and the share of rows whose value changed
            (``changed_fraction``; ``marginal_changed_fraction`` under the
            marginal draw of the same seed).
        summary : DataFrame
            Per (model, rows): training rows (``n_train``), rows explained,
            the network's AUROC on the real and on the generated images
            (baseline) and on images generated with every row's ``thick`` set
            to 1 (``all_thick_auc``) and to 0 (``all_thin_auc``), and the
            :class:`~sklearn_depict.ConditioningWarning` of the conditional
            run, if any.
        associations : Bunch
            ``cramers_v_global`` and ``cramers_v_within`` (``thick`` against
            ``digit``, bias-corrected), ``thick_share`` per digit and
            ``label_correlation`` (``thick`` against the label).
        thickness : DataFrame
            :func:`generated_thickness` on the natural rows.
        models : dict
            Per model: ``classifier`` and ``n_train`` (its training rows).
        results : dict
            DEPICT's Bunch per (model, rows, permutation).
        seconds : float
            Wall time.

    Examples
    --------
    >>> from sklearn_depict.case_studies.digits_correlated import (
    ...     format_correlated_report, run_correlated_study)
    >>> study = run_correlated_study(n_explain=300)  # doctest: +SKIP
    >>> print(format_correlated_report(study))  # doctest: +SKIP
    """
    from ..cache import ImageCache
    from ..caption_to_image import CaptionToImage
    from ..importance import depict_importance

    if n_explain is not None and (
        not isinstance(n_explain, numbers.Integral) or isinstance(n_explain, bool)
        or n_explain < 10
    ):
        raise ValueError(
            f"n_explain must be None (all 450 test rows) or an int >= 10, got {n_explain!r}."
        )
    start = time.perf_counter()
    split = digits_split(IMAGE_SIZE, thick_threshold="global")
    data, y = split.data, split.y
    table = data.concept_table
    natural = split.test if n_explain is None else split.test[: int(n_explain)]
    rows = {"natural": natural,
            "forced": natural[forced_rows(table.iloc[natural], y[natural], "thick")]}
    if generator is None:
        from ..digits_diffusion import load_digits_diffusion

        generator = load_digits_diffusion()
    models: dict[str, Bunch] = {}
    for name, concept in (("digit_only", None), ("thick_shortcut", "thick")):
        train = split.train[forced_rows(table.iloc[split.train], y[split.train], concept)]
        models[name] = Bunch(
            classifier=train_digits_cnn(data.images[train], y[train], epochs=epochs, seed=seed),
            n_train=len(train),
        )
    with contextlib.ExitStack() as stack:
        if cache is None:
            cache = stack.enter_context(tempfile.TemporaryDirectory(prefix="digits_correlated_"))
        if not isinstance(cache, ImageCache):
            cache = ImageCache(cache)
        to_images = CaptionToImage(generator, cache=cache)
        results, caught = {}, {}
        for model, subset in RUNS:
            for permutation, conditioning in PERMUTATIONS.items():
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always", ConditioningWarning)
                    results[model, subset, permutation] = depict_importance(
                        models[model].classifier, table.iloc[rows[subset]], y[rows[subset]],
                        generator=to_images, scoring="roc_auc", n_repeats=n_repeats,
                        random_state=seed, ci_random_state=seed, conditioning=conditioning,
                        n_jobs=n_jobs, verbose=verbose,
                    )
                caught[model, subset, permutation] = [
                    str(w.message) for w in seen if issubclass(w.category, ConditioningWarning)
                ]
        threshold = float(data.thresholds["stroke_width"].iloc[0])
        thickness = generated_thickness(to_images, table.iloc[natural], threshold)
        summary = {}
        for model, subset in RUNS:
            evaluated, classifier = rows[subset], models[model].classifier
            real = classifier.predict_proba(data.images[evaluated])[:, 1]
            summary[model, subset] = {
                "n_train": models[model].n_train,
                "n_rows": len(evaluated),
                "real_auc": float(roc_auc_score(y[evaluated], real)),
                "generated_auc": float(results[model, subset, "marginal"].baseline_score),
            }
            # Every row drawn thick, then thin (images already in the cache): how
            # much the network's reading of the digit depends on stroke width.
            for flag, key in ((1, "all_thick_auc"), (0, "all_thin_auc")):
                images = to_images.transform(table.iloc[evaluated].assign(thick=flag))
                summary[model, subset][key] = float(
                    roc_auc_score(y[evaluated], classifier.predict_proba(images)[:, 1]))
            summary[model, subset]["warning"] = " ".join(caught[model, subset, "given digit"])
    return Bunch(
        table=_importance_table(results),
        summary=pd.DataFrame.from_dict(summary, orient="index").rename_axis(["model", "rows"]),
        associations=_associations(data),
        thickness=thickness,
        models=models,
        results=results,
        seconds=time.perf_counter() - start,
    )


def _importance_table(results: dict[tuple[str, str, str], Bunch]) -> pd.DataFrame:
    frames = []
    for (model, subset, permutation), result in results.items():
        names = list(result.concept_names)
        info = getattr(result, "conditioning", None) or {}
        frame = pd.DataFrame({
            "model": model, "rows": subset, "permutation": permutation, "concept": names,
            "mean": result.importances_mean,
            "ci_low": np.asarray(result.importances_ci)[:, 0],
            "ci_high": np.asarray(result.importances_ci)[:, 1],
        })
        for key in ("n_strata", "changed_fraction", "marginal_changed_fraction"):
            frame[key] = [info[n][key] if n in info and info[n]["columns"] else np.nan
                          for n in names]
        frames.append(frame)
    return pd.concat(frames).set_index(["model", "rows", "permutation", "concept"])


def format_correlated_report(study: Bunch) -> str:
    """The study's tables as text: association, importances, changed fractions, thickness.

    Parameters
    ----------
    study : Bunch
        What :func:`run_correlated_study` returns.

    Returns
    -------
    text : str
    """
    assoc = study.associations
    shares = ", ".join(f"{word} {share:.2f}" for word, share in assoc.thick_share.items())
    lines = [
        "Association of thick with digit (bias-corrected Cramér's V): "
        f"{assoc.cramers_v_global:.3f} with the global threshold, "
        f"{assoc.cramers_v_within:.3f} within digit",
        f"Share of thick digits (global threshold): {shares}",
        f"Correlation of thick with the label (digit >= 5): {assoc.label_correlation:+.3f}",
        "",
        f"{'model':<15}{'rows':<9}{'trained on':>11}{'explained':>10}{'AUROC real':>12}"
        f"{'generated':>11}{'all thick':>11}{'all thin':>10}",
    ]
    for (model, subset), row in study.summary.iterrows():
        lines.append(f"{model:<15}{subset:<9}{row.n_train:>11}{row.n_rows:>10}"
                     f"{row.real_auc:>12.3f}{row.generated_auc:>11.3f}"
                     f"{row.all_thick_auc:>11.3f}{row.all_thin_auc:>10.3f}")
    lines += ["", "DEPICT importance (AUROC drop, 95 % bootstrap interval); for a "
              "conditioned concept, its strata and changed fraction (marginal draw's)",
              f"{'model':<15}{'rows':<9}{'concept':<9}{'marginal':>26}{'given digit':>26}"
              f"{'strata':>8}{'changed':>15}"]
    table = study.table.sort_index()  # sorted for lookups; the loops set the order
    for (model, subset), _ in study.summary.iterrows():
        for concept in study.results[model, subset, "marginal"].concept_names:
            cells = []
            for permutation in PERMUTATIONS:
                row = table.loc[(model, subset, permutation, concept)]
                cells.append(f"{row['mean']:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]")
            row = table.loc[(model, subset, "given digit", concept)]
            extra = ("" if np.isnan(row.n_strata) else
                     f"{int(row.n_strata):>8}{row.changed_fraction:>8.3f} "
                     f"({row.marginal_changed_fraction:.3f})")
            lines.append(f"{model:<15}{subset:<9}{concept:<9}{cells[0]:>26}{cells[1]:>26}"
                         + extra)
    for (model, subset), row in study.summary.iterrows():
        if row.warning:
            lines.append(f"ConditioningWarning ({model}, {subset} rows): {row.warning}")
    thick = study.thickness
    lines += ["", "How the generator draws thick, read with the global rule (stroke width "
              "above the median of all real digits): share of images measured thick",
              f"{'digit':<7}{'n':>5}{'real rows thick':>17}{'captioned thick':>17}"
              f"{'captioned thin':>16}{'as captioned':>14}{'width thick':>13}"
              f"{'width thin':>12}"]
    for word, row in thick.iterrows():
        lines.append(f"{word:<7}{int(row.n):>5}{row.real:>17.3f}{row.thick_if_thick:>17.3f}"
                     f"{row.thick_if_thin:>16.3f}{row.agreement:>14.3f}{row.width_thick:>13.3f}"
                     f"{row.width_thin:>12.3f}")
    return "\n".join(lines)
