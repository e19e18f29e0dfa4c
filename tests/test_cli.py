"""The command line and the import-time promises."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sklearn_depict
from sklearn_depict.cli.main import main

DEMO = ["demo", "--n-samples", "120", "--n-repeats", "3", "--n-train", "600", "--quiet"]


def _readme_demo_block():
    """The demo's output as README.md quotes it: the fenced block after the demo."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\n(.*?)^```$", text, flags=re.S | re.M)
    quoted = [block for block in blocks if "Pearson r with the oracle" in block]
    assert len(quoted) == 1, "README.md should quote the demo's output once"
    return quoted[0].splitlines()


def test_demo_prints_what_the_readme_quotes(capsys):
    # The demo at its defaults, as the README runs it; a few seconds.
    assert main(["demo", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    quoted = _readme_demo_block()
    timing = re.compile(r"Finished in \d+\.\d s")
    assert len(out) == len(quoted), (out, quoted)
    for printed, readme in zip(out, quoted):
        if timing.fullmatch(readme):
            assert timing.fullmatch(printed), printed
        else:
            assert printed == readme
    text = "\n".join(out)
    for concept in ("red circle", "green square", "blue circle"):
        assert concept in text
    assert float(text.split("Pearson r with the oracle:")[1].split()[0]) > 0.8


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_demo_writes_results(tmp_path, capsys, suffix):
    path = tmp_path / f"results{suffix}"
    assert main([*DEMO, "--output", str(path)]) == 0
    if suffix == ".csv":
        table = pd.read_csv(path)
        assert list(table.columns) == ["concept", "importance_mean", "importance_std",
                                       "oracle", "rank", "oracle_rank"]
        assert len(table) == 6
    else:
        # The one results schema (sklearn_depict.reporting.results_io), as in results.json.
        payload = json.loads(path.read_text())
        assert len(payload["concept_names"]) == 6
        assert len(payload["results"]["roc_auc"]["importances"][0]) == 3
        assert payload["n_images_generated"] <= payload["n_images_bound"]
        assert payload["summary"]["pearson_r"] > 0.8 and len(payload["oracle"]) == 6


def test_demo_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--output", "results.txt"])
    assert exit_info.value.code == 2
    assert "must end in .csv or .json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--n-repeats", "0"])


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    for option in ("--n-samples", "--n-repeats", "--seed", "--output"):
        assert option in out


def test_python_dash_m_demo_runs_without_importing_torch():
    code = (
        "import runpy, sys;"
        f"sys.argv = ['sklearn_depict', *{DEMO!r}];"
        "exit_code = 0\n"
        "try:\n"
        "    runpy.run_module('sklearn_depict', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    exit_code = e.code\n"
        "assert exit_code == 0, exit_code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_import_does_not_import_torch():
    code = (
        "import sys, sklearn_depict;"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_public_names_resolve():
    for name in sklearn_depict.__all__:
        if name == "DiffusersGenerator":
            pytest.importorskip("diffusers")
        assert getattr(sklearn_depict, name) is not None
    with pytest.raises(AttributeError):
        sklearn_depict.NotAThing  # noqa: B018


def test_demo_with_the_shipped_diffusion_model():
    pytest.importorskip("diffusers")
    from sklearn_depict.cli.demo import format_report, run_demo

    report = run_demo(20, n_repeats=2, n_train=300, verbose=0, generator="diffusion")
    text = format_report(report)
    assert "Generator: diffusion" in text and "Check 2, independent permutation" in text
    assert report.result.n_images_generated <= report.result.n_images_bound
    with pytest.raises(ValueError, match="'shapes' or 'diffusion'"):
        run_demo(20, generator="stable-diffusion")
