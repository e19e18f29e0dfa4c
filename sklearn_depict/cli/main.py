"""Command line: ``sklearn-depict demo`` and ``sklearn-depict explain``."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..stats.associations import correlated_pairs_note
from ..stats.results import is_single_metric
from .arg_types import fraction as _fraction
from .arg_types import int_at_least as _int_at_least
from .arg_types import max_samples as _max_samples
from .arg_types import names as _names
from .arg_types import non_negative_int as _non_negative_int
from .arg_types import output_path as _output_path
from .arg_types import positive_float as _positive_float
from .arg_types import positive_int as _positive_int
from .loaders import (
    InputError,
    check_identifier_columns,
    load_labels,
    load_model,
    load_npy,
    load_oracle,
    make_generator,
    one_line,
    read_table,
    set_index,
)
from .output_folders import check_output_folders
from .summary import format_ranking

__all__ = ["main"]


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
        help="run the method end to end on synthetic shapes or real digits",
        description=(
            "Train a concept-bottleneck classifier with known concept weights on "
            "rendered shapes, explain it with depict_importance and the embedded "
            "ShapesGenerator, and print the concept ranking next to the oracle. "
            "With --domain digits: train a clean CNN and two CNNs forced onto a style "
            "shortcut on real handwritten digits, explain them with the shipped digits "
            "diffusion model, and print the shortcut table and both checks."
        ),
    )
    demo.add_argument("--n-samples", type=_positive_int, default=None,
                      help="rows of the concept table to explain (default: 500 with the "
                           "shapes renderer, 250 with the diffusion model; 160 test rows for "
                           "--domain digits)")
    demo.add_argument("--domain", choices=["shapes", "digits"], default="shapes",
                      help="shapes: concept-bottleneck models on synthetic shapes; digits: "
                           "does a CNN take a shortcut? Clean and forced models on real "
                           "handwritten digits (default: shapes)")
    demo.add_argument("--generator", choices=["shapes", "diffusion"], default=None,
                      help="shapes: the exact procedural renderer; diffusion: the shipped "
                           "text-to-image model (needs the 'diffusion' extra). Default: "
                           "shapes for --domain shapes, diffusion for --domain digits")
    demo.add_argument("--n-repeats", type=_positive_int, default=None,
                      help="permutations per concept (default: 25; 10 for --domain digits)")
    demo.add_argument("--n-train", type=_positive_int, default=2000,
                      help="real renders to train the classifier on (default: 2000; "
                           "shapes only)")
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
    inputs.add_argument("--concept-table", metavar="FILE", required=True, type=Path,
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
    inputs.add_argument("--lora", action="append", metavar="PATH", default=None,
                        help="diffusers: a LoRA adapter (the output_dir of "
                             "fit_text_to_image(method='lora'), or its .safetensors file) "
                             "applied to the --generator model; repeat to combine several")
    inputs.add_argument("--lora-scale", action="append", type=float, metavar="S",
                        default=None,
                        help="diffusers: strength of the --lora adapters (default: 1.0); "
                             "once for all, or once per --lora in order")
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
    method.add_argument("--conditioning", choices=["none", "auto"], default="none",
                        help="permute each concept marginally (none) or within the leaves of "
                             "a shallow tree on the other concepts (auto, cs-PFI)")
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
    method.add_argument("--tol", type=_positive_float, metavar="T", default=None,
                        help="anytime run: add blocks of rows until every interval's "
                             "half-width is at most T (default: all rows at once)")
    method.add_argument("--block-size", type=_int_at_least(2), metavar="B", default=None,
                        help="rows per block with --tol (default: 256)")

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
    run.add_argument("--dry-run", action="store_true",
                     help="check the inputs, count the images and time a few (kept in the "
                          "cache), print the estimated cost of the run next to the naive "
                          "N × (1 + J × P), and stop without explaining or writing results")
    run.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    run.add_argument("--traceback", action="store_true",
                     help="show the full traceback of an unexpected error")


def _write_results(report, path: Path, options: dict[str, Any]) -> None:
    if path.suffix.lower() == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        report.table.to_csv(path)
        return
    from ..reporting.results_io import write_results
    from .demo import demo_payload

    write_results(demo_payload(report, options=options), path)


def _run_demo(args: argparse.Namespace) -> int:
    if args.domain == "digits":
        return _run_digits_demo(args)
    from .demo import format_report, run_demo

    args.generator = args.generator or "shapes"
    args.n_repeats = args.n_repeats or 25
    n_samples = args.n_samples or (250 if args.generator == "diffusion" else 500)
    cache = _open_cache(args.cache, args.subparser)
    report = run_demo(
        n_samples,
        generator=args.generator,
        n_repeats=args.n_repeats,
        n_train=args.n_train,
        seed=args.seed,
        n_jobs=args.n_jobs,
        cache=cache,
        verbose=0 if args.quiet else 1,
    )
    print(format_report(report))
    options = {key: value for key, value in vars(args).items() if key != "subparser"}
    if args.output is not None:
        _write_results(report, args.output, options)
        print(f"Results written to {args.output}")
    if args.report is not None:
        from .demo import write_demo_report

        paths = write_demo_report(
            report,
            args.report,
            cache=cache,
            options=options,
            verbose=0 if args.quiet else 1,
        )
        print(f"Report written to {paths.report_html}")
    return 0


def _run_digits_demo(args: argparse.Namespace) -> int:
    from .demo_digits import DEMO_N_EXPLAIN, DEMO_N_REPEATS, format_shortcut_report, run_digits_demo

    unsupported = [f"--{name.replace('_', '-')}" for name in ("output", "report")
                   if getattr(args, name) is not None]
    if args.generator == "shapes":
        unsupported.append("--generator shapes")
    if unsupported:
        args.subparser.error(
            f"{', '.join(unsupported)} cannot be used with --domain digits (its generator "
            "is the shipped diffusion model; it prints its tables only)."
        )
    study = run_digits_demo(
        args.n_samples or DEMO_N_EXPLAIN,
        n_repeats=args.n_repeats or DEMO_N_REPEATS,
        seed=args.seed,
        cache=_open_cache(args.cache, args.subparser),
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
    )
    print(format_shortcut_report(study))
    return 0


# --------------------------------------------------------------------------- explain: inputs


def _scoring(values: list[str] | None) -> Any:
    if not values:
        return None
    from .._engine.params import unknown_scorers_message

    names = [name for value in values for name in _names(value)]
    problem = unknown_scorers_message(names)  # the API's message too
    if problem is not None:
        raise InputError(f"--scoring: {problem}")
    if len(set(names)) != len(names):
        raise InputError(f"--scoring names a metric twice: {names}")
    return names[0] if len(names) == 1 else names


# --------------------------------------------------------------------------- explain: run


def _open_cache(directory: Any, parser: argparse.ArgumentParser) -> Any:
    """The command's one image cache: the run and its report share it, so each of
    its warnings (a read-only or full disk, say) is given once."""
    if directory is None:
        return None
    from ..cache import ImageCache

    try:
        return ImageCache(directory)
    except ValueError as exc:
        parser.error(f"--cache: {exc}".replace(" as cache.", " with --cache."))


def _explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..caption_to_image import CaptionToImage
    from ..captioning import ConceptCaptioner
    from ..diagnostics import DiagnosticWarning, depict_diagnostics
    from ..importance import depict_importance
    from ..reporting.report import write_report

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr)

    notes: list[str] = []
    parser = args.subparser
    try:
        scoring = _scoring(args.scoring)
        table = set_index(read_table(args.concept_table, "concept table"), args.index_column,
                          args.concept_table, notes)
        y, table = load_labels(table, args.labels, label_column=args.label_column,
                               index_column=args.index_column)
        estimator = load_model(
            args.estimator, "estimator", ("predict", "predict_proba", "decision_function")
        )
        detector = (
            None if args.detector is None
            else load_model(args.detector, "detector", ("predict_proba",))
        )
        images = None if args.images is None else load_npy(args.images, "images")
        if images is not None and (images.ndim < 3 or len(images) != len(table)):
            raise InputError(
                f"--images must hold one image per row of the concept table ({len(table)}), "
                f"got an array of shape {images.shape}"
            )
        oracle_map = None if args.oracle is None else load_oracle(args.oracle)
        if args.permute is None:
            context = set(args.context or ())
            check_identifier_columns(table, [c for c in table.columns if c not in context])
        generator = make_generator(
            args.generator,
            allow_unknown_words=args.allow_unknown_words,
            local_files_only=args.local_files_only,
            steps=args.steps,
            lora=args.lora,
            lora_scale=args.lora_scale,
            notes=notes,
        )
    except InputError as exc:
        parser.error(str(exc))

    output_dir = args.output_dir
    if output_dir.exists() and not output_dir.is_dir():
        parser.error(f"--output-dir {output_dir} exists and is not a directory")
    try:
        cache_dir = check_output_folders(output_dir, args.cache)
    except InputError as exc:
        parser.error(str(exc))
    cache = _open_cache(cache_dir, parser)
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
        correlated = None if args.conditioning == "auto" else correlated_pairs_note(
            table, args.permute or [c for c in table.columns if c not in (args.context or [])])
        if correlated is not None:
            print(f"warning: {correlated}", file=sys.stderr)
        # The run's arguments; --dry-run estimates the cost of exactly this run.
        run_args = dict(
            generator=CaptionToImage(generator, captioner=captioner, cache=cache,
                                     batch_size=args.batch_size, seed=args.seed),
            scoring=scoring, n_repeats=args.n_repeats, n_jobs=args.n_jobs,
            random_state=args.random_state, max_samples=args.max_samples,
            concepts=args.permute,
            conditioning=None if args.conditioning == "none" else args.conditioning,
        )  # fmt: skip
        if args.dry_run:
            from ..cost import estimate_cost

            say(f"Estimating the cost of explaining {len(table)} rows; the probe's images "
                f"are cached in {cache_dir}")
            print(estimate_cost(estimator, table, y, **run_args, tol=args.tol,
                                block_size=args.block_size).summary())
            return 0
        say(f"Explaining {len(table)} rows; images are cached in {cache_dir}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DiagnosticWarning)
            checks = {}
            if detector is not None or images is not None:
                checks = dict(detector=detector, X_images=images,
                              detector_concepts=args.detector_concepts)
            if args.tol is not None or args.block_size is not None:
                if checks:
                    raise InputError("--tol runs without the checks: drop --detector and "
                                     "--images, or drop --tol")
                checks = dict(tol=args.tol, block_size=args.block_size)
            result = (depict_diagnostics if "detector" in checks else depict_importance)(
                estimator,
                table,
                y,
                **run_args,
                verbose=verbose,
                confidence=args.confidence,
                ci_method=args.ci_method,
                n_bootstraps=args.n_bootstraps,
                ci_random_state=args.random_state,
                pvalue_correction=args.pvalue_correction,
                **checks,
            )
            if "detector" in checks:
                result = result.result
        for warning in caught:
            kind = "check failed" if issubclass(warning.category, DiagnosticWarning) else (
                warning.category.__name__
            )
            print(f"warning ({kind}): {warning.message}", file=sys.stderr)
        first = result if is_single_metric(result) else next(iter(result.values()))
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
            cache=cache,
            oracle=oracle,
            concept_table=table,
            metric_name=metric_name,
            confidence=args.confidence,
            n_examples=args.examples,
            n_example_concepts=args.example_concepts,
            options=options,
            title="DEPICT report",
            description=f"Estimator {args.estimator.name}, concept table "
                        f"{args.concept_table.name}, generator {args.generator}.",
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
        from .._engine.probe import PreflightError

        kind = "" if isinstance(exc, (ValueError, TypeError, InputError)) else (
            f"{type(exc).__name__}: "
        )
        message = one_line(exc)
        if isinstance(exc, PreflightError):  # name the option, not the Python argument
            message = " ".join(exc.render(_OPTIONS.get(exc.argument, exc.argument)).split())
        print(
            f"sklearn-depict explain: error: {kind}{message} "
            "(run with --traceback for details)",
            file=sys.stderr,
        )
        return 1

    table_out = pd.read_csv(paths.importances_csv)
    print(format_ranking(table_out, first))
    print(f"Report written to {paths.report_html}")
    return 0


# The options that give depict_diagnostics' arguments, for its errors.
_OPTIONS = {"X_images": "--images", "detector_concepts": "--detector-concepts",
            "detector": "--detector"}


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
