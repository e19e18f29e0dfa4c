"""The one JSON form of a :func:`~sklearn_depict.depict_importance` result.

``results.json`` of a report, the demo's ``--output FILE.json`` and anything
else that stores a result use this schema:

- ``format`` (``"sklearn-depict results"``), ``schema_version``
  (:data:`SCHEMA_VERSION`), ``version`` (of the package) and ``created``;
- ``metrics``: the metric names, and ``multi_metric``: whether the result was
  a dict of Bunch (several metrics) or a single Bunch;
- what every metric shares, once: ``concept_names``, ``constant_concepts``
  (absent from results written before it existed), the image counts,
  ``timings``, ``conditioning`` (with conditional permutation only),
  ``n_samples_used``, ``stopped_early`` and ``anytime_trace`` (anytime runs
  only) and,
  with a plan, ``concept_columns``, ``n_samples``,
  ``n_scored`` and ``n_repeats``;
- ``results``: per metric, every other entry of its Bunch (importances,
  intervals, ranking, tie groups, diagnostics...);
- ``oracle``, ``options``, ``summary`` (free-form figures of the caller, such
  as the demo's correlation with the oracle) and ``plan``.

:func:`results_to_dict` writes it, :func:`results_from_dict` reads it back
into the Bunch (or dict of Bunch) that :func:`depict_importance` returned, and
:func:`dumps` renders it as text that diffs well.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..stats.results import is_single_metric, metric_items

__all__ = [
    "SCHEMA_VERSION",
    "dumps",
    "read_results",
    "results_from_dict",
    "results_to_dict",
    "to_jsonable",
    "write_results",
]

#: Version of the JSON layout; bumped when a reader of the old one would
#: misread the new one.
SCHEMA_VERSION = 1

_FORMAT = "sklearn-depict results"

# Keys every metric's Bunch shares: stored once at the top of the payload.
_SHARED_KEYS = (
    "concept_names",
    "constant_concepts",
    "n_images_distinct",
    "n_images_generated",
    "n_images_cached",
    "n_images_bound",
    "n_images_naive",
    "timings",
    "conditioning",
    "n_samples_used",
    "stopped_early",
    "anytime_trace",
)

# How a JSON value turns back into the array the result held.
_FLOAT_ARRAYS = frozenset({
    "importances", "importances_mean", "importances_std", "importances_ci", "pvalues",
    "detector_generated_auc", "detector_real_auc", "detector_gaps",
})
_FLOATS = frozenset({"baseline_score", "real_score", "generated_score", "score_gap",
                     "chance_score"})


def _package_version() -> str:
    from .. import __version__

    return __version__


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
    >>> from sklearn_depict.reporting.results_io import to_jsonable
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


def results_to_dict(
    result: Any,
    *,
    metric_name: str | None = None,
    oracle: Any = None,
    options: Mapping[str, Any] | None = None,
    summary: Mapping[str, Any] | None = None,
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
    summary : mapping, default=None
        Figures the caller adds (the demo stores its correlation with the
        oracle and its scores on real and generated images).

    Returns
    -------
    payload : dict
        ``metrics`` (names), ``results`` (per metric: ``baseline_score``,
        ``importances``, ``importances_mean``, ``importances_std``,
        ``importances_ci``, ``ranking``, ``tie_groups``, ``diagnostics`` and
        any other entry of the Bunch), the shared ``concept_names``, image
        counts and ``timings``, the ``plan`` (every distinct caption and seed
        and which one each row showed), ``oracle``, ``options``, ``summary``,
        ``schema_version``, ``version`` and ``created``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.reporting.results_io import results_to_dict
    >>> result = Bunch(importances=np.array([[0.2, 0.3]]), importances_mean=np.array([0.25]),
    ...                concept_names=np.array(["cat"], dtype=object), baseline_score=0.9)
    >>> payload = results_to_dict(result, metric_name="roc_auc")
    >>> payload["metrics"], payload["results"]["roc_auc"]["importances"]
    (['roc_auc'], [[0.2, 0.3]])
    """
    items = metric_items(result, metric_name)
    first = items[0][1]
    payload: dict[str, Any] = {
        "format": _FORMAT,
        "schema_version": SCHEMA_VERSION,
        "version": _package_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": [name for name, _ in items],
        "multi_metric": not is_single_metric(result),
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
    payload["summary"] = to_jsonable(dict(summary or {}))
    payload["plan"] = None if plan is None else to_jsonable(plan)
    return payload


def results_from_dict(payload: Mapping[str, Any]) -> Any:
    """The result that :func:`results_to_dict` stored, with its arrays back.

    Parameters
    ----------
    payload : mapping
        What :func:`results_to_dict` returned, or ``results.json`` parsed.

    Returns
    -------
    result : Bunch or dict of Bunch
        As :func:`~sklearn_depict.depict_importance` returned it: numbers in
        numpy arrays (``None`` back to NaN), the diagnostics' independence
        matrix a DataFrame and the plan an
        :class:`~sklearn_depict.ImportancePlan`. A dict keyed by
        metric when the run had several metrics.

    Raises
    ------
    ValueError
        When the payload is not a results payload, or was written with a newer
        schema than this version of sklearn-depict reads.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.reporting.results_io import results_from_dict, results_to_dict
    >>> result = Bunch(importances=np.array([[0.2, np.nan]]), baseline_score=0.9,
    ...                concept_names=np.array(["cat"], dtype=object))
    >>> back = results_from_dict(results_to_dict(result))
    >>> back.importances, back.concept_names
    (array([[0.2, nan]]), array(['cat'], dtype=object))
    """
    if not isinstance(payload, Mapping) or payload.get("format") != _FORMAT:
        raise ValueError(
            f"Expected a payload of results_to_dict (with format={_FORMAT!r}), got "
            f"{type(payload).__name__}"
            + (f" with format={payload.get('format')!r}." if isinstance(payload, Mapping)
               else ".")
        )
    version = payload.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"These results use schema version {version!r}; this sklearn-depict reads "
            f"versions up to {SCHEMA_VERSION}. Upgrade sklearn-depict to read them."
        )
    shared: dict[str, Any] = {}
    for key in _SHARED_KEYS:
        if key in payload:
            value = payload[key]
            if key == "concept_names":
                value = np.asarray(value, dtype=object)
            elif key == "constant_concepts":
                value = np.asarray(value, dtype=bool)
            elif key == "anytime_trace":
                value = _trace_from_dict(value)
            shared[key] = value
    plan = payload.get("plan")
    if plan is not None:
        shared["plan"] = _plan_from_dict(plan)
    result = {}
    for name in payload["metrics"]:
        bunch = Bunch(**{key: _restore(key, value)
                         for key, value in payload["results"][name].items()})
        bunch.update(shared)
        result[name] = bunch
    if payload.get("multi_metric", len(result) > 1):
        return result
    return next(iter(result.values()))


