"""Reading the command line's input files, with errors a user can act on.

``sklearn-depict explain`` reads a concept table (CSV or Parquet), labels
(CSV, ``.npy`` or a column of the table), fitted models (joblib), real images
(``.npy``) and an oracle (CSV or JSON) through these functions. Each raises
:class:`InputError` with a one-line message that names the file and what is
wrong with it, before any image is generated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._engine.preflight import is_torch_module

__all__ = [
    "InputError",
    "check_identifier_columns",
    "load_labels",
    "load_model",
    "load_npy",
    "load_oracle",
    "make_generator",
    "one_line",
    "read_table",
    "require_file",
    "set_index",
]



class InputError(Exception):
    """A problem with an input file or option: reported without a traceback."""


def require_file(path: Path, what: str, suffixes: Sequence[str]) -> None:
    """Check that ``path`` is an existing file with one of ``suffixes``.

    Parameters
    ----------
    path : Path
    what : str
        What the file holds, for the message (``"estimator"``).
    suffixes : sequence of str
        Accepted suffixes, lower case with the dot.

    Raises
    ------
    InputError

    Examples
    --------
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import InputError, require_file
    >>> try:
    ...     require_file(Path("no-such-model.joblib"), "estimator", (".joblib",))
    ... except InputError as exc:
    ...     print(exc)
    estimator file not found: no-such-model.joblib
    """
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if not path.is_file():
        raise InputError(f"{what} path is not a file: {path}")
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"{what} file must end in {' or '.join(suffixes)}, got {path.name!r}"
        )


def read_table(path: Path, what: str, suffixes: Sequence[str] = (".csv", ".parquet")) -> Any:
    """Read a CSV or Parquet table that holds at least one cell.

    Parameters
    ----------
    path : Path
    what : str
        What the table holds, for messages.
    suffixes : sequence of str, default=(".csv", ".parquet")

    Returns
    -------
    table : DataFrame

    Raises
    ------
    InputError
        For a missing, unparsable or empty file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import read_table
    >>> path = Path(tempfile.mkdtemp()) / "concepts.csv"
    >>> _ = path.write_text("red,round\\n1,0\\n0,1\\n")
    >>> read_table(path, "concept table").shape
    (2, 2)
    """
    import pandas as pd

    require_file(path, what, suffixes)
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            table = pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise InputError(f"{what} file {path} could not be parsed: {one_line(exc)}") from None
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError(f"{what} file {path} holds no data")
    return table


def set_index(table: Any, column: str | None, path: Path, notes: list[str]) -> Any:
    """Index the table by ``column``, or by the unnamed first column pandas writes.

    Parameters
    ----------
    table : DataFrame
    column : str or None
        The identifier column (``--index-column``).
    path : Path
        The table's file, for messages.
    notes : list of str
        Receives a note when the unnamed first column becomes the index.

    Returns
    -------
    table : DataFrame

    Raises
    ------
    InputError
        For an unknown column or duplicated identifiers.

    Examples
    --------
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import set_index
    >>> table = pd.DataFrame({"image_id": ["a", "b"], "red": [1, 0]})
    >>> list(set_index(table, "image_id", Path("concepts.csv"), []).index)
    ['a', 'b']
    """
    if column is not None:
        if column not in table.columns:
            raise InputError(
                f"--index-column {column!r} is not a column of {path}; its columns are "
                f"{list(map(str, table.columns))}"
            )
        table = table.set_index(column)
    elif str(table.columns[0]).startswith("Unnamed: 0"):
        notes.append(f"using the unnamed first column of {path.name} as the row index")
        table = table.set_index(table.columns[0])
        table.index.name = None
    if not table.index.is_unique:
        raise InputError(f"the row index of {path} has duplicated values")
    return table


def load_npy(path: Path, what: str) -> np.ndarray:
    """Load a ``.npy`` array without unpickling anything.

    Parameters
    ----------
    path : Path
    what : str
        What the array holds, for messages.

    Returns
    -------
    array : ndarray

    Raises
    ------
    InputError
        For a missing or unreadable file, or one that holds Python objects.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import load_npy
    >>> path = Path(tempfile.mkdtemp()) / "labels.npy"
    >>> np.save(path, np.array([0, 1, 1]))
    >>> load_npy(path, "labels")
    array([0, 1, 1])
    """
    require_file(path, what, (".npy",))
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise InputError(
                f"{what} file {path} holds Python objects (a pickled array); only plain "
                "numeric or string arrays are loaded (allow_pickle=False)"
            ) from None
        raise InputError(f"{what} file {path} could not be read: {one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{what} file {path} could not be read: {one_line(exc)}") from None


def load_model(path: Path, what: str, methods: Sequence[str]) -> Any:
    """Load a fitted model from a joblib file (which can run code: trusted files only).

    Parameters
    ----------
    path : Path
    what : str
        ``"estimator"`` or ``"detector"``, for messages.
    methods : sequence of str
        The model must have at least one of them.

    Returns
    -------
    model : object

    Raises
    ------
    InputError
        For a file that does not load (with a hint when the pickle refers to
        code that cannot be imported here), a bare torch module, or an object
        without any of ``methods``.

    Examples
    --------
    >>> import tempfile, joblib
    >>> from pathlib import Path
    >>> from sklearn.dummy import DummyClassifier
    >>> from sklearn_depict.cli.loaders import load_model
    >>> path = Path(tempfile.mkdtemp()) / "clf.joblib"
    >>> _ = joblib.dump(DummyClassifier().fit([[0], [1]], [0, 1]), path)
    >>> load_model(path, "estimator", ("predict",))
    DummyClassifier()
    """
    import joblib

    require_file(path, what, (".joblib", ".pkl", ".pickle"))
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"{what} file {path} could not be loaded: {one_line(exc)}{_load_hint(exc)}"
        ) from None
    if is_torch_module(model):
        raise InputError(
            f"{what} file {path} holds a bare torch module ({type(model).__name__}); save "
            "it wrapped: joblib.dump(TorchImageClassifier(module, classes=[...], ...), "
            "path) (or TorchImageRegressor)"
        )
    if isinstance(model, type) or not any(callable(getattr(model, m, None)) for m in methods):
        raise InputError(
            f"{what} file {path} does not hold a fitted estimator: it holds a "
            f"{type(model).__name__}, with none of the methods {list(methods)}"
        )
    return model


def _load_hint(exc: BaseException) -> str:
    """How to fix a pickle that refers to code the loading process cannot import."""
    missing = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
    if isinstance(exc, AttributeError) and missing:
        name, module = missing.groups()
        where = (
            "the script that saved it (its __main__)" if module.endswith("__main__")
            else f"module {module}, which lacks it here"
        )
        return (
            f". The model refers to {name!r}, defined in {where}; a pickle stores a "
            "reference to such code, not the code, so it only loads where that code can "
            "be imported. Use importable steps instead: sklearn_depict.FlattenImages() or "
            "ChannelsFirst() rather than a FunctionTransformer around your own function, "
            "TorchImageClassifier for a torch module, or move your code to a module that "
            "both processes can import"
        )
    if isinstance(exc, ModuleNotFoundError):
        return (
            f". Install the package {exc.name!r} (or put its module on PYTHONPATH) in "
            "the environment that runs sklearn-depict"
        )
    return ""


def check_identifier_columns(table: Any, columns: Sequence[Any]) -> None:
    """Refuse a would-be concept whose values are all distinct: it names rows.

    Parameters
    ----------
    table : DataFrame
        The concept table.
    columns : sequence
        The columns that would be permuted.

    Raises
    ------
    InputError
        Naming ``--index-column`` and ``--permute``.
    """
    n = len(table)
    if n < _MIN_ROWS_FOR_ID_CHECK:
        return
    ids = [c for c in columns if table[c].nunique(dropna=False) == n]
    if ids:
        raise InputError(
            f"column(s) {list(map(str, ids))} of the concept table hold a different value in "
            f"each of the {n} rows, so they identify rows rather than describe concepts "
            f"(permuting one would add {n - 1} images per row). Name the row identifier "
            f"with --index-column {ids[0]}, or list the concepts to permute with --permute "
            "(and captioned text that is never permuted with --context)"
        )


# A column of distinct values in a handful of rows may still be a concept (a
# count); from this many rows on, it is taken for an identifier.
_MIN_ROWS_FOR_ID_CHECK = 10


def load_labels(
    table: Any,
    path: Path | None = None,
    *,
    label_column: str | None = None,
    index_column: str | None = None,
) -> tuple[Any, Any]:
    """The labels, and the concept table without a label column.

    Parameters
    ----------
    table : DataFrame
        The concept table, indexed by ``index_column`` when one was named.
    path : path-like, default=None
        A ``.npy`` file with one label per row, or a ``.csv`` file of one
        column (or naming ``label_column``). None reads ``label_column`` of
        ``table``.
    label_column : str, default=None
        The column that holds the labels.
    index_column : str, default=None
        A column of the CSV that matches the rows to the table's index.

    Returns
    -------
    y : ndarray of shape (n_rows,)
    table : DataFrame
        ``table`` without its label column.

    Raises
    ------
    InputError
        For a missing column, a label count that does not match the table, a
        row without a label or missing labels.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_depict.cli.loaders import load_labels
    >>> table = pd.DataFrame({"red": [0, 1], "label": ["no", "yes"]})
    >>> y, concepts = load_labels(table, label_column="label")
    >>> list(y), list(concepts.columns)
    (['no', 'yes'], ['red'])
    """
    import pandas as pd

    if path is None:
        if label_column is None:
            raise InputError("give the labels with --labels FILE or --label-column NAME")
        if label_column not in table.columns:
            raise InputError(
                f"--label-column {label_column!r} is not a column of the concept table; "
                f"its columns are {list(map(str, table.columns))}"
            )
        return table[label_column].to_numpy(), table.drop(columns=[label_column])

    suffix = path.suffix.lower()
    if suffix == ".npy":
        labels = load_npy(path, "labels")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise InputError(f"labels in {path} must be 1-D, got shape {labels.shape}")
    else:
        frame = read_table(path, "labels", (".csv",))
        if index_column is not None and index_column in frame.columns:
            frame = frame.set_index(index_column)
            missing = table.index.difference(frame.index)
            if len(missing):
                raise InputError(
                    f"{path} has no label for {len(missing)} row(s) of the concept "
                    f"table, e.g. {list(missing[:3])}"
                )
            frame = frame.loc[table.index]
        elif str(frame.columns[0]).startswith("Unnamed: 0") and frame.shape[1] > 1:
            frame = frame.iloc[:, 1:]
        if label_column is not None:
            if label_column not in frame.columns:
                raise InputError(
                    f"--label-column {label_column!r} is not a column of {path}; "
                    f"its columns are {list(map(str, frame.columns))}"
                )
            labels = frame[label_column].to_numpy()
        elif frame.shape[1] == 1:
            labels = frame.iloc[:, 0].to_numpy()
        else:
            raise InputError(
                f"{path} has several columns {list(map(str, frame.columns))}; name the "
                "label column with --label-column"
            )
    if len(labels) != len(table):
        raise InputError(
            f"{path} holds {len(labels)} labels for {len(table)} rows of the concept "
            "table"
        )
    if pd.isna(pd.Series(labels)).any():
        raise InputError(f"{path} has missing labels")
    return labels, table


def load_oracle(path: Path) -> dict[str, float]:
    """Reference importances: a CSV (concept, value) or a JSON object.

    Parameters
    ----------
    path : Path

    Returns
    -------
    oracle : dict of str to float

    Raises
    ------
    InputError

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_depict.cli.loaders import load_oracle
    >>> path = Path(tempfile.mkdtemp()) / "oracle.json"
    >>> _ = path.write_text('{"red": 0.5, "round": 0}')
    >>> load_oracle(path)
    {'red': 0.5, 'round': 0.0}
    """
    require_file(path, "oracle", (".csv", ".json"))
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"oracle file {path} is not valid JSON: {one_line(exc)}") from None
        if not isinstance(data, dict):
            raise InputError(f"oracle file {path} must hold an object mapping concept to value")
        mapping = data
    else:
        frame = read_table(path, "oracle", (".csv",))
        if frame.shape[1] != 2:
            raise InputError(
                f"oracle file {path} must have two columns (concept, value), got "
                f"{list(map(str, frame.columns))}"
            )
        mapping = dict(zip(frame.iloc[:, 0].astype(str), frame.iloc[:, 1]))
    try:
        return {str(key): float(value) for key, value in mapping.items()}
    except (TypeError, ValueError) as exc:
        raise InputError(f"oracle file {path} holds a non-numeric value: {exc}") from None


def make_generator(
    name: str,
    *,
    allow_unknown_words: bool = False,
    local_files_only: bool = False,
    steps: int | None = None,
    lora: Sequence[str] | None = None,
    lora_scale: Sequence[float] | None = None,
    notes: list[str] | None = None,
) -> Any:
    """The generator named on the command line.

    Parameters
    ----------
    name : str
        ``"shapes"`` for :class:`~sklearn_depict.ShapesGenerator`, else a
        diffusers model folder or Hub id.
    allow_unknown_words : bool, default=False
        Shapes: ignore caption words outside its vocabulary.
    local_files_only : bool, default=False
        Diffusers: never download.
    steps : int, default=None
        Diffusers: inference steps.
    lora : list of str, default=None
        Diffusers: LoRA adapter folders or files applied to the model (``--lora``).
    lora_scale : list of float, default=None
        Diffusers: one strength for every adapter, or one per adapter.
    notes : list of str, default=None
        Receives a note for each option the generator ignores.

    Returns
    -------
    generator : object

    Raises
    ------
    InputError
        When the diffusion extra is missing, the model or its adapters cannot be
        set up, or ``name`` is a folder of LoRA adapters (it belongs in ``--lora``).

    Examples
    --------
    >>> from sklearn_depict.cli.loaders import make_generator
    >>> notes = []
    >>> make_generator("shapes", steps=10, notes=notes), notes
    (ShapesGenerator(), ['--steps is ignored by the shapes generator'])
    """
    from ..generators.lora_loading import adapter_folder_base

    notes = [] if notes is None else notes
    if lora_scale and not lora:
        raise InputError("--lora-scale sets the strength of --lora adapters; give --lora too")
    if name == "shapes":
        from ..generators.shapes import ShapesGenerator

        if lora:
            raise InputError(
                "--lora adapts a diffusers model; give the adapters' base model (a folder "
                "or Hub id) as --generator, not 'shapes'"
            )
        if steps is not None:
            notes.append("--steps is ignored by the shapes generator")
        return ShapesGenerator(strict=not allow_unknown_words)
    if allow_unknown_words:
        notes.append("--allow-unknown-words only applies to the shapes generator")
    try:
        import sklearn_depict

        generator_class = sklearn_depict.DiffusersGenerator
    except ImportError as exc:
        raise InputError(
            f"the generator {name!r} needs the diffusion extra: "
            f'pip install "sklearn-depict[diffusion]" ({one_line(exc)})'
        ) from None
    is_adapter, base = adapter_folder_base(name)
    if is_adapter:
        raise InputError(
            f"--generator {name} is a folder of LoRA adapters, not a model: give the base "
            "model they adapt as --generator and the folder as --lora, as in "
            f"--generator {base or 'BASE_MODEL'} --lora {name}"
        )
    kwargs: dict[str, Any] = {"local_files_only": local_files_only}
    if steps is not None:
        kwargs["num_inference_steps"] = steps
    if lora:
        kwargs["lora"] = list(lora)
        if lora_scale:
            kwargs["lora_scale"] = lora_scale[0] if len(lora_scale) == 1 else list(lora_scale)
    try:
        generator = generator_class(name, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"could not set up the generator {name!r}: {one_line(exc)}"
        ) from None
    if lora:
        from ..generators._diffusers_params import check_lora

        try:  # the adapters' files and scales, read from their headers: no torch yet
            check_lora(generator)
        except (OSError, TypeError, ValueError) as exc:
            raise InputError(f"--lora/--lora-scale: {one_line(exc)}") from None
    return generator


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none).

    Examples
    --------
    >>> from sklearn_depict.cli.loaders import one_line
    >>> one_line(ValueError("bad\\n  value")), one_line(KeyError())
    ('bad value', 'KeyError')
    """
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
