"""The paper's synthetic benchmark, ``benchmarks/paper_synthetic.py``, in quick mode."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("captum")
pytest.importorskip("lime")

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "paper_synthetic.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("paper_synthetic", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_mode_runs_and_depict_beats_gradcam(tmp_path):
    out_json = tmp_path / "result.json"
    figure = tmp_path / "figure.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out_json), "--figure", str(figure)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "per-model r [95% CI]" in out and "pooled r [95% CI]" in out
    for method in ("DEPICT", "GradCAM", "LIME", "exact PI"):
        assert method in out

    payload = json.loads(out_json.read_text())
    assert payload["torchvision_imported"] is False
    metrics = payload["metrics"]
    depict, gradcam = metrics["DEPICT"], metrics["GradCAM"]
    for key in ("per_model_r", "pooled_r", "top1", "top3"):
        assert math.isfinite(depict[key])
    assert depict["per_model_r"] > 0.8
    assert depict["per_model_r"] > gradcam["per_model_r"]
    assert depict["pooled_r"] > gradcam["pooled_r"]
    lo, hi = depict["per_model_r_ci"]
    assert lo <= depict["per_model_r"] <= hi
    assert min(payload["detector_accuracy"]) > 0.95
    n_models = payload["settings"]["n_models"]
    assert np.array(payload["scores"]["LIME"]).shape == (n_models, 6)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_concept_iou_averages_over_images_where_the_concept_is_present(bench):
    masks = np.zeros((2, 3, 4, 4), dtype=bool)
    masks[0, 0, :2, :2] = True  # concept 0 in image 0 only
    masks[1, 1, 2:, 2:] = True  # concept 1 in image 1 only
    explanation = np.zeros((2, 4, 4), dtype=bool)
    explanation[0, :2, :] = True  # half of image 0: IoU 4/8 with concept 0
    scores = bench.concept_iou(explanation, masks)
    np.testing.assert_allclose(scores, [0.5, 0.0, 0.0])


def test_metrics_helpers(bench):
    assert bench.pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert bench.pearson([1, 1, 1], [1, 2, 3]) == 0.0
    oracle = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    assert bench.agreement(oracle, oracle, 1) == 1.0
    assert bench.agreement(oracle[::-1], oracle, 1) == 0.0
    result = bench.evaluate(oracle, oracle, n_boot=50, seed=0)
    assert result["per_model_r"] == pytest.approx(1.0)
    assert result["top3"] == 1.0


def test_exact_permutation_importance_ranks_by_weight(bench):
    rng = np.random.RandomState(0)
    concepts = (rng.uniform(size=(400, 3)) < 0.5).astype(float)
    weights = np.array([1.0, 0.5, 0.0])
    y = (concepts @ weights > np.median(concepts @ weights)).astype(int)
    importances = bench.exact_permutation_importance(concepts, weights, y, n_repeats=3, seed=0)
    assert importances[0] > importances[1] > importances[2]
    assert importances[2] == pytest.approx(0.0)


@pytest.mark.slow
def test_diffusion_arm_sits_next_to_the_renderer(tmp_path):
    pytest.importorskip("diffusers")
    out_json = tmp_path / "result.json"
    small = ["--n-models", "2", "--n-explain", "40", "--n-saliency", "4", "--lime-samples", "20"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", *small, "--n-boot", "50",
         "--generator", "diffusion", "--json", str(out_json)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DEPICT diffusion" in done.stdout
    assert "target (DEPICT diffusion per-model r >= 0.9" in done.stdout

    payload = json.loads(out_json.read_text())
    renderer, diffusion = payload["metrics"]["DEPICT"], payload["metrics"]["DEPICT diffusion"]
    # 40 rows is far too few for the 0.90 target, but the shipped model must
    # already rank concepts the way the renderer does.
    assert diffusion["per_model_r"] > 0.5
    assert np.array(payload["scores"]["DEPICT diffusion"]).shape == (2, 6)
    assert set(payload["generated_baseline_auroc"]) == {"DEPICT", "DEPICT diffusion"}
    assert payload["diffusion_target_met"] == (diffusion["per_model_r"] >= 0.90)
    assert renderer["per_model_r"] > 0.5
