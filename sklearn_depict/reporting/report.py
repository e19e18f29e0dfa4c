"""Writing a DEPICT run to a folder: JSON, CSV, plots and a self-contained HTML page.

:func:`write_report` is what ``sklearn-depict explain`` and ``sklearn-depict
demo --report`` call. It writes

- ``results.json``: every number of the result, in full (see
  :func:`results_to_dict`);
- ``importances.csv``: the ranking table (see :func:`importance_table`);
- ``importances.png``, ``examples_<concept>.png`` for the top concepts,
  ``independence.png`` when a concept detector was used, and ``anytime.png``
  (the half-widths block by block) for a run with ``tol``;
- ``report.html``: one file with the ranking, the intervals, the checks, the
  plots (embedded) and the run's counts and timings.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..formatting import fixed, pvalue_text
from ..stats.results import is_single_metric, metric_items
from .displays import changed_rows
from .results_io import results_to_dict, to_jsonable, write_results
from .verdicts import check_verdicts

# results_to_dict and to_jsonable live in results_io; they stay importable from
# here, where the report's users first met them.
__all__ = ["importance_table", "results_to_dict", "to_jsonable", "write_report"]


# --------------------------------------------------------------------------- CSV


def importance_table(
    result: Any, *, metric_name: str | None = None, oracle: Any = None
) -> pd.DataFrame:
    """The ranking of every metric as one table, most important first.

    Parameters
    ----------
    result : Bunch or dict of Bunch
        What :func:`~sklearn_depict.depict_importance` returned.
    metric_name : str, default=None
        Name of a single-metric result's score; None calls it ``"score"``.
    oracle : array-like of shape (n_concepts,), default=None
        Added as a column when given.

    Returns
    -------
    table : DataFrame
        Columns ``metric``, ``rank``, ``concept``, ``importance_mean``,
        ``importance_std``, ``ci_low``, ``ci_high``, ``pvalue`` (one-sided,
        H0 "the model does not rely on the concept"; NaN when the result has
        none), ``tie_group`` (1 for the group of the most important concept;
        every two concepts in one group have overlapping intervals, see
        :func:`~sklearn_depict.stats.ranking.rank_with_ties`), ``constant`` (True
        for a concept that takes a single value in the table: its importance
        is zero by construction, not evidence) and ``oracle`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.reporting.report import importance_table
    >>> result = Bunch(
    ...     importances=np.array([[0.0, 0.1], [0.3, 0.5]]),
    ...     importances_mean=np.array([0.05, 0.4]),
    ...     importances_std=np.array([0.05, 0.1]),
    ...     importances_ci=np.array([[-0.1, 0.2], [0.2, 0.6]]),
    ...     concept_names=np.array(["cat", "dog"], dtype=object),
    ...     ranking=np.array([2, 1]), tie_groups=[["dog"], ["cat"]], baseline_score=0.9)
    >>> importance_table(result)[["rank", "concept", "tie_group"]]
       rank concept  tie_group
    0     1     dog          1
    1     2     cat          2
    """
    frames = []
    for name, bunch in metric_items(result, metric_name):
        names = list(bunch.concept_names)
        mean = np.asarray(bunch.importances_mean, dtype=float)
        ci = np.asarray(
            bunch.get("importances_ci", np.full((len(names), 2), np.nan)), dtype=float
        )
        ranking = bunch.get("ranking")
        if ranking is None:
            ranking = np.empty(len(names), dtype=int)
            ranking[np.argsort(-mean, kind="stable")] = np.arange(1, len(names) + 1)
        group_of = {}
        for g, group in enumerate(bunch.get("tie_groups") or [], start=1):
            for concept in group:
                group_of[repr(concept)] = g
        frame = pd.DataFrame(
            {
                "metric": name,
                "rank": np.asarray(ranking, dtype=int),
                "concept": [str(c) for c in names],
                "importance_mean": mean,
                "importance_std": np.asarray(
                    bunch.get("importances_std", np.std(bunch.importances, axis=1)), dtype=float
                ),
                "ci_low": ci[:, 0],
                "ci_high": ci[:, 1],
                "pvalue": np.asarray(bunch.get("pvalues", np.full(len(names), np.nan)),
                                     dtype=float),
                "tie_group": [group_of.get(repr(c), 0) for c in names],
                "constant": np.asarray(
                    bunch.get("constant_concepts", np.zeros(len(names), dtype=bool)),
                    dtype=bool,
                ),
            }
        )
        if oracle is not None:
            frame["oracle"] = np.asarray(oracle, dtype=float)
        frames.append(frame.sort_values("rank", kind="stable"))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- plots


def _slug(name: Any) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    return slug[:60] or "concept"


def _save(figure: Any, path: Path, dpi: int) -> bytes:
    figure.savefig(path, dpi=dpi, format="png")
    return path.read_bytes()


def _plot_importances(
    result: Any, items: list[tuple[str, Bunch]], oracle: Any, confidence: Any, path: Path, dpi: int
) -> bytes:
    from matplotlib.figure import Figure

    from .displays import ImportanceDisplay

    n_concepts = len(items[0][1].concept_names)
    height = max(2.6, 0.42 * n_concepts + 1.5)
    figure = Figure(figsize=(6.4 * len(items), height), layout="constrained")
    axes = figure.subplots(1, len(items), squeeze=False)[0]
    single = len(items) == 1 and is_single_metric(result)
    for ax, (name, _) in zip(axes, items):
        display = ImportanceDisplay.from_result(
            result, metric=None if single else name, oracle=oracle, confidence=confidence, ax=ax
        )
        if single:
            display.ax_.set_xlabel(f"Drop in {name} when the concept is permuted")
        ax.set_title(f"Concept importance ({name})")
    return _save(figure, path, dpi)


def _plot_examples(
    result: Any,
    concept: Any,
    n_examples: int,
    generator: Any,
    cache: Any,
    path: Path,
    dpi: int,
) -> tuple[bytes, Any] | None:
    from matplotlib.figure import Figure

    from .displays import PermutationExamplesDisplay

    plan = metric_items(result)[0][1].plan
    j = list(plan.concept_names).index(concept)
    rows, _, _ = changed_rows(plan, j, 0)
    n = min(n_examples, len(rows))
    if n == 0:
        return None
    figure = Figure(figsize=(1.9 * n + 0.8, 5.3), layout="constrained")
    axes = figure.subplots(2, n, squeeze=False)
    display = PermutationExamplesDisplay.from_result(
        result, concept, generator=generator, cache=cache, repeat=0, n_examples=n, ax=axes
    )
    figure.suptitle(f"Permuting {concept} (first repeat)", fontsize=10)
    return _save(figure, path, dpi), display


def _plot_independence(diagnostics: Any, path: Path, dpi: int) -> bytes:
    from matplotlib.figure import Figure

    from .displays import IndependenceDisplay

    matrix = diagnostics.independence
    n_rows, n_cols = matrix.shape
    figure = Figure(
        figsize=(max(4.5, 0.62 * n_cols + 3.0), max(3.2, 0.62 * n_rows + 1.9)),
        layout="constrained",
    )
    ax = figure.subplots()
    IndependenceDisplay.from_diagnostics(diagnostics, ax=ax)
    ax.set_title("Independence check: drop in detector AUROC", fontsize=10)
    return _save(figure, path, dpi)


def _associations_context(first: Bunch, concept_table: Any, path: Path,
                          dpi: int) -> dict[str, Any]:
    """The association heat map of the permuted columns and the pairs above |0.5|."""
    from matplotlib.figure import Figure

    from ..stats.associations import concept_associations, strong_pairs
    from .displays import ConceptAssociationDisplay

    plan = first.get("plan")
    columns = (list(dict.fromkeys(c for group in plan.concept_columns for c in group))
               if plan is not None else None)
    matrix = concept_associations(concept_table, columns=columns)
    n = len(matrix)
    figure = Figure(figsize=(max(4.5, 0.62 * n + 3.0), max(3.2, 0.62 * n + 1.9)),
                    layout="constrained")
    ConceptAssociationDisplay(matrix).plot(ax=figure.subplots())
    return {
        "image": _image(_save(figure, path, dpi), "association heat map"),
        "pairs": [{"a": a, "b": b, "value": value} for a, b, value in strong_pairs(matrix)],
        "conditional": first.get("conditioning") is not None,
    }


def _anytime_context(first: Bunch, path: Path, dpi: int) -> dict[str, Any]:
    """The trace of an anytime run: a table of its blocks and its plot."""
    from matplotlib.figure import Figure

    from .displays import AnytimeTraceDisplay

    trace = first.anytime_trace
    figure = Figure(figsize=(6.0, 3.5), layout="constrained")
    AnytimeTraceDisplay.from_result(first, ax=figure.subplots())
    return {
        "image": _image(_save(figure, path, dpi), "anytime trace"),
        "rows": [(int(n), int(k), _num(w)) for n, k, w in
                 zip(trace.n_samples, trace.n_images, trace.max_half_widths)],
        "stopped_early": bool(first.get("stopped_early")),
        "n_samples_used": int(first.n_samples_used),
        "n_samples_total": trace.n_samples_total,
        "n_images_used": int(trace.n_images[-1]) if len(trace.n_images) else 0,
        "n_images_total": trace.n_images_total,
        "tol": trace.tol,
    }


# --------------------------------------------------------------------------- HTML


class _Image(NamedTuple):
    """A PNG embedded in the page as a data URI (base64 needs no escaping)."""

    src: str
    alt: str


def _image(data: bytes, alt: str) -> _Image:
    return _Image("data:image/png;base64," + base64.b64encode(data).decode("ascii"), alt)


def _num(value: Any, digits: int = 4) -> str:
    """A number as the tables show it; text that is not a number passes through."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return fixed(number, digits)


def _format_option(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    # Autoescaping for every template: a concept name, caption or option is
    # data, never markup, wherever the template puts it.
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sklearn_depict.reporting", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "j2"), default_for_string=True, default=True
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(num=_num, option=_format_option, pvalue=pvalue_text)
    return environment


def _render(context: Mapping[str, Any]) -> str:
    """The report page for a context built by :func:`write_report`."""
    return _environment().get_template("report.html.j2").render(**context)


def _ranking_context(name: str, bunch: Bunch, oracle: Any, confidence: Any,
                     table: pd.DataFrame) -> dict[str, Any]:
    level = "" if confidence is None else f"{float(confidence):.0%} "
    method = {"bootstrap": "row-bootstrap ", "t": "t "}.get(bunch.get("ci_method"), "")
    header = ["rank", "concept", "mean drop", "std of repeats",
              f"{level}{method}CI of the mean", "p-value", "tie group"]
    if oracle is not None:
        header.append("oracle")
    rows = table[table.metric == name].to_dict(orient="records")
    for row in rows:
        row["rank"], row["tie_group"] = int(row["rank"]), int(row["tie_group"])
    chance = float(bunch.get("chance_score", np.nan))
    return {
        "name": name,
        "baseline": bunch.baseline_score,
        "chance": chance if np.isfinite(chance) else None,
        "header": header,
        "oracle": oracle is not None,
        "rows": rows,
        "groups": [[str(c) for c in group] for group in bunch.get("tie_groups") or []],
        "constant": [row["concept"] for row in rows if row["constant"]],
    }


def _checks_context(items: list[tuple[str, Bunch]], independence: _Image | None) -> Any:
    diagnostics = [(name, bunch.get("diagnostics")) for name, bunch in items]
    if all(d is None for _, d in diagnostics):
        return None
    rows = [
        {
            "metric": name,
            "verdicts": check_verdicts(diag),
            "real_score": diag.get("real_score", np.nan),
            "generated_score": diag.get("generated_score", np.nan),
            "score_gap": diag.get("score_gap", np.nan),
            "chance_score": diag.get("chance_score", np.nan),
        }
        for name, diag in diagnostics
        if diag is not None
    ]
    diag = next(d for _, d in diagnostics if d is not None)
    detector = None
    concepts = diag.get("detector_concepts")
    if concepts is not None:
        real, gaps = diag.get("detector_real_auc"), diag.get("detector_gaps")
        generated = np.asarray(diag.get("detector_generated_auc"), dtype=float)
        detector = [
            {
                "concept": concept,
                "real": np.nan if real is None else real[k],
                "generated": generated[k],
                "gap": np.nan if gaps is None else gaps[k],
            }
            for k, concept in enumerate(concepts)
        ]
    failures: list[str] = []
    for _, d in diagnostics:
        for message in (d or {}).get("failures", []):
            if message not in failures:
                failures.append(message)
    return {
        "rows": rows,
        "tolerances": diag.get("tolerances", {}),
        "real_images": "real_score" in diag,
        # Check 1 runs without real images too when a score is at or below chance.
        "check1_ran": any(row["verdicts"][0].passed is not None for row in rows),
        "detector": detector,
        "failures": failures,
        "independence_image": independence,
    }


def _run_context(first: Bunch, options: Mapping[str, Any]) -> dict[str, Any]:
    plan = first.get("plan")
    counts = []
    if plan is not None:
        n_concepts, n_repeats, n_scored = np.shape(plan.permuted_ids)
        counts += [
            ("rows in the concept table", len(plan.baseline_ids)),
            ("rows scored per permutation", n_scored),
            ("concepts permuted", n_concepts),
            ("repeats per concept", n_repeats),
        ]
    labels = {
        "n_images_distinct": "distinct (caption, seed) pairs",
        "n_images_generated": "images generated in this run",
        "n_images_cached": "images read from the cache",
        "n_images_bound": "bound on distinct pairs, N·(1 + Σ(K−1))",
        "n_images_naive": "images a literal run would generate",
    }
    counts += [(label, first[key]) for key, label in labels.items() if key in first]
    return {"counts": counts, "timings": first.get("timings") or {}, "options": options}


# --------------------------------------------------------------------------- entry point


def write_report(
    result: Any,
    output_dir: str | Path,
    *,
    generator: Any = None,
    cache: Any = None,
    oracle: Any = None,
    concept_table: Any = None,
    metric_name: str | None = None,
    confidence: float | None = None,
    n_examples: int = 4,
    n_example_concepts: int = 3,
    options: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
    title: str = "DEPICT report",
    description: str | None = None,
    dpi: int = 110,
    verbose: int = 0,
) -> Bunch:
    """Write a run's results, plots and HTML report to a folder.

    Parameters
    ----------
    result : Bunch or dict of Bunch
        What :func:`~sklearn_depict.depict_importance` returned.
    output_dir : str or path-like
        Created when missing; existing report files are overwritten.
    generator : object, default=None
        The run's generator, to show example images; None shows none.
    cache : str, path-like or ImageCache, default=None
        The run's cache: the example images are read from it.
    oracle : array-like of shape (n_concepts,), default=None
        Reference importances, in the order of ``result.concept_names``.
    concept_table : DataFrame, default=None
        The concept table the result explains. When given, the report shows
        how its permuted columns are associated (``associations.png``, see
        :func:`~sklearn_depict.concept_associations`) and lists the pairs
        above 0.5 in absolute value, which marginal permutation pulls apart.
    metric_name : str, default=None
        Name of a single-metric result's score (e.g. ``"roc_auc"``).
    confidence : float, default=None
        Coverage of the result's intervals, for labels.
    n_examples : int, default=4
        Images per example grid; 0 draws no grid.
    n_example_concepts : int, default=3
        Example grids are drawn for this many of the top concepts.
    options : mapping, default=None
        The run's options, listed in the report and stored in results.json.
    summary : mapping, default=None
        Figures of the caller stored under ``summary`` in results.json (see
        :func:`~sklearn_depict.reporting.results_io.results_to_dict`).
    title : str, default="DEPICT report"
    description : str, default=None
        A sentence under the title (plain text; it is escaped).
    dpi : int, default=110
        Resolution of the PNG files.
    verbose : int, default=0
        Show a progress bar when above 0.

    Returns
    -------
    paths : :class:`~sklearn.utils.Bunch`
        ``output_dir``, ``results_json``, ``importances_csv``,
        ``importances_png``, ``examples`` (list of paths),
        ``independence_png`` (None without a detector), ``associations_png``
        (None without ``concept_table``), ``anytime_png`` (the trace of a run
        with ``tol``, else None) and ``report_html``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_depict import (ConceptBottleneckClassifier, ShapesGenerator,
    ...                             depict_importance, make_concept_labels,
    ...                             make_shapes_dataset)
    >>> from sklearn_depict.reporting.report import write_report
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concept_table=train.concept_table)
    >>> y = make_concept_labels(test.concept_table, train.weights)
    >>> result = depict_importance(clf, test.concept_table, y, generator=ShapesGenerator(),
    ...                            scoring="roc_auc", n_repeats=3, random_state=0)
    >>> paths = write_report(result, tempfile.mkdtemp(), generator=ShapesGenerator(),
    ...                      metric_name="roc_auc", n_examples=3, n_example_concepts=1)
    >>> paths.report_html.name, len(paths.examples), paths.independence_png is None
    ('report.html', 1, True)
    """
    from tqdm.auto import tqdm

    from .displays import _check_matplotlib

    _check_matplotlib("write_report")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = metric_items(result, metric_name)
    first = items[0][1]
    names = list(first.concept_names)
    if oracle is not None:
        oracle = np.asarray(oracle, dtype=float).ravel()
        if len(oracle) != len(names):
            raise ValueError(f"oracle has {len(oracle)} values for {len(names)} concepts.")
    options = dict(options or {})
    diagnostics = first.get("diagnostics")
    has_matrix = diagnostics is not None and diagnostics.get("independence") is not None

    ranked = [names[i] for i in np.argsort(np.asarray(first.ranking), kind="stable")] if (
        "ranking" in first
    ) else names
    example_concepts = (
        ranked[:n_example_concepts]
        if generator is not None and n_examples > 0 and first.get("plan") is not None
        else []
    )
    has_trace = first.get("anytime_trace") is not None
    n_steps = (3 + len(example_concepts) + int(has_matrix) + int(concept_table is not None)
               + int(has_trace) + 1)
    paths = Bunch(output_dir=out, examples=[], independence_png=None, associations_png=None,
                  anytime_png=None)
    with tqdm(total=n_steps, desc="writing report", unit="file", disable=not verbose,
              leave=verbose > 1, dynamic_ncols=True) as bar:
        payload = results_to_dict(result, metric_name=metric_name, oracle=oracle,
                                  options=options, summary=summary)
        paths.results_json = write_results(payload, out / "results.json")
        bar.update()

        table = importance_table(result, metric_name=metric_name, oracle=oracle)
        paths.importances_csv = out / "importances.csv"
        table.to_csv(paths.importances_csv, index=False)
        bar.update()

        paths.importances_png = out / "importances.png"
        importance_png = _plot_importances(
            result, items, oracle, confidence, paths.importances_png, dpi
        )
        bar.update()

        examples = []
        used: set[str] = set()
        for concept in example_concepts:
            slug = _slug(concept)
            while slug in used:
                slug += "_"
            used.add(slug)
            path = out / f"examples_{slug}.png"
            drawn = _plot_examples(result, concept, n_examples, generator, cache, path, dpi)
            bar.update()
            if drawn is None:
                examples.append({"concept": concept, "rows": [], "image": None})
                continue
            data, display = drawn
            paths.examples.append(path)
            examples.append({"concept": concept, "rows": [int(r) for r in display.rows_],
                             "image": _image(data, f"examples for {concept}")})

        independence = None
        if has_matrix:
            paths.independence_png = out / "independence.png"
            independence = _image(
                _plot_independence(diagnostics, paths.independence_png, dpi),
                "independence heat map",
            )
            bar.update()

        associations = None
        if concept_table is not None:
            paths.associations_png = out / "associations.png"
            associations = _associations_context(first, concept_table,
                                                 paths.associations_png, dpi)
            bar.update()

        anytime = None
        if has_trace:
            paths.anytime_png = out / "anytime.png"
            anytime = _anytime_context(first, paths.anytime_png, dpi)
            bar.update()

        context = {
            "title": title,
            "description": description,
            "version": payload["version"],
            "created": payload["created"],
            "top": table.iloc[0].to_dict(),
            "rankings": [_ranking_context(name, bunch, oracle, confidence, table)
                         for name, bunch in items],
            "importance_image": _image(importance_png, "importance box plots"),
            "checks": _checks_context(items, independence),
            "associations": associations,
            "anytime": anytime,
            "examples": examples,
            "no_generator": generator is None,
            "run": _run_context(first, options),
        }
        paths.report_html = out / "report.html"
        paths.report_html.write_text(_render(context), encoding="utf-8")
        bar.update()
    return paths