def _restore(key: str, value: Any) -> Any:
    """One stored entry of a metric's Bunch, as the Bunch held it."""
    if key in _FLOATS:
        return math.nan if value is None else float(value)
    if value is None:
        return None
    if key in _FLOAT_ARRAYS:
        return np.asarray(value, dtype=float)
    if key == "ranking":
        return np.asarray(value, dtype=int)
    if key == "diagnostics":
        return Bunch(**{k: _restore(k, v) for k, v in value.items()})
    if key == "independence":
        return pd.DataFrame(
            np.asarray(value["data"], dtype=float),
            index=pd.Index(value["index"], name=value.get("index_name")),
            columns=pd.Index(value["columns"], name=value.get("columns_name")),
        )
    return value


def _plan_from_dict(value: Mapping[str, Any]) -> Any:
    from .._engine.plan import ImportancePlan

    fields = {f.name for f in dataclasses.fields(ImportancePlan)}
    kwargs = {key: item for key, item in value.items() if key in fields}
    for key in ("baseline_ids", "row_indices", "permuted_ids"):
        kwargs[key] = np.asarray(kwargs[key], dtype=np.intp)
    for key in ("permuted_rows", "table_rows"):
        # Written since conditional permutation (and anytime runs); older files lack them.
        if kwargs.get(key) is not None:
            kwargs[key] = np.asarray(kwargs[key], dtype=np.intp)
    return ImportancePlan(**kwargs)


def _trace_from_dict(value: Mapping[str, Any]) -> Any:
    from .._engine.blocks import AnytimeTrace

    fields = {f.name for f in dataclasses.fields(AnytimeTrace)}
    # AnytimeTrace turns the nulls of NaN (a block not scored yet) back into NaN.
    return AnytimeTrace(**{key: item for key, item in value.items() if key in fields})


def _is_flat(items: list[Any]) -> bool:
    return all(not isinstance(item, (dict, list)) for item in items)


def dumps(payload: Any, indent: int = 0) -> str:
    """JSON with indented objects and each list of numbers on one line.

    Examples
    --------
    >>> from sklearn_depict.reporting.results_io import dumps
    >>> print(dumps({"metrics": ["roc_auc"], "importances": [[0.5, 0.25], [0.0, 0.1]]}))
    {
      "metrics": ["roc_auc"],
      "importances": [
        [0.5, 0.25],
        [0.0, 0.1]
      ]
    }
    """
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


def write_results(payload: Mapping[str, Any], path: str | Path) -> Path:
    """Write a payload of :func:`results_to_dict` as JSON (UTF-8).

    Parameters
    ----------
    payload : mapping
    path : str or path-like
        Its folder is created when missing.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(dict(payload)) + "\n", encoding="utf-8")
    return path


def read_results(path: str | Path) -> Any:
    """Read a result written by :func:`write_results` (such as ``results.json``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    result : Bunch or dict of Bunch
        See :func:`results_from_dict`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from sklearn.utils import Bunch
    >>> from sklearn_depict.reporting.results_io import (read_results, results_to_dict,
    ...                                        write_results)
    >>> result = Bunch(importances=np.array([[0.2, 0.3]]), baseline_score=0.9,
    ...                concept_names=np.array(["cat"], dtype=object))
    >>> path = write_results(results_to_dict(result), Path(tempfile.mkdtemp()) / "r.json")
    >>> read_results(path).importances
    array([[0.2, 0.3]])
    """
    return results_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
