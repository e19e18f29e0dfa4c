"""The handwritten-digits domain: measuring rules, data set and concept detector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

from sklearn_depict import ConceptCaptioner
from sklearn_depict.datasets.digits import (
    DIGIT_WORDS,
    DigitsConceptDetector,
    digits_detector,
    make_digits_dataset,
    slant,
    stroke_width,
)


@pytest.fixture(scope="module")
def digits():
    return make_digits_dataset()


def _bar(width: int, lean: float = 0.0, size: int = 32, shift: int = 0) -> np.ndarray:
    image = np.zeros((size, size))
    for row in range(4, size - 4):
        left = int(round(size / 2 - width / 2 + lean * (size / 2 - row))) + shift
        image[row, left : left + width] = 1.0
    return image


def test_stroke_width_measures_width_and_ignores_length_and_position():
    widths = stroke_width(np.stack([_bar(2), _bar(4), _bar(6), _bar(4, shift=5)]))
    # Width in pixels: 2 × area / outline, within the error of the bar's two ends.
    np.testing.assert_allclose(widths * 32, [2, 4, 6, 4], rtol=0.25)
    assert widths[0] < widths[1] < widths[2]
    assert widths[3] == pytest.approx(widths[1])
    short = np.zeros((32, 32))
    short[10:20, 14:18] = 1
    long = np.zeros((32, 32))
    long[2:30, 14:18] = 1
    assert stroke_width(short[None])[0] == pytest.approx(stroke_width(long[None])[0], rel=0.3)


def test_slant_sign_scale_and_shift():
    bars = [_bar(3), _bar(3, lean=0.3), _bar(3, lean=-0.3), _bar(3, 0.3, shift=4)]
    values = slant(np.stack(bars))
    assert abs(values[0]) < 1e-9
    assert values[1] == pytest.approx(0.3, abs=0.03)
    assert values[2] == pytest.approx(-values[1], rel=0.01)
    assert values[3] == pytest.approx(values[1], rel=0.01)
    small = slant(_bar(2, lean=0.3, size=16)[None])[0]
    assert small == pytest.approx(values[1], abs=0.05)


def test_measures_accept_channels_and_flag_blank_images():
    bar = _bar(3, lean=0.2)
    grey = np.stack([bar, np.zeros_like(bar)])
    np.testing.assert_allclose(stroke_width(grey[..., None])[:1], stroke_width(grey)[:1])
    np.testing.assert_allclose(slant(np.repeat(grey[..., None], 3, -1))[:1], slant(grey)[:1])
    assert np.isnan(stroke_width(grey)[1]) and np.isnan(slant(grey)[1])
    with pytest.raises(ValueError, match=r"shape \(n, H, W\) or \(n, H, W, C\)"):
        slant(np.zeros((32, 32)))


def test_dataset_layout(digits):
    n = 1797
    assert digits.images.shape == (n, 32, 32, 1) and digits.images.dtype == np.float32
    assert 0.0 <= digits.images.min() and digits.images.max() <= 1.0
    assert list(digits.concept_table.columns) == ["digit", "thick", "slanted"]
    assert list(digits.concept_table.columns) == digits.concept_names
    assert set(digits.concept_table["digit"]) == set(DIGIT_WORDS)
    np.testing.assert_array_equal(
        digits.concept_table["digit"].map(DIGIT_WORDS.index).to_numpy(), digits.target
    )
    assert digits.captions == ConceptCaptioner().captions(digits.concept_table)
    assert {"seven", "seven, thick", "seven, slanted", "seven, thick, slanted"} <= set(
        digits.captions
    )
    assert digits.thresholds.shape == (10, 2)


def test_concepts_follow_the_rules_and_are_balanced_within_each_digit(digits):
    width = stroke_width(digits.images)
    tilt = slant(digits.images)
    cut = digits.thresholds.to_numpy()[digits.target]
    np.testing.assert_array_equal(digits.concept_table["thick"], width > cut[:, 0])
    np.testing.assert_array_equal(digits.concept_table["slanted"], tilt > cut[:, 1])
    shares = digits.concept_table.groupby("digit")[["thick", "slanted"]].mean()
    assert shares.to_numpy().min() > 0.45 and shares.to_numpy().max() < 0.55
    # Independent of the digit by construction; nearly independent of each other.
    table = digits.concept_table
    assert abs(np.corrcoef(table["thick"], table["slanted"])[0, 1]) < 0.2


def test_default_thickness_split_is_unchanged(digits):
    """The default table is bit for bit the one the package shipped before the option."""
    import hashlib

    def digest(data):
        bits = data.concept_table[["thick", "slanted"]].to_numpy().astype(np.uint8)
        return hashlib.sha256(np.packbits(bits).tobytes()).hexdigest()

    # Digests of the tables made before thick_threshold existed.
    assert digest(digits) == "a3c5a41c048990a0ff0f5e81766f59c262c086e1907a814a7d3f562d2e7b6812"
    small = make_digits_dataset(image_size=16, thick_threshold="within_digit")
    assert digest(small) == "01e4775575687cdff0b42f8df1fad2840f4eb0c2c990096a41bef2f385170dfc"
    explicit = make_digits_dataset(thick_threshold="within_digit")
    pd.testing.assert_frame_equal(explicit.concept_table, digits.concept_table)
    pd.testing.assert_frame_equal(explicit.thresholds, digits.thresholds)
    assert explicit.captions == digits.captions and explicit.DESCR == digits.DESCR


def test_global_thickness_split_goes_with_the_digit(digits):
    from sklearn_depict.stats.associations import concept_associations

    pooled = make_digits_dataset(thick_threshold="global")
    width = pooled.measures["stroke_width"].to_numpy()
    # One split point, the median of all images, in every digit's row.
    np.testing.assert_allclose(pooled.thresholds["stroke_width"], np.median(width))
    np.testing.assert_array_equal(pooled.concept_table["thick"], width > np.median(width))
    assert pooled.concept_table["thick"].mean() == pytest.approx(0.5, abs=0.01)
    # Only thick moves: the images, digits and slant are those of the default.
    np.testing.assert_array_equal(pooled.images, digits.images)
    for column in ("digit", "slanted"):
        np.testing.assert_array_equal(pooled.concept_table[column], digits.concept_table[column])
    np.testing.assert_array_equal(pooled.thresholds["slant"], digits.thresholds["slant"])
    shares = pooled.concept_table.groupby("digit")["thick"].mean()
    assert shares["one"] > 0.8 and shares["three"] < 0.3
    v_within = concept_associations(digits.concept_table, method="cramers_v")
    v_global = concept_associations(pooled.concept_table, method="cramers_v")
    assert v_within.loc["thick", "digit"] < 0.05
    assert v_global.loc["thick", "digit"] > 0.4
    assert "median of all images" in pooled.DESCR
    for bad in ("per_digit", None, 0):
        with pytest.raises(ValueError, match=r"thick_threshold must be one of \['within_digit'"):
            make_digits_dataset(thick_threshold=bad)


def test_random_state_shuffles_rows_consistently(digits):
    shuffled = make_digits_dataset(random_state=0)
    assert not np.array_equal(shuffled.target, digits.target)
    key = shuffled.images.reshape(1797, -1).sum(axis=1)
    order = np.argsort(digits.images.reshape(1797, -1).sum(axis=1))
    lookup = dict(zip(digits.images.reshape(1797, -1).sum(axis=1)[order], order))
    rows = [lookup[k] for k in key[:50]]
    pd.testing.assert_frame_equal(
        shuffled.concept_table.iloc[:50].reset_index(drop=True),
        digits.concept_table.iloc[rows].reset_index(drop=True),
    )
    again = make_digits_dataset(random_state=0)
    np.testing.assert_array_equal(again.images, shuffled.images)


def test_image_size(digits):
    small = make_digits_dataset(image_size=16)
    assert small.images.shape == (1797, 16, 16, 1)
    # Measured at the size asked for: slant hardly moves, stroke width a little.
    assert (small.concept_table["slanted"] == digits.concept_table["slanted"]).mean() > 0.99
    assert (small.concept_table["thick"] == digits.concept_table["thick"]).mean() > 0.9
    for bad in (4, 16.0, "32"):
        with pytest.raises(ValueError, match="image_size must be an int >= 8"):
            make_digits_dataset(image_size=bad)


def test_detector_reads_held_out_real_digits(digits):
    train, test = train_test_split(
        np.arange(1797), test_size=0.3, stratify=digits.target, random_state=0
    )
    detector = DigitsConceptDetector().fit(digits.images[train], digits.concept_table.iloc[train])
    proba = detector.predict_proba(digits.images[test])
    assert [p.shape for p in proba] == [(len(test), 10), (len(test), 2), (len(test), 2)]
    for p in proba:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
        assert ((p >= 0) & (p <= 1)).all()
    found = detector.predict(digits.images[test])
    truth = digits.concept_table.iloc[test].to_numpy()
    agreement = (found == truth).mean(axis=0)
    assert agreement[0] > 0.93  # the digit reader
    # The rules, with thresholds learned on other images and the digit as read.
    assert agreement[1] > 0.9 and agreement[2] > 0.9


def test_detector_checks_its_input(digits):
    with pytest.raises(NotFittedError):
        DigitsConceptDetector().predict_proba(digits.images[:2])
    bad = digits.concept_table.iloc[:100].assign(digit="eleven")
    with pytest.raises(ValueError, match=r"Unknown digit words \['eleven'\]"):
        DigitsConceptDetector().fit(digits.images[:100], bad)
    assert clone(DigitsConceptDetector(C=1.0)).C == 1.0


def test_shipped_detector_matches_the_table(digits):
    detector = digits_detector()
    found = detector.predict(digits.images)
    assert (found == digits.concept_table.to_numpy()).mean(axis=0).min() > 0.97
    assert detector.concept_names_ == digits.concept_names


def test_shipped_diffusion_model_met_its_target():
    from sklearn_depict.digits_diffusion import training_report

    report = training_report()
    per = report["final_metrics"]["per_concept"]
    assert per["digit"] >= 0.90
    assert per["thick"] >= 0.85 and per["slanted"] >= 0.85
    assert report["final_metrics"]["n_images"] >= 400


@pytest.mark.slow
def test_shipped_diffusion_model_draws_held_out_captions():
    """Fresh images from captions of rows it never trained on, judged by the rules."""
    pytest.importorskip("diffusers")
    from sklearn_depict.digits_diffusion import IMAGE_SIZE, load_digits_diffusion

    data = make_digits_dataset(image_size=IMAGE_SIZE)
    _, test = train_test_split(
        np.arange(1797), test_size=0.25, stratify=data.target, random_state=0
    )
    rows = test[:120]
    images = load_digits_diffusion().generate([data.captions[i] for i in rows], rows + 90_000)
    assert images.shape == (120, IMAGE_SIZE, IMAGE_SIZE, 1)
    found = digits_detector(IMAGE_SIZE).predict(images)
    agreement = (found == data.concept_table.iloc[rows].to_numpy()).mean(axis=0)
    # Looser than the 450-image targets: 120 images move a share by about 0.04.
    assert agreement[0] >= 0.85, agreement
    assert agreement[1] >= 0.75 and agreement[2] >= 0.75, agreement


def test_shipped_diffusion_loader_defaults_and_overrides():
    pytest.importorskip("diffusers")
    from sklearn_depict.digits_diffusion import (
        GUIDANCE_SCALE,
        NUM_INFERENCE_STEPS,
        load_digits_diffusion,
    )

    default = load_digits_diffusion()
    assert (default.num_inference_steps, default.guidance_scale) == (
        NUM_INFERENCE_STEPS, GUIDANCE_SCALE
    )
    # a caller's settings replace the model's own rather than colliding with them
    other = load_digits_diffusion(num_inference_steps=3, guidance_scale=1.5, batch_size=8)
    assert (other.num_inference_steps, other.guidance_scale, other.batch_size) == (3, 1.5, 8)


def test_shipped_diffusion_former_default_stays_reachable():
    """The few-step default is new; asking for 10 steps gives the former generator exactly."""
    pytest.importorskip("diffusers")
    from sklearn_depict import DiffusersGenerator
    from sklearn_depict.digits_diffusion import WEIGHTS, load_digits_diffusion

    former = load_digits_diffusion(num_inference_steps=10)
    # what load_digits_diffusion() built before: its cached images are found again
    before = DiffusersGenerator(
        str(WEIGHTS), local_files_only=True, scheduler="DPMSolverMultistepScheduler",
        batch_size=64, num_inference_steps=10, guidance_scale=5.0,
    )  # fmt: skip
    assert former.fingerprint == before.fingerprint
    assert load_digits_diffusion().fingerprint != former.fingerprint


def test_shipped_diffusion_default_is_the_measured_few_step_setting():
    """training.json records the few-step table; the default is a row that met the target."""
    from sklearn_depict.digits_diffusion import (
        GUIDANCE_SCALE,
        NUM_INFERENCE_STEPS,
        training_report,
    )

    report = training_report()
    assert report["sampling"]["num_inference_steps"] == NUM_INFERENCE_STEPS
    assert report["sampling"]["guidance_scale"] == GUIDANCE_SCALE
    rows = {
        (r["scheduler"], r["num_inference_steps"], r["guidance_scale"]): r
        for r in report["few_step"]["rows"]
    }
    default = rows["DPMSolverMultistepScheduler", NUM_INFERENCE_STEPS, GUIDANCE_SCALE]
    former = rows["DPMSolverMultistepScheduler", 10, 5.0]
    assert default["per_concept"]["digit"] >= 0.95
    # the style concepts keep the training targets too
    assert min(default["per_concept"]["thick"], default["per_concept"]["slanted"]) >= 0.85
    assert former["unet_passes_per_image"] >= 2.5 * default["unet_passes_per_image"]
    speed_up = report["few_step"]["timed_in_turns"]["speed_up_over_10_steps"]
    assert speed_up[f"{NUM_INFERENCE_STEPS} steps"] >= 2.5
    assert report["few_step"]["n_images"] >= 400
