"""Command line: ``sklearn-depict demo`` and ``sklearn-depict explain``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .formatting import fixed
from .preflight import is_torch_module

__all__ = ["main"]


def _int_at_least(low: int):
    """An argparse type: an int no smaller than ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {low}, got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _max_samples(text: str) -> int | float:
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of rows (integer >= 1) or a fraction in (0, 1], got {text!r}"
        )
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return names


def _output_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in (".csv", ".json"):
        raise argparse.ArgumentTypeError(
            f"the output file must end in .csv or .json, got {text!r}"
        )
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sklearn-depict",
        description=(
            "DEPICT: diffusion-enabled permutation importance. Shuffle concepts in "
            "captions, regenerate the images and measure how much a classifier's "
            "score drops."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the method end to end on synthetic shapes",
        description=(
            "Train a concept-bottleneck classifier with known concept weights on "
            "rendered shapes, explain it with depict_importance and the embedded "
            "ShapesGenerator, and print the concept ranking next to the oracle."
        ),
    )
    demo.add_argument("--n-samples", type=_positive_int, default=None,
                      help="rows of the concept table to explain (default: 500 with the "
                           "shapes renderer, 250 with the diffusion model)")
    demo.add_argument("--generator", choices=["shapes", "diffusion"], default="shapes",
                      help="shapes: the exact procedural renderer; diffusion: the shipped "
                           "text-to-image model (needs the 'diffusion' extra)")
    demo.add_argument("--n-repeats", type=_positive_int, default=25,
                      help="permutations per concept (default: 25)")
    demo.add_argument("--n-train", type=_positive_int, default=2000,
                      help="real renders to train the classifier on (default: 2000)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed for data, weights and permutations (default: 0)")
    demo.add_argument("--n-jobs", type=int, default=None,
                      help="joblib workers for generation and prediction")
    demo.add_argument("--cache", metavar="DIR", default=None,
                      help="directory that keeps generated images between runs")
    demo.add_argument("--output", type=_output_path, metavar="FILE", default=None,
                      help="also write the results to FILE (.csv or .json)")
    demo.add_argument("--report", metavar="DIR", default=None,
                      help="also run the paper's two checks (with a shapes concept "
                           "detector) and write the HTML report, plots, results.json "
                           "and importances.csv to DIR")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(subparser=demo)
    _add_explain(commands)
    return parser


