"""Tests of sklearn_depict.text_to_image.distillation, on tiny pipelines built in code."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

from sklearn_depict.generators.diffusers import DiffusersGenerator  # noqa: E402
from sklearn_depict.text_to_image import PixelDiffusionPipeline, make_pixel_pipeline  # noqa: E402
from sklearn_depict.text_to_image.distillation import (  # noqa: E402
    fit_distilled,
    student_timesteps,
    teacher_pairs,
)

CAPTIONS = ["red circle", "blue square", "green circle, red square", ""] * 2
SEEDS = list(range(100, 108))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def teacher():
    return make_pixel_pipeline(CAPTIONS, size="tiny", seed=0)


@pytest.fixture(scope="module")
def pairs(teacher):
    return teacher_pairs(teacher, CAPTIONS, SEEDS, num_inference_steps=3, guidance_scale=3.0)


def _gap(pipe, pairs, steps):
    """Mean squared distance between the student's samples from x_T and the teacher's."""
    out = pipe(
        pairs["captions"], latents=pairs["noise"], num_inference_steps=steps,
        guidance_scale=1.0, output_type="pt",
    ).images  # fmt: skip
    return float(((pipe.to_model_space(out) - pairs["target"]) ** 2).mean())


def test_teacher_pairs_are_what_the_generator_draws_from_those_seeds(teacher, pairs):
    """The target is the image DiffusersGenerator makes from the same seed: the student
    sampled with a row's seed starts from the noise its teacher started from."""
    assert pairs["noise"].shape == pairs["target"].shape == (8, 12, 16, 16)
    gen = DiffusersGenerator(teacher, num_inference_steps=3, guidance_scale=3.0)
    images = gen.generate(CAPTIONS, SEEDS)
    drawn = teacher.from_model_space(pairs["target"]).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(drawn, images, atol=1e-4)
    first = torch.randn((1, 12, 16, 16), generator=torch.Generator().manual_seed(SEEDS[0]))
    torch.testing.assert_close(pairs["noise"][:1], first)


def test_student_timesteps_are_those_of_its_samplers(teacher):
    found = student_timesteps(teacher.scheduler, [2, 4])
    assert found == [250, 500, 749, 999]
    assert teacher.scheduler.timesteps is None or len(teacher.scheduler.timesteps) != 2


def test_distillation_brings_few_step_samples_onto_the_teacher(teacher, pairs, tmp_path):
    """A few distillation steps at guidance 1 bring the student's 2-step samples closer to
    the teacher's guided samples, and the saved student reloads with those weights.

    The student starts from other random weights than the teacher: a copy of an untrained
    teacher already draws almost the same noise-like images, leaving nothing to measure.
    """
    student = make_pixel_pipeline(CAPTIONS, size="tiny", seed=1)
    student.set_progress_bar_config(disable=True)
    before = _gap(student, pairs, 2)
    losses = fit_distilled(
        student, pairs, output_dir=tmp_path, max_train_steps=40, student_steps=(2,),
        batch_size=8, learning_rate=3e-3, ema_decay=None, checkpoint_every=20,
    )  # fmt: skip
    assert len(losses) == 40
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    after = _gap(student, pairs, 2)
    assert after < 0.7 * before, (before, after)
    reloaded = PixelDiffusionPipeline.from_pretrained(str(tmp_path))
    assert _gap(reloaded, pairs, 2) == pytest.approx(after, rel=1e-4)
    # resuming continues from the checkpoint instead of starting over
    more = fit_distilled(
        PixelDiffusionPipeline.from_pretrained(str(tmp_path)), pairs, output_dir=tmp_path,
        max_train_steps=45, student_steps=(2,), batch_size=8, learning_rate=3e-3,
        ema_decay=None,
    )  # fmt: skip
    assert len(more) == 5
    # a student loaded from a folder does not ship that folder's path in its configs
    assert "_name_or_path" not in (tmp_path / "unet" / "config.json").read_text()
    assert "_name_or_path" not in (tmp_path / "model_index.json").read_text()


def test_on_policy_batches_start_from_the_students_own_samples(teacher, pairs, tmp_path):
    """With on_policy_fraction=1 every batch starts where the student's sampler stands
    after some of its steps; that alone also brings its samples onto the teacher's."""
    from sklearn_depict.text_to_image.distillation import _student_state

    rng = torch.Generator().manual_seed(0)
    cond = teacher.encode_prompt(pairs["captions"])
    x, level = _student_state(teacher, pairs["noise"], cond, [2], rng)
    assert level == 500  # one of the two steps done, the second one's timestep next
    sched = copy.deepcopy(teacher.scheduler)
    sched.set_timesteps(2)
    with torch.no_grad():
        out = teacher.unet(pairs["noise"], 999, encoder_hidden_states=cond).sample
    torch.testing.assert_close(x, sched.step(out, 999, pairs["noise"]).prev_sample)

    student = make_pixel_pipeline(CAPTIONS, size="tiny", seed=1)
    student.set_progress_bar_config(disable=True)
    before = _gap(student, pairs, 2)
    fit_distilled(
        student, pairs, output_dir=tmp_path, max_train_steps=40, student_steps=(2,),
        batch_size=8, learning_rate=3e-3, ema_decay=None, on_policy_fraction=1.0,
    )  # fmt: skip
    assert _gap(student, pairs, 2) < 0.7 * before


def test_bad_input(teacher, pairs, tmp_path):
    with pytest.raises(ValueError, match="same length"):
        teacher_pairs(teacher, CAPTIONS, SEEDS[:2])
    short = dict(pairs, captions=pairs["captions"][:3])
    with pytest.raises(ValueError, match="teacher_pairs"):
        fit_distilled(copy.deepcopy(teacher), short, output_dir=tmp_path, max_train_steps=1)
    with pytest.raises(ValueError, match="uniform_fraction"):
        fit_distilled(
            copy.deepcopy(teacher), pairs, output_dir=tmp_path, max_train_steps=1,
            uniform_fraction=2.0,
        )  # fmt: skip
    with pytest.raises(ValueError, match="on_policy_fraction"):
        fit_distilled(
            copy.deepcopy(teacher), pairs, output_dir=tmp_path, max_train_steps=1,
            on_policy_fraction=-0.1,
        )  # fmt: skip
    eps_model = copy.deepcopy(teacher)
    eps_model.scheduler.register_to_config(prediction_type="epsilon")
    with pytest.raises(ValueError, match="v-prediction"):
        fit_distilled(eps_model, pairs, output_dir=tmp_path, max_train_steps=1)
    assert not (tmp_path / "checkpoint").exists()  # refused before any training
