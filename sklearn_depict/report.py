"""Writing a DEPICT run to a folder: JSON, CSV, plots and a self-contained HTML page.

:func:`write_report` is what ``sklearn-depict explain`` and ``sklearn-depict
demo --report`` call. It writes

- ``results.json``: every number of the result, in full (see
  :func:`results_to_dict`);
- ``importances.csv``: the ranking table (see :func:`importance_table`);
- ``importances.png``, ``examples_<concept>.png`` for the top concepts and,
  when a concept detector was used, ``independence.png``;
- ``report.html``: one file with the ranking, the intervals, the checks, the
  plots (embedded) and the run's counts and timings.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import html
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from .displays import changed_rows, select_metric
from .formatting import fixed
from .results import is_single_metric

__all__ = ["importance_table", "results_to_dict", "to_jsonable", "write_report"]

# Keys every metric's Bunch shares: stored once at the top of results.json.
_SHARED_KEYS = (
    "concept_names",
    "n_images_distinct",
    "n_images_generated",
    "n_images_cached",
    "n_images_bound",
    "n_images_naive",
    "timings",
)


def _package_version() -> str:
    from . import __version__

    return __version__


# --------------------------------------------------------------------------- JSON


def to_jsonable(value: Any) -> Any:
    """Convert a result (or any part of it) to plain JSON types, losslessly.

    numpy arrays become nested lists, numpy scalars Python numbers, NaN and
    infinite floats ``None``, DataFrames ``{"index", "columns", "data"}``
    dicts, dataclasses (such as the run's plan) dicts of their fields. Floats
    are kept at full precision (JSON writes their shortest exact repr).

    Parameters
    ----------
    value : object

    Returns
    -------
    converted : object
        Made of dict, list, str, int, float, bool and None only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_depict.report import to_jsonable
    >>> to_jsonable({"a": np.array([0.5, np.nan]), "b": np.int64(3)})
    {'a': [0.5, None], 'b': 3}
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, pd.DataFrame):
        return {
            "index_name": to_jsonable(value.index.name),
            "columns_name": to_jsonable(value.columns.name),
            "index": to_jsonable(list(value.index)),
            "columns": to_jsonable(list(value.columns)),
            "data": to_jsonable(value.to_numpy()),
        }
    if isinstance(value, pd.Series):
        return {"index": to_jsonable(list(value.index)), "data": to_jsonable(value.to_numpy())}
    if isinstance(value, pd.Index):
        return to_jsonable(list(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for extra in ("n_distinct", "n_naive"):
            if hasattr(value, extra):
                out[extra] = to_jsonable(getattr(value, extra))
        return out
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _metric_items(result: Any, metric_name: str | None) -> list[tuple[str, Bunch]]:
    """(name, Bunch) for every metric of a result."""
    bunch, name = select_metric(result)
    if name is None:
        return [(metric_name or "score", bunch)]
    return [(str(key), value) for key, value in result.items()]


def results_to_dict(
    result: Any,
    *,
    metric_name: str | None = None,
    oracle: Any = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything in a :func:`depict_importance` result, as JSON-ready types.

    Parameters
    ----------
    result : Bunch or dict of Bunch
        What :func:`~sklearn_depict.depict_importance` returned.
    metric_name : str, default=None
        Name of a single-metric result's score (such as the ``scoring``
        string); None calls it ``"score"``.
    oracle : array-like of shape (n_concepts,), default=None
        Reference importances to store alongside.
    options : mapping, default=None
        The options of the run, stored as given.

    Returns
    -------
    payload : dict
        ``metrics`` (names), ``results`` (per metric: ``baseline_score``,
        ``importances``, ``importances_mean``, ``importances_std``,
        ``importances_ci``, ``ranking``, ``tie_groups``, ``diagnostics`` and
        any other entry of the Bunch), the shared ``concept_names``, image
        counts and ``timings``, the ``plan`` (every distinct caption and seed
        and which one each row showed), ``oracle``, ``options``, ``version``
        and ``created``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.report import results_to_dict
    >>> result = Bunch(importances=np.array([[0.2, 0.3]]), importances_mean=np.array([0.25]),
    ...                concept_names=np.array(["cat"], dtype=object), baseline_score=0.9)
    >>> payload = results_to_dict(result, metric_name="roc_auc")
    >>> payload["metrics"], payload["results"]["roc_auc"]["importances"]
    (['roc_auc'], [[0.2, 0.3]])
    """
    items = _metric_items(result, metric_name)
    first = items[0][1]
    payload: dict[str, Any] = {
        "format": "sklearn-depict results",
        "version": _package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": [name for name, _ in items],
    }
    for key in _SHARED_KEYS:
        if key in first:
            payload[key] = to_jsonable(first[key])
    plan = first.get("plan")
    if plan is not None:
        n_concepts, n_repeats, n_scored = np.shape(plan.permuted_ids)
        payload.update(
            concept_columns=to_jsonable(plan.concept_columns),
            n_samples=len(plan.baseline_ids),
            n_scored=int(n_scored),
            n_repeats=int(n_repeats),
        )
    payload["oracle"] = None if oracle is None else to_jsonable(np.asarray(oracle, dtype=float))
    payload["results"] = {
        name: {
            key: to_jsonable(value)
            for key, value in bunch.items()
            if key not in _SHARED_KEYS and key != "plan"
        }
        for name, bunch in items
    }
    payload["options"] = to_jsonable(dict(options or {}))
    payload["plan"] = None if plan is None else to_jsonable(plan)
    return payload


def _is_flat(items: list[Any]) -> bool:
    return all(not isinstance(item, (dict, list)) for item in items)


def dumps(payload: Any, indent: int = 0) -> str:
    """JSON with indented objects and each list of numbers on one line."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(payload, dict):
        if not payload:
            return "{}"
        body = ",\n".join(
            f"{pad}{json.dumps(str(key), ensure_ascii=False)}: {dumps(value, indent + 1)}"
            for key, value in payload.items()
        )
        return "{\n" + body + "\n" + end + "}"
    if isinstance(payload, list) and payload and not _is_flat(payload):
        body = ",\n".join(pad + dumps(item, indent + 1) for item in payload)
        return "[\n" + body + "\n" + end + "]"
    return json.dumps(payload, ensure_ascii=False, allow_nan=False)


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
        concepts in one group have overlapping intervals) and ``oracle`` when
        given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.report import importance_table
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
    for name, bunch in _metric_items(result, metric_name):
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

    bunch, _ = select_metric(result)
    plan = bunch.plan
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


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd;
     padding-bottom: 0.2em; margin-top: 1.8em; font-size: 1.25em; }