def _add_explain(commands: Any) -> None:
    explain = commands.add_parser(
        "explain",
        help="explain a fitted image classifier and write a report",
        description=(
            "Explain a fitted image classifier with depict_importance: permute each "
            "concept of a concept table, regenerate the images and measure the drop "
            "in score. Writes results.json, importances.csv, plots and a "
            "self-contained report.html to --output-dir. Generated images are kept "
            "in a cache (default: OUTPUT_DIR/cache), so an interrupted run resumes "
            "where it stopped when the same command is run again."
        ),
        epilog=(
            "The estimator and detector files are loaded with joblib, which can run "
            "code: only load files you trust. Image and label .npy files are loaded "
            "with allow_pickle=False."
        ),
    )
    explain.set_defaults(subparser=explain)
    inputs = explain.add_argument_group("inputs")
    inputs.add_argument("--estimator", metavar="FILE", required=True, type=Path,
                        help="a fitted estimator that predicts from images (joblib file)")
    inputs.add_argument("--concepts", metavar="FILE", required=True, type=Path,
                        help="the concept table, one row per image (.csv or .parquet)")
    inputs.add_argument("--index-column", metavar="NAME", default=None,
                        help="column holding each row's identifier; the noise seeds follow "
                             "it (default: the row position, or a leading unnamed column "
                             "as written by pandas)")
    inputs.add_argument("--labels", metavar="FILE", type=Path, default=None,
                        help="the labels, one per row (.csv or .npy)")
    inputs.add_argument("--label-column", metavar="NAME", default=None,
                        help="the column holding the labels: of the --labels CSV when "
                             "given, else of the concept table (it is then not a concept)")
    inputs.add_argument("--generator", metavar="NAME", required=True,
                        help="'shapes' for the embedded ShapesGenerator, or a diffusers "
                             "model folder or Hub id")
    inputs.add_argument("--allow-unknown-words", action="store_true",
                        help="shapes: ignore caption words outside the generator's vocabulary "
                             "instead of stopping (ShapesGenerator(strict=False))")
    inputs.add_argument("--local-files-only", action="store_true",
                        help="diffusers: never download, use local files only")
    inputs.add_argument("--steps", type=_positive_int, metavar="N", default=None,
                        help="diffusers: number of inference steps")
    inputs.add_argument("--detector", metavar="FILE", type=Path, default=None,
                        help="a fitted concept detector (joblib file) with predict_proba, "
                             "one output per concept: runs the paper's two checks")
    inputs.add_argument("--detector-concepts", metavar="NAMES", type=_names, default=None,
                        help="comma-separated table columns the detector's outputs "
                             "predict, in order (default: the permuted concepts)")
    inputs.add_argument("--images", metavar="FILE", type=Path, default=None,
                        help="the real images the table describes (.npy, shape (n, H, W, C)):"
                             " compares scores on real and generated images")
    inputs.add_argument("--oracle", metavar="FILE", type=Path, default=None,
                        help="reference importances to plot (.csv with columns concept and "
                             "a value, or .json mapping concept to value)")

    method = explain.add_argument_group("method (as in depict_importance)")
    method.add_argument("--scoring", action="append", metavar="NAME", default=None,
                        help="scorer name; repeat the option or give a comma-separated "
                             "list for several metrics (default: the estimator's score)")
    method.add_argument("--n-repeats", type=_positive_int, default=5,
                        help="permutations per concept (default: 5)")
    method.add_argument("--random-state", type=int, default=0,
                        help="seed of the permutations (default: 0)")
    method.add_argument("--max-samples", type=_max_samples, default=1.0,
                        help="rows scored per permutation: a count or a fraction "
                             "(default: 1.0)")
    method.add_argument("--permute", metavar="NAMES", type=_names, default=None,
                        help="comma-separated concept columns to permute (default: all "
                             "but the context columns)")
    method.add_argument("--context", metavar="NAMES", type=_names, default=None,
                        help="comma-separated context columns: captioned, never permuted")
    method.add_argument("--caption-template", metavar="TEXT", default=None,
                        help="str.format template naming columns, replacing the default "
                             "caption rule")
    method.add_argument("--caption-prefix", metavar="TEXT", default="",
                        help="text put before every caption, e.g. 'a photo of '")
    method.add_argument("--caption-suffix", metavar="TEXT", default="",
                        help="text put after every caption")
    method.add_argument("--seed", type=_non_negative_int, default=0,
                        help="base of the per-row noise seeds (default: 0)")
    method.add_argument("--confidence", type=_fraction, default=0.95,
                        help="coverage of the intervals of the mean (default: 0.95)")
    method.add_argument("--ci-method", choices=["bootstrap", "t"], default="bootstrap",
                        help="intervals and p-values by row bootstrap (covers the sampling "
                             "of the evaluated images; default) or t over repeats")
    method.add_argument("--n-bootstraps", type=_positive_int, default=1000,
                        help="row resamples of the bootstrap (default: 1000)")
    method.add_argument("--pvalue-correction", choices=["holm"], default=None,
                        help="adjust the p-values across concepts (Holm)")

    run = explain.add_argument_group("run and output")
    run.add_argument("--output-dir", metavar="DIR", type=Path, required=True,
                     help="where the report is written")
    run.add_argument("--cache", metavar="DIR", type=Path, default=None,
                     help="image cache (default: OUTPUT_DIR/cache); a re-run resumes from it")
    run.add_argument("--batch-size", type=_positive_int, default=None,
                     help="images generated and predicted per chunk (default: 256)")
    run.add_argument("--n-jobs", type=int, default=None,
                     help="joblib workers for generation and prediction")
    run.add_argument("--examples", type=_non_negative_int, default=4, metavar="N",
                     help="images per example grid; 0 draws none (default: 4)")
    run.add_argument("--example-concepts", type=_non_negative_int, default=3, metavar="K",
                     help="draw example grids for the K most important concepts "
                          "(default: 3)")
    run.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    run.add_argument("--traceback", action="store_true",
                     help="show the full traceback of an unexpected error")


