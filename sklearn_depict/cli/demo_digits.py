"""``sklearn-depict demo --domain digits``: the shortcut case study in a terminal.

Runs :func:`~sklearn_depict.case_studies.digits_shortcuts.run_shortcut_study` and prints
its tables: each model's DEPICT importances with 95 % intervals next to the
concept-bottleneck oracle, the real-versus-generated AUROCs (Check 1) and the
independence matrices (Check 2). ``benchmarks/digits_shortcuts.py`` prints the
same tables at full size.
"""

from __future__ import annotations

from typing import Any

from sklearn.utils import Bunch

from ..formatting import fixed
from ..reporting.verdicts import verdict_text

__all__ = ["format_shortcut_report", "run_digits_demo"]

#: Settings of the demo: about a minute of CPU time (2 to 2.5 minutes on a shared 2-core CPU).
DEMO_N_EXPLAIN = 160
DEMO_N_REPEATS = 10


def run_digits_demo(
    n_explain: int | None = DEMO_N_EXPLAIN,
    *,
    n_repeats: int = DEMO_N_REPEATS,
    seed: int = 0,
    generator: str = "diffusion",
    cache: Any = None,
    n_jobs: int | None = None,
    verbose: int = 1,
) -> Bunch:
    """Run the digits shortcut case study with the demo's settings.

    Parameters
    ----------
    n_explain : int or None, default=160
        Test rows explained (None: all 450); each forced model is explained on
        the ones where its concept agrees with the label.
    n_repeats : int, default=10
        Permutations per concept.
    seed : int, default=0
        Seeds the networks, permutations and intervals.
    generator : {"diffusion"}, default="diffusion"
        The shipped digits diffusion model, the only generator of this domain.
    cache : str, path-like or ImageCache, default=None
    n_jobs : int, default=None
    verbose : int, default=1

    Returns
    -------
    study : :class:`~sklearn.utils.Bunch`
        What :func:`~sklearn_depict.case_studies.digits_shortcuts.run_shortcut_study` returns.

    Examples
    --------
    >>> from sklearn_depict.cli.demo_digits import run_digits_demo
    >>> study = run_digits_demo(40, n_repeats=2, verbose=0)  # doctest: +SKIP
    >>> list(study.summary.index)  # doctest: +SKIP
    ['clean', 'thick', 'slanted']
    """
    from ..case_studies.digits_shortcuts import run_shortcut_study

    if generator != "diffusion":
        raise ValueError(
            "The digits domain has one generator, the shipped diffusion model: use "
            f"generator='diffusion', got {generator!r}."
        )
    return run_shortcut_study(
        n_explain=n_explain, n_repeats=n_repeats, seed=seed, cache=cache, n_jobs=n_jobs,
        verbose=verbose,
    )


def format_shortcut_report(study: Bunch) -> str:
    """The study's tables as text: importances, oracle, and both checks per model.

    Parameters
    ----------
    study : Bunch
        What :func:`~sklearn_depict.case_studies.digits_shortcuts.run_shortcut_study` returns.

    Returns
    -------
    text : str
    """
    summary = study.summary
    lines = [
        'Does my model take a shortcut? CNNs for "digit >= 5" on real handwritten digits',
        "",
        "DEPICT (AUROC drop, 95% bootstrap interval) next to the oracle: permutation "
        "importance of a",
        "concept-bottleneck version of each model on the real concept table "
        "(mean ± std over repeats)",
        "",
        f"{'model':<9}{'concept':<10}{'DEPICT':>8}{'95% interval':>19}{'rank':>6}"
        f"{'oracle':>18}{'rank':>6}",
    ]
    for (model, concept), row in study.table.iterrows():
        interval = f"[{fixed(row.depict_ci_low, 3)}, {fixed(row.depict_ci_high, 3)}]"
        oracle = f"{fixed(row.oracle_mean, 3)} ± {fixed(row.oracle_std, 3)}"
        lines.append(
            f"{model:<9}{concept:<10}{fixed(row.depict_mean, 3):>8}{interval:>19}"
            f"{int(row.depict_rank):>6}{oracle:>18}{int(row.oracle_rank):>6}"
        )
    lines += [
        "",
        f"{'model':<9}{'trained on':>11}{'explained':>10}{'expected':>10}{'DEPICT':>9}"
        f"{'oracle':>9}{'natural test AUROC':>20}",
    ]
    for model, row in summary.iterrows():
        mark = "ok" if row.depict_top == row.expected_top else "MISSED"
        lines.append(
            f"{model:<9}{row.n_train:>11}{row.n_explained:>10}{row.expected_top:>10}"
            f"{row.depict_top:>9}{row.oracle_top:>9}{row.natural_auc:>20.3f}  {mark}"
        )
    lines += [
        "(natural test AUROC: all 450 real test digits, where thick and slanted say "
        "nothing about the label)",
        "",
        "Check 1, effective generation: AUROC on real vs generated images",
        f"{'model':<9}{'target model':>18}"
        + "".join(f"{'detector: ' + c:>24}" for c in study.table.loc[summary.index[0]].index)
        + f"{'verdict':>9}",
    ]
    for model, row in summary.iterrows():
        diagnostics = study.models[model].result.diagnostics
        cells = [
            f"{real:.3f} / {generated:.3f}"
            for real, generated in zip(
                diagnostics.detector_real_auc, diagnostics.detector_generated_auc
            )
        ]
        lines.append(
            f"{model:<9}{f'{row.real_auc:.3f} / {row.generated_auc:.3f}':>18}"
            + "".join(f"{cell:>24}" for cell in cells)
            + f"{verdict_text(row.check_1):>9}"
        )
    lines += [
        "",
        "Check 2, independent permutation: drop in the detector's AUROC for each concept "
        "(columns)",
        "after permuting each concept (rows); digit: macro one-vs-rest AUROC",
    ]
    for model, row in summary.iterrows():
        matrix = study.models[model].result.diagnostics.independence
        lines.append(f"  {model} model: {verdict_text(row.check_2)}")
        lines.append("    " + f"{'permuted':<10}" + "".join(f"{c:>10}" for c in matrix.columns))
        for name, values in matrix.iterrows():
            lines.append(
                "    " + f"{name:<10}" + "".join(f"{fixed(v, 3):>10}" for v in values)
            )
    met = bool((summary.depict_top == summary.expected_top).all())
    lines += [
        "",
        f"Relied-on concept ranked first by DEPICT for every model: {'yes' if met else 'NO'}",
        f"Images generated: {study.n_images_generated} (one cache shared by the three "
        "models)",
        f"Finished in {study.seconds['total']:.1f} s (training "
        f"{study.seconds['training']:.1f} s, explaining {study.seconds['explaining']:.1f} s)",
    ]
    return "\n".join(lines)