h3 { font-size: 1.05em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.65em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.g1 td { background: #fafbfc; }
.badge { display: inline-block; padding: 0.05em 0.55em; border-radius: 0.8em; font-weight: 600;
         font-size: 0.85em; }
.pass { background: #d8f0dc; color: #17602a; } .fail { background: #f8d7d5; color: #8c1c13; }
.skip { background: #e8e8e8; color: #555; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
ul.failures li { color: #8c1c13; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    return fixed(number, digits)


def _badge(verdict: bool | None) -> str:
    if verdict is None:
        return '<span class="badge skip">not run</span>'
    if verdict:
        return '<span class="badge pass">pass</span>'
    return '<span class="badge fail">fail</span>'


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<p><img src="data:image/png;base64,{encoded}" alt="{_e(alt)}"></p>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], classes: Any = None) -> str:
    """Rows hold HTML that is already escaped."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        css = f' class="{classes[k]}"' if classes is not None and classes[k] else ""
        body.append(f"<tr{css}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(value: Any, numeric: bool = False, raw: bool = False) -> str:
    text = value if raw else (_num(value) if numeric else _e(value))
    return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"


def _ranking_section(
    name: str, bunch: Bunch, oracle: Any, confidence: Any, table: pd.DataFrame
) -> str:
    level = "" if confidence is None else f"{float(confidence):.0%} "
    method = {"bootstrap": "row-bootstrap ", "t": "t "}.get(bunch.get("ci_method"), "")
    header = ["rank", "concept", "mean drop", "std of repeats",
              f"{level}{method}CI of the mean", "p-value", "tie group"]
    if oracle is not None:
        header.append("oracle")
    rows, classes = [], []
    for _, row in table[table.metric == name].iterrows():
        cells = [
            _td(int(row["rank"])),
            _td(row["concept"]),
            _td(row["importance_mean"], numeric=True),
            _td(row["importance_std"], numeric=True),
            _td(f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}]", numeric=True, raw=True),
            _td(row["pvalue"], numeric=True),
            _td(int(row["tie_group"])),
        ]
        if oracle is not None:
            cells.append(_td(row["oracle"], numeric=True))
        rows.append(cells)
        classes.append("g1" if int(row["tie_group"]) % 2 else "")
    groups = bunch.get("tie_groups") or []
    parts = [
        f"<h3>{_e(name)}: baseline {_e(name)} on generated images = "
        f"{_num(bunch.baseline_score)}</h3>",
        _table(header, rows, classes),
    ]
    if groups:
        listed = "; ".join(
            f"group {g}: " + ", ".join(_e(c) for c in group) for g, group in enumerate(groups, 1)
        )
        parts.append(
            "<p>Tie groups (concepts whose intervals overlap, so their order within the "
            f"group is not established): {listed}.</p>"
        )
    return "\n".join(parts)


def _checks_section(items: list[tuple[str, Bunch]], independence_img: str | None) -> str:
    diagnostics = [(name, bunch.get("diagnostics")) for name, bunch in items]
    if all(d is None for _, d in diagnostics):
        return (
            '<p class="note">No checks ran. The paper asks for two checks before a ranking '
            "is trusted: give a concept detector (<code>--detector</code>) for both, and the "
            "real images (<code>--images</code>) to compare real and generated scores. "
            "Without a detector there is no independence heat map.</p>"
        )
    parts = []
    rows = []
    for name, diag in diagnostics:
        if diag is None:
            continue
        checks = diag.get("checks", {})
        rows.append([
            _td(name),
            _td(_badge(checks.get("effective_generation")), raw=True),
            _td(diag.get("real_score", float("nan")), numeric=True),
            _td(diag.get("generated_score", float("nan")), numeric=True),
            _td(diag.get("score_gap", float("nan")), numeric=True),
            _td(_badge(checks.get("independent_permutation")), raw=True),
        ])
    parts.append(_table(
        ["metric", "check 1: effective generation", "score on real images",
         "score on generated images", "gap (real − generated)",
         "check 2: independent permutation"],
        rows,
    ))
    diag = next(d for _, d in diagnostics if d is not None)
    tol = diag.get("tolerances", {})
    if tol:
        parts.append(
            "<p>Tolerances: " + ", ".join(f"{_e(k)} = {_num(v, 3)}" for k, v in tol.items())
            + ".</p>"
        )
    if "real_score" not in diag:
        parts.append(
            '<p class="note">Check 1 did not run: no real images were given '
            "(<code>--images</code>).</p>"
        )
    concepts = diag.get("detector_concepts")
    if concepts is not None:
        generated = np.asarray(diag.get("detector_generated_auc"), dtype=float)
        real = diag.get("detector_real_auc")
        gaps = diag.get("detector_gaps")
        detector_rows = []
        for k, concept in enumerate(concepts):
            detector_rows.append([
                _td(concept),
                _td(np.nan if real is None else real[k], numeric=True),
                _td(generated[k], numeric=True),
                _td(np.nan if gaps is None else gaps[k], numeric=True),
            ])
        parts.append("<h3>Concept detector: AUROC on real and on generated images</h3>")
        parts.append(_table(["concept", "real", "generated", "gap"], detector_rows))
    else:
        parts.append(
            '<p class="note">No concept detector was given (<code>--detector</code>), so '
            "check 2 (independent permutation) did not run and there is no independence "
            "heat map.</p>"
        )
    failures: list[str] = []
    for _, d in diagnostics:
        for message in (d or {}).get("failures", []):
            if message not in failures:
                failures.append(message)
    if failures:
        parts.append("<h3>Failed checks</h3><ul class=\"failures\">"
                     + "".join(f"<li>{_e(m)}</li>" for m in failures) + "</ul>")
    elif concepts is not None:
        parts.append("<p>No check failed.</p>")
    if independence_img is not None:
        parts.append(
            "<h3>Independence heat map</h3><p>Cell (j, k): mean drop of the detector's AUROC "
            "for concept k after permuting concept j. The diagonal should be large and "
            "everything else near zero.</p>" + independence_img
        )
    return "\n".join(parts)


def _run_section(first: Bunch, options: Mapping[str, Any]) -> str:
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
    parts = [_table(["count", "value"], [[_td(k), _td(v)] for k, v in counts])]
    timings = first.get("timings") or {}
    if timings:
        parts.append(_table(
            ["stage", "seconds"],
            [[_td(k), _td(_num(v, 2), raw=True)] for k, v in timings.items()]
            + [[_td("total"), _td(_num(sum(timings.values()), 2), raw=True)]],
        ))
    if options:
        parts.append("<h3>Options</h3>")
        parts.append(_table(
            ["option", "value"],
            [[_td(k), f"<td><code>{_e(_format_option(v))}</code></td>"]
             for k, v in options.items()],
        ))
    return "\n".join(parts)


def _format_option(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _html_page(title: str, sections: list[tuple[str, str]], subtitle: str) -> str:
    body = "\n".join(f"<h2>{_e(heading)}</h2>\n{content}" for heading, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n<p class=\"sub\">{subtitle}</p>\n{body}\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- entry point


def write_report(
    result: Any,
    output_dir: str | Path,
    *,
    generator: Any = None,
    cache: Any = None,
    oracle: Any = None,
    metric_name: str | None = None,
    confidence: float | None = None,
    n_examples: int = 4,
    n_example_concepts: int = 3,
    options: Mapping[str, Any] | None = None,
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
        ``independence_png`` (None without a detector) and ``report_html``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_depict import (ConceptBottleneckClassifier, ShapesGenerator,
    ...                             depict_importance, make_concept_labels,
    ...                             make_shapes_dataset)
    >>> from sklearn_depict.report import write_report
    >>> train = make_shapes_dataset(300, random_state=0)
    >>> test = make_shapes_dataset(60, random_state=1)
    >>> clf = ConceptBottleneckClassifier(weights=train.weights).fit(
    ...     train.images, train.target, concepts=train.concepts)
    >>> y = make_concept_labels(test.concepts, train.weights)
    >>> result = depict_importance(clf, test.concepts, y, generator=ShapesGenerator(),
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
    items = _metric_items(result, metric_name)
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
    n_steps = 3 + len(example_concepts) + int(has_matrix) + 1
    paths = Bunch(output_dir=out, examples=[], independence_png=None)
    with tqdm(total=n_steps, desc="writing report", unit="file", disable=not verbose,
              leave=verbose > 1, dynamic_ncols=True) as bar:
        payload = results_to_dict(result, metric_name=metric_name, oracle=oracle, options=options)
        paths.results_json = out / "results.json"
        paths.results_json.write_text(dumps(payload) + "\n", encoding="utf-8")
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

        example_html = []
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
                example_html.append(
                    f"<p>Permuting {_e(concept)} changed no caption in the first repeat.</p>"
                )
                continue
            data, display = drawn
            paths.examples.append(path)
            rows = ", ".join(str(int(r)) for r in display.rows_)
            example_html.append(
                f"<h3>{_e(concept)}</h3><p>Rows at positions {_e(rows)} of the concept table "
                "(counting from 0): baseline "
                "images (top) and the same rows regenerated with the same noise seed after "
                f"permuting {_e(concept)} (bottom). Only {_e(concept)} should differ.</p>"
                + _img(data, f"examples for {concept}")
            )

        independence_img = None
        if has_matrix:
            paths.independence_png = out / "independence.png"
            independence_img = _img(
                _plot_independence(diagnostics, paths.independence_png, dpi),
                "independence heat map",
            )
            bar.update()

        version = _package_version()
        created = payload["created"]
        subtitle = f"sklearn-depict {_e(version)} · {_e(created)}"
        if description:
            subtitle = _e(description) + "<br>" + subtitle
        top = table.iloc[0]
        summary = (
            f"<p>Most important concept ({_e(top['metric'])}): <strong>{_e(top['concept'])}"
            f"</strong>, mean drop {_num(top['importance_mean'])} "
            f"[{_num(top['ci_low'])}, {_num(top['ci_high'])}].</p>"
        )
        sections = [
            ("Ranking", summary + "\n".join(
                _ranking_section(name, bunch, oracle, confidence, table) for name, bunch in items
            ) + "<p>Importance = score on images generated from the original captions minus "
             "the score after permuting the concept; the interval is that of the mean over "
             "repeats, not the spread of single permutations (the std column).</p>"
             + _img(importance_png, "importance box plots")),
            ("Checks before trusting the ranking", _checks_section(items, independence_img)),
        ]
        if example_html:
            sections.append(("What the permutations did", "\n".join(example_html)))
        elif generator is None:
            sections.append(("What the permutations did",
                             "<p>No generator was given to the report, so no examples.</p>"))
        sections.append(("Run", _run_section(first, options)))
        paths.report_html = out / "report.html"
        paths.report_html.write_text(_html_page(title, sections, subtitle), encoding="utf-8")
        bar.update()
    return paths