def _write_results(report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        report.table.to_csv(path)
        return
    result = report.result
    payload = {
        "concepts": report.table.reset_index().to_dict(orient="records"),
        "importances": result.importances.tolist(),
        "pearson_r": report.pearson_r,
        "baseline_score": report.generated_score,
        "real_score": report.real_score,
        "n_images_generated": int(result.n_images_generated),
        "n_images_bound": int(result.n_images_bound),
        "n_images_naive": int(result.n_images_naive),
        "seconds": report.seconds,
    }
    path.write_text(json.dumps(payload, indent=2, default=float))


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import format_report, run_demo

    n_samples = args.n_samples or (250 if args.generator == "diffusion" else 500)
    report = run_demo(
        n_samples,
        generator=args.generator,
        n_repeats=args.n_repeats,
        n_train=args.n_train,
        seed=args.seed,
        n_jobs=args.n_jobs,
        cache=args.cache,
        verbose=0 if args.quiet else 1,
    )
    print(format_report(report))
    if args.output is not None:
        _write_results(report, args.output)
        print(f"Results written to {args.output}")
    if args.report is not None:
        from .demo import write_demo_report

        paths = write_demo_report(
            report,
            args.report,
            cache=args.cache,
            options={key: value for key, value in vars(args).items() if key != "subparser"},
            verbose=0 if args.quiet else 1,
        )
        print(f"Report written to {paths.report_html}")
    return 0


# --------------------------------------------------------------------------- explain: inputs


class InputError(Exception):
    """A problem with an input file or option: reported without a traceback."""


def _require_file(path: Path, what: str, suffixes: Sequence[str]) -> None:
    if not path.exists():
        raise InputError(f"{what} file not found: {path}")
    if not path.is_file():
        raise InputError(f"{what} path is not a file: {path}")
    if path.suffix.lower() not in suffixes:
        raise InputError(
            f"{what} file must end in {' or '.join(suffixes)}, got {path.name!r}"
        )


def _read_table(path: Path, what: str, suffixes: Sequence[str] = (".csv", ".parquet")) -> Any:
    import pandas as pd

    _require_file(path, what, suffixes)
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            table = pd.read_parquet(path)
    except ImportError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad file
        raise InputError(f"{what} file {path} could not be parsed: {_one_line(exc)}") from None
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError(f"{what} file {path} holds no data")
    return table


def _set_index(table: Any, column: str | None, path: Path, notes: list[str]) -> Any:
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


def _load_npy(path: Path, what: str) -> np.ndarray:
    _require_file(path, what, (".npy",))
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise InputError(
                f"{what} file {path} holds Python objects (a pickled array); only plain "
                "numeric or string arrays are loaded (allow_pickle=False)"
            ) from None
        raise InputError(f"{what} file {path} could not be read: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{what} file {path} could not be read: {_one_line(exc)}") from None


def _load_model(path: Path, what: str, methods: Sequence[str]) -> Any:
    import joblib

    _require_file(path, what, (".joblib", ".pkl", ".pickle"))
    try:
        model = joblib.load(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"{what} file {path} could not be loaded: {_one_line(exc)}{_load_hint(exc)}"
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


def _load_labels(args: argparse.Namespace, table: Any, notes: list[str]) -> tuple[Any, Any]:
    """The labels, and the concept table without a label column."""
    import pandas as pd

    if args.labels is None:
        if args.label_column is None:
            raise InputError("give the labels with --labels FILE or --label-column NAME")
        if args.label_column not in table.columns:
            raise InputError(
                f"--label-column {args.label_column!r} is not a column of the concept table; "
                f"its columns are {list(map(str, table.columns))}"
            )
        return table[args.label_column].to_numpy(), table.drop(columns=[args.label_column])

    suffix = args.labels.suffix.lower()
    if suffix == ".npy":
        labels = _load_npy(args.labels, "labels")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise InputError(f"labels in {args.labels} must be 1-D, got shape {labels.shape}")
    else:
        frame = _read_table(args.labels, "labels", (".csv",))
        index_column = args.index_column
        if index_column is not None and index_column in frame.columns:
            frame = frame.set_index(index_column)
            missing = table.index.difference(frame.index)
            if len(missing):
                raise InputError(
                    f"{args.labels} has no label for {len(missing)} row(s) of the concept "
                    f"table, e.g. {list(missing[:3])}"
                )
            frame = frame.loc[table.index]
        elif str(frame.columns[0]).startswith("Unnamed: 0") and frame.shape[1] > 1:
            frame = frame.iloc[:, 1:]
        if args.label_column is not None:
            if args.label_column not in frame.columns:
                raise InputError(
                    f"--label-column {args.label_column!r} is not a column of {args.labels}; "
                    f"its columns are {list(map(str, frame.columns))}"
                )
            labels = frame[args.label_column].to_numpy()
        elif frame.shape[1] == 1:
            labels = frame.iloc[:, 0].to_numpy()
        else:
            raise InputError(
                f"{args.labels} has several columns {list(map(str, frame.columns))}; name the "
                "label column with --label-column"
            )
    if len(labels) != len(table):
        raise InputError(
            f"{args.labels} holds {len(labels)} labels for {len(table)} rows of the concept "
            "table"
        )
    if pd.isna(pd.Series(labels)).any():
        raise InputError(f"{args.labels} has missing labels")
    return labels, table


def _load_oracle(path: Path) -> dict[str, float]:
    _require_file(path, "oracle", (".csv", ".json"))
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"oracle file {path} is not valid JSON: {_one_line(exc)}") from None
        if not isinstance(data, dict):
            raise InputError(f"oracle file {path} must hold an object mapping concept to value")
        mapping = data
    else:
        frame = _read_table(path, "oracle", (".csv",))
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


def _make_generator(args: argparse.Namespace, notes: list[str]) -> Any:
    if args.generator == "shapes":
        from .generators.shapes import ShapesGenerator

        if args.steps is not None:
            notes.append("--steps is ignored by the shapes generator")
        return ShapesGenerator(strict=not args.allow_unknown_words)
    if args.allow_unknown_words:
        notes.append("--allow-unknown-words only applies to the shapes generator")
    try:
        import sklearn_depict

        generator_class = sklearn_depict.DiffusersGenerator
    except ImportError as exc:
        raise InputError(
            f"the generator {args.generator!r} needs the diffusion extra: "
            f'pip install "sklearn-depict[diffusion]" ({_one_line(exc)})'
        ) from None
    kwargs: dict[str, Any] = {"local_files_only": args.local_files_only}
    if args.steps is not None:
        kwargs["num_inference_steps"] = args.steps
    try:
        return generator_class(args.generator, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"could not set up the generator {args.generator!r}: {_one_line(exc)}"
        ) from None


def _scoring(values: list[str] | None) -> Any:
    if not values:
        return None
    from sklearn.metrics import get_scorer_names

    names = [name for value in values for name in _names(value)]
    known = set(get_scorer_names())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InputError(
            f"unknown scorer(s) {unknown} in --scoring; see "
            "sklearn.metrics.get_scorer_names() for the valid names"
        )
    if len(set(names)) != len(names):
        raise InputError(f"--scoring names a metric twice: {names}")
    return names[0] if len(names) == 1 else names


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------- explain: run


def _explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from .caption_to_image import CaptionToImage
    from .captioning import ConceptCaptioner
    from .diagnostics import DiagnosticWarning, depict_diagnostics
    from .importance import depict_importance
    from .report import write_report

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    notes: list[str] = []
    parser = args.subparser
    try:
        scoring = _scoring(args.scoring)
        table = _set_index(_read_table(args.concepts, "concept table"), args.index_column,
                           args.concepts, notes)
        y, table = _load_labels(args, table, notes)
        estimator = _load_model(
            args.estimator, "estimator", ("predict", "predict_proba", "decision_function")
        )
        detector = (
            None if args.detector is None
            else _load_model(args.detector, "detector", ("predict_proba",))
        )
        images = None if args.images is None else _load_npy(args.images, "images")
        if images is not None and (images.ndim < 3 or len(images) != len(table)):
            raise InputError(
                f"--images must hold one image per row of the concept table ({len(table)}), "
                f"got an array of shape {images.shape}"
            )
        oracle_map = None if args.oracle is None else _load_oracle(args.oracle)
        if args.permute is None:
            context = set(args.context or ())
            check_identifier_columns(table, [c for c in table.columns if c not in context])
        generator = _make_generator(args, notes)
    except InputError as exc:
        parser.error(str(exc))

    output_dir = args.output_dir
    if output_dir.exists() and not output_dir.is_dir():
        parser.error(f"--output-dir {output_dir} exists and is not a directory")
    cache_dir = args.cache if args.cache is not None else output_dir / "cache"
    for note in notes:
        say(f"note: {note}")

    options = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in vars(args).items()
        if key not in ("subparser", "quiet", "traceback")
    }
    options["scoring"] = scoring
    options["cache"] = str(cache_dir)
    options["n_rows"] = len(table)
    metric_name = scoring if isinstance(scoring, str) else None

    verbose = 0 if args.quiet else 1
    try:
        captioner = ConceptCaptioner(
            template=args.caption_template,
            prefix=args.caption_prefix,
            suffix=args.caption_suffix,
            context=args.context,
        )
        say(f"Explaining {len(table)} rows; images are cached in {cache_dir}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DiagnosticWarning)
            checks = {}
            if detector is not None or images is not None:
                checks = dict(detector=detector, X_images=images,
                              detector_concepts=args.detector_concepts)
            result = (depict_diagnostics if checks else depict_importance)(
                estimator,
                table,
                y,
                generator=CaptionToImage(generator, captioner=captioner, cache=str(cache_dir),
                                         batch_size=args.batch_size, seed=args.seed),
                scoring=scoring,
                n_repeats=args.n_repeats,
                n_jobs=args.n_jobs,
                random_state=args.random_state,
                max_samples=args.max_samples,
                concepts=args.permute,
                verbose=verbose,
                confidence=args.confidence,
                ci_method=args.ci_method,
                n_bootstraps=args.n_bootstraps,
                ci_random_state=args.random_state,
                pvalue_correction=args.pvalue_correction,
                **checks,
            )
            if checks:
                result = result.result
        for warning in caught:
            kind = "check failed" if issubclass(warning.category, DiagnosticWarning) else (
                warning.category.__name__
            )
            print(f"warning ({kind}): {warning.message}", file=sys.stderr)
        first = result if "importances" in result else next(iter(result.values()))
        oracle = None
        if oracle_map is not None:
            names = [str(name) for name in first.concept_names]
            if not set(names) & set(oracle_map):
                raise InputError(
                    f"the oracle names none of the concepts {names}; it names "
                    f"{sorted(oracle_map)}"
                )
            oracle = np.array([oracle_map.get(name, np.nan) for name in names])
        paths = write_report(
            result,
            output_dir,
            generator=generator,
            cache=str(cache_dir),
            oracle=oracle,
            metric_name=metric_name,
            confidence=args.confidence,
            n_examples=args.examples,
            n_example_concepts=args.example_concepts,
            options=options,
            title="DEPICT report",
            description=f"Estimator {args.estimator.name}, concept table "
                        f"{args.concepts.name}, generator {args.generator}.",
            verbose=verbose,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the images generated so far are kept in {cache_dir}; run the "
            "same command again to resume from them.",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:  # noqa: BLE001 - reported in one line unless --traceback
        if args.traceback:
            raise
        kind = "" if isinstance(exc, (ValueError, TypeError, InputError)) else (
            f"{type(exc).__name__}: "
        )
        print(
            f"sklearn-depict explain: error: {kind}{_one_line(exc)} "
            "(run with --traceback for details)",
            file=sys.stderr,
        )
        return 1

    table_out = pd.read_csv(paths.importances_csv)
    print(_format_ranking(table_out, first))
    print(f"Report written to {paths.report_html}")
    return 0


def _format_ranking(table: Any, first: Any) -> str:
    lines = []
    for metric, part in table.groupby("metric", sort=False):
        lines.append(f"Concept importance ({metric}; drop in score when permuted):")
        width = max(len(str(c)) for c in part.concept) + 2
        for _, row in part.iterrows():
            lines.append(
                f"  {int(row['rank']):>3}  {str(row.concept):<{width}}"
                f"{fixed(row.importance_mean):>9}  [{fixed(row.ci_low)}, {fixed(row.ci_high)}]"
            )
    checks = (first.get("diagnostics") or {}).get("checks")
    if checks:
        verdict = {True: "pass", False: "FAIL", None: "not run"}
        lines.append(
            "Checks: effective generation "
            f"{verdict[checks.get('effective_generation')]}, independent permutation "
            f"{verdict[checks.get('independent_permutation')]}"
        )
    lines.append(
        f"Images: {first.n_images_generated} generated, {first.n_images_cached} from the cache "
        f"({first.n_images_distinct} distinct)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    if args.command == "explain":
        return _explain(args)
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
