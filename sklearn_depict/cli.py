"""Command line: ``sklearn-depict demo``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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
    demo.add_argument("--n-samples", type=_positive_int, default=500,
                      help="rows of the concept table to explain (default: 500)")
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
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import format_report, run_demo

        report = run_demo(
            args.n_samples,
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
