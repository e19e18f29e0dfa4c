"""LoRA: fit_text_to_image(method="lora") and DiffusersGenerator(lora=...).

Everything runs offline on tiny random-weight pipelines built in code
(``make_tiny_pipeline``, ``make_pixel_pipeline``); nothing comes from a hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("peft")

from safetensors.torch import load_file  # noqa: E402
from sklearn.base import clone  # noqa: E402

from sklearn_depict import CaptionToImage, ImageCache, make_shapes_dataset  # noqa: E402
from sklearn_depict.generators.diffusers import (  # noqa: E402
    DiffusersGenerator,
    clear_pipeline_cache,
    make_tiny_pipeline,
)
from sklearn_depict.generators.lora_loading import text_encoder_lora_problem  # noqa: E402
from sklearn_depict.text_to_image import (  # noqa: E402
    PixelDiffusionPipeline,
    fit_text_to_image,
    load_generator,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CAPTIONS = ["red circle", "blue square, green circle", "", "a photo of a dog"]
SEEDS = [0, 1, 2, 3]
WEIGHTS = "pytorch_lora_weights.safetensors"
# A tiny random base learns little in a few steps; a large rate makes the
# adapter's effect plain in the images.
LORA = dict(method="lora", batch_size=4, learning_rate=3e-2, lr_warmup_steps=0, verbose=0)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return make_shapes_dataset(32, random_state=0)


@pytest.fixture(scope="module")
def base_dir(tiny_sd_dir):
    return tiny_sd_dir


@pytest.fixture(scope="module")
def adapter(data, base_dir, tmp_path_factory):
    """A trained adapter folder and the generator fit_text_to_image returned."""
    out = tmp_path_factory.mktemp("lora")
    gen = fit_text_to_image(
        data.captions, data.images, base=str(base_dir), output_dir=out, max_train_steps=12,
        **LORA,
    )  # fmt: skip
    return out, gen


def make_gen(model, **params):
    params = {"num_inference_steps": 2, "local_files_only": True, **params}
    return DiffusersGenerator(model, **params)


def _losses(folder):
    lines = (folder / "loss_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
def test_returns_a_generator_of_base_and_adapter(adapter, base_dir):
    out, gen = adapter
    assert isinstance(gen, DiffusersGenerator)
    assert gen.model == str(base_dir.resolve()) and gen.lora == str(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint", "lora_training.json", "loss_log.jsonl", WEIGHTS,
    ]  # fmt: skip
    record = json.loads((out / "lora_training.json").read_text())
    assert record["lora_rank"] == 4 and record["lora_alpha"] == 4.0 and record["steps"] == 12
    again = load_generator(out)
    assert again.get_params() == gen.get_params()


@pytest.mark.slow
def test_loss_falls_against_an_untrained_adapter(data, base_dir, tmp_path):
    # Same seed, same batches, noise and timesteps: with learning_rate=0 the
    # adapter stays zero, so the paired losses isolate what it learned.
    runs = {}
    for lr in (0.0, 3e-2):
        out = tmp_path / str(lr)
        kwargs = {**LORA, "learning_rate": lr}
        fit_text_to_image(
            data.captions, data.images, base=str(base_dir), output_dir=out, max_train_steps=24,
            checkpoint_every=0, **kwargs,
        )  # fmt: skip
        runs[lr] = np.array(_losses(out))
    assert len(runs[0.0]) == 24
    np.testing.assert_array_equal(runs[0.0][:1], runs[3e-2][:1])  # identical first step
    assert runs[3e-2][-8:].mean() < runs[0.0][-8:].mean() - 0.005


def test_only_the_adapters_train(data, tmp_path):
    base = make_tiny_pipeline(seed=0)
    before = {
        part: {k: v.clone() for k, v in getattr(base, part).state_dict().items()}
        for part in ("unet", "text_encoder", "vae")
    }
    fit_text_to_image(data.captions, data.images, base=base, output_dir=tmp_path,
                      max_train_steps=3, **LORA)  # fmt: skip
    for part, tensors in before.items():  # the base object is never changed
        after = getattr(base, part).state_dict()
        assert after.keys() == tensors.keys()
        for name, value in tensors.items():
            assert torch.equal(after[name], value), (part, name)
    state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
    assert state["method"] == "lora" and state["ema"] is None
    trainable = state["trainable"]
    assert trainable and all(".lora_A." in k or ".lora_B." in k for k in trainable)
    assert all(k.startswith("unet.") for k in trainable)  # text encoder frozen by default
    n_optimised = sum(len(g["params"]) for g in state["optimizer"]["param_groups"])
    assert n_optimised == len(trainable)


def test_adapter_is_small_and_in_diffusers_format(adapter, base_dir):
    out, _ = adapter
    tensors = load_file(str(out / WEIGHTS))
    assert all(k.startswith("unet.") and "lora" in k for k in tensors)
    # rank 4 on every attention projection: r * (in + out) parameters each
    unet = make_tiny_pipeline(seed=0).unet
    targets = ("to_q", "to_k", "to_v", "to_out.0")
    expected = sum(
        4 * (m.in_features + m.out_features)
        for name, m in unet.named_modules()
        if name.endswith(targets)
    )
    assert sum(t.numel() for t in tensors.values()) == expected
    unet_file = base_dir / "unet" / "diffusion_pytorch_model.safetensors"
    assert os.path.getsize(out / WEIGHTS) < 0.15 * os.path.getsize(unet_file)


@pytest.mark.slow
def test_plain_diffusers_loads_the_adapter(adapter, base_dir):
    out, gen = adapter
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(base_dir, local_files_only=True)
    pipe.load_lora_weights(str(out))
    pipe.set_progress_bar_config(disable=True)
    generators = [torch.Generator("cpu").manual_seed(s) for s in SEEDS[:2]]
    plain = pipe(CAPTIONS[:2], generator=generators, num_inference_steps=2,
                 output_type="np").images  # fmt: skip
    ours = gen.set_params(num_inference_steps=2).generate(CAPTIONS[:2], SEEDS[:2])
    np.testing.assert_allclose(ours, plain, atol=1e-5)


def test_lora_alpha_travels_with_the_adapter(data, base_dir, tmp_path):
    fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=tmp_path,
                      max_train_steps=1, lora_rank=2, lora_alpha=8,
                      target_modules=["to_q", "to_v"], **LORA)  # fmt: skip
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(base_dir, local_files_only=True)
    pipe.load_lora_weights(str(tmp_path), adapter_name="a")
    config = pipe.unet.peft_config["a"]
    assert config.r == 2 and config.lora_alpha == 8
    assert set(config.target_modules) == {"to_q", "to_v"}


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(data, base_dir, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    kwargs = dict(base=str(base_dir), checkpoint_every=2, snr_gamma=5.0,
                  gradient_accumulation_steps=2, **LORA)  # fmt: skip
    fit_text_to_image(data.captions, data.images, output_dir=whole, max_train_steps=6, **kwargs)
    fit_text_to_image(data.captions, data.images, output_dir=parts, max_train_steps=3, **kwargs)
    state = torch.load(parts / "checkpoint" / "state.pt", weights_only=True)
    assert state["step"] == 3
    fit_text_to_image(data.captions, data.images, output_dir=parts, max_train_steps=6, **kwargs)
    assert len(_losses(whole)) == 6  # one entry per optimiser step, not per batch
    np.testing.assert_allclose(_losses(parts), _losses(whole), rtol=1e-5)
    a, b = load_file(str(whole / WEIGHTS)), load_file(str(parts / WEIGHTS))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_pixel_pipeline_base_and_memory_options(tmp_path):
    # Our own pixel-space pipeline as the base, images at another size (resized
    # to the base's 32 px), and the memory options that run on a CPU.
    small = make_shapes_dataset(16, random_state=0)
    base = tmp_path / "pixel"
    fit_text_to_image(small.captions, small.images, output_dir=base, max_train_steps=1,
                      model_size="tiny", batch_size=2, verbose=0)  # fmt: skip
    big = make_shapes_dataset(16, image_size=48, random_state=1)
    out = tmp_path / "lora"
    gen = fit_text_to_image(
        big.captions, big.images, base=str(base), output_dir=out, max_train_steps=3,
        gradient_checkpointing=True, snr_gamma=5.0, mixed_precision="bf16", noise_offset=0.05,
        **LORA,
    )  # fmt: skip
    tensors = load_file(str(out / WEIGHTS))
    assert tensors and all(k.startswith("unet.") for k in tensors)
    assert all(t.dtype == torch.float32 for t in tensors.values())  # trained in float32
    assert json.loads((out / "lora_training.json").read_text())["resolution"] == 32
    assert gen.num_inference_steps == 10  # the pixel pipeline's sampling defaults
    gen.set_params(num_inference_steps=2)
    images = gen.generate(CAPTIONS, SEEDS)
    assert images.shape == (4, 32, 32, 3)
    plain = DiffusersGenerator(str(base), num_inference_steps=2, guidance_scale=5.0,
                               local_files_only=True).generate(CAPTIONS, SEEDS)  # fmt: skip
    assert np.abs(images - plain).max() > 1e-3
    pipe = PixelDiffusionPipeline.from_pretrained(base)
    pipe.load_lora_weights(str(out))  # diffusers' loader works on our pipeline
    assert set(pipe.get_list_adapters()) == {"unet"}


@pytest.mark.slow
def test_full_fine_tune_with_mixed_precision_and_resizing(base_dir, tmp_path):
    # method="full" as before, with images of another size and bf16 autocast:
    # the UNet trains in float32, the frozen VAE and text encoder are saved exact.
    big = make_shapes_dataset(16, image_size=48, random_state=1)
    gen = fit_text_to_image(big.captions, big.images, base=str(base_dir), output_dir=tmp_path,
                            max_train_steps=2, batch_size=2, learning_rate=1e-3,
                            lr_warmup_steps=0, mixed_precision="bf16", verbose=0)  # fmt: skip
    assert gen.lora is None and gen.model == str(tmp_path)
    for part in ("vae", "text_encoder", "unet"):
        before = load_file(str(next((base_dir / part).glob("*.safetensors"))))
        after = load_file(str(next((tmp_path / part).glob("*.safetensors"))))
        assert all(t.dtype == torch.float32 for t in after.values())
        same = all(torch.equal(before[k], after[k]) for k in before)
        assert same == (part != "unet"), part
    assert gen.set_params(num_inference_steps=2).generate(["red circle"], [0]).shape == (
        1, 32, 32, 3,
    )  # fmt: skip


TEXT_ENCODER_LORA_PROBLEM = text_encoder_lora_problem()


@pytest.mark.slow
@pytest.mark.skipif(TEXT_ENCODER_LORA_PROBLEM is not None, reason=str(TEXT_ENCODER_LORA_PROBLEM))
def test_text_encoder_lora(data, base_dir, tmp_path):
    gen = fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=tmp_path,
                            max_train_steps=3, train_text_encoder=True, **LORA)  # fmt: skip
    tensors = load_file(str(tmp_path / WEIGHTS))
    assert any(k.startswith("text_encoder.") for k in tensors)
    assert any(k.startswith("unet.") for k in tensors)
    images = gen.set_params(num_inference_steps=2).generate(CAPTIONS, SEEDS)
    base_images = make_gen(base_dir).generate(CAPTIONS, SEEDS)
    assert np.abs(images - base_images).max() > 1e-3


@pytest.mark.skipif(TEXT_ENCODER_LORA_PROBLEM is None, reason="text-encoder adapters work here")
def test_text_encoder_lora_needs_a_matching_peft(data, base_dir, tmp_path):
    # transformers 5.x wants peft>=0.22 for text-encoder adapters: say so at once.
    with pytest.raises(ImportError, match="peft>=0.22"):
        fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=tmp_path,
                          max_train_steps=1, train_text_encoder=True, **LORA)  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(method="lora"), ValueError, "base="),
        (dict(method="dreambooth"), ValueError, "method"),
        (dict(method="lora", base="x", mixed_precision="fp16", device="cpu"), ValueError,
         "CUDA"),
        (dict(method="lora", base="x", use_8bit_adam=True, device="cpu"), ValueError, "CUDA"),
        (dict(method="lora", base="x", mixed_precision="fp8"), ValueError, "mixed_precision"),
        (dict(method="lora", base="x", lora_rank=0), ValueError, "lora_rank"),
        (dict(method="lora", base="x", target_modules="to_q"), TypeError, "target_modules"),
        (dict(method="lora", base="x", snr_gamma=-1.0), ValueError, "snr_gamma"),
        (dict(method="lora", base="x", gradient_accumulation_steps=0), ValueError,
         "gradient_accumulation_steps"),
        (dict(method="lora", base="x", noise_offset=-0.1), ValueError, "noise_offset"),
    ],
)  # fmt: skip
def test_bad_training_options_fail_before_loading(data, tmp_path, kwargs, error, match):
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        fit_text_to_image(data.captions, data.images, output_dir=out, max_train_steps=1,
                          **kwargs)  # fmt: skip
    assert not out.exists()  # nothing written


def test_bad_training_state_is_reported(data, base_dir, adapter, tmp_path):
    with pytest.raises(ValueError, match="match no layer"):
        fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=tmp_path,
                          max_train_steps=1, target_modules=["to_nothing"], **LORA)  # fmt: skip
    out, _ = adapter
    with pytest.raises(ValueError, match="method='lora'"):  # a LoRA checkpoint, resumed as full
        fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=out,
                          max_train_steps=13, method="full", verbose=0)  # fmt: skip
    with pytest.raises(ValueError, match="do not match"):
        fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=out,
                          max_train_steps=13, **{**LORA, "lora_rank": 2})  # fmt: skip


# ----------------------------------------------------------------------
# DiffusersGenerator with adapters
# ----------------------------------------------------------------------
def test_adapter_images_differ_from_base_and_survive_reload(adapter, base_dir):
    out, _ = adapter
    base_images = make_gen(base_dir).generate(CAPTIONS, SEEDS)
    tuned = make_gen(base_dir, lora=out).generate(CAPTIONS, SEEDS)
    assert np.abs(tuned - base_images).max() > 1e-2
    clear_pipeline_cache()  # as a new process would: load base and adapter again
    reloaded = make_gen(base_dir, lora=str(out / WEIGHTS)).generate(CAPTIONS, SEEDS)
    np.testing.assert_array_equal(reloaded, tuned)
    one_by_one = make_gen(base_dir, lora=out, batch_size=1).generate(CAPTIONS, SEEDS)
    np.testing.assert_allclose(one_by_one, tuned, atol=1e-4)


def test_adapter_with_a_few_step_scheduler(adapter, base_dir):
    """LCM-LoRA's recipe: an adapter, LCMScheduler, 4 steps and guidance 1."""
    out, _ = adapter
    few = dict(scheduler="LCMScheduler", num_inference_steps=4, guidance_scale=1.0)
    gen = make_gen(base_dir, lora=out, **few)
    batches = []
    hook = gen._pipeline().unet.register_forward_hook(
        lambda module, args, kwargs, output: batches.append(
            len(args[0] if args else kwargs["sample"])
        ),
        with_kwargs=True,
    )
    try:
        tuned = gen.generate(CAPTIONS, SEEDS)
    finally:
        hook.remove()
    assert batches == [len(CAPTIONS)] * 4  # 4 steps, no unconditional pass
    base_images = make_gen(base_dir, **few).generate(CAPTIONS, SEEDS)
    assert np.abs(tuned - base_images).max() > 1e-2  # the adapter acts under LCM sampling
    off = make_gen(base_dir, lora=out, lora_scale=0.0, **few).generate(CAPTIONS, SEEDS)
    np.testing.assert_allclose(off, base_images, atol=1e-5)
    # the swap lasts for the call only: the loaded pipeline keeps its own scheduler
    assert not isinstance(gen._pipeline().scheduler, diffusers.LCMScheduler)
    prints = {make_gen(base_dir, lora=out).fingerprint, gen.fingerprint,
              make_gen(base_dir, **few).fingerprint}  # fmt: skip
    assert len(prints) == 3


def test_scale_and_fusing(adapter, base_dir):
    out, _ = adapter
    base_images = make_gen(base_dir).generate(CAPTIONS, SEEDS)
    full = make_gen(base_dir, lora=out).generate(CAPTIONS, SEEDS)
    off = make_gen(base_dir, lora=out, lora_scale=0.0).generate(CAPTIONS, SEEDS)
    np.testing.assert_allclose(off, base_images, atol=1e-5)
    half = make_gen(base_dir, lora=out, lora_scale=0.5).generate(CAPTIONS, SEEDS)
    assert 1e-4 < np.abs(half - base_images).max() < np.abs(full - base_images).max()
    fused = make_gen(base_dir, lora=out, fuse_lora=True)
    np.testing.assert_allclose(fused.generate(CAPTIONS, SEEDS), full, atol=1e-4)
    pipe = fused._pipeline()
    assert not pipe.get_list_adapters()  # fused and unloaded: no LoRA layers left
    fused_half = make_gen(base_dir, lora=out, lora_scale=0.5, fuse_lora=True)
    np.testing.assert_allclose(fused_half.generate(CAPTIONS, SEEDS), half, atol=1e-4)


def test_fingerprint_follows_adapter_scale_and_fusing(adapter, base_dir, data, tmp_path):
    out, _ = adapter
    other = tmp_path / "other"
    fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=other,
                      max_train_steps=1, seed=1, **LORA)  # fmt: skip
    prints = {
        "base": make_gen(base_dir).fingerprint,
        "lora": make_gen(base_dir, lora=out).fingerprint,
        "scale": make_gen(base_dir, lora=out, lora_scale=0.5).fingerprint,
        "fused": make_gen(base_dir, lora=out, fuse_lora=True).fingerprint,
        "other": make_gen(base_dir, lora=other).fingerprint,
        "both": make_gen(base_dir, lora=[out, other]).fingerprint,
        "both, reordered": make_gen(base_dir, lora=[other, out]).fingerprint,
    }
    assert len(set(prints.values())) == len(prints), prints
    # The file's content decides, not how it is named.
    assert make_gen(base_dir, lora=out / WEIGHTS).fingerprint == prints["lora"]
    assert make_gen(base_dir, lora=out, lora_scale=[1.0]).fingerprint == prints["lora"]
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "adapter.safetensors").write_bytes((out / WEIGHTS).read_bytes())
    assert make_gen(base_dir, lora=copy).fingerprint == prints["lora"]
    # Retraining the adapter in place changes it.
    before = make_gen(base_dir, lora=other).fingerprint
    fit_text_to_image(data.captions, data.images, base=str(base_dir), output_dir=other,
                      max_train_steps=2, seed=1, **LORA)  # fmt: skip
    assert make_gen(base_dir, lora=other).fingerprint != before


@pytest.mark.slow
def test_fingerprint_with_adapter_needs_no_torch(adapter, base_dir):
    out, _ = adapter
    expected = make_gen(base_dir, lora=out, lora_scale=0.7).fingerprint
    code = textwrap.dedent(
        f"""
        import sys
        from sklearn_depict import DiffusersGenerator
        gen = DiffusersGenerator({str(base_dir)!r}, num_inference_steps=2,
                                 local_files_only=True, lora={str(out)!r}, lora_scale=0.7)
        print(gen.fingerprint)
        assert "torch" not in sys.modules
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)  # fmt: skip
    assert result.stdout.strip() == expected


def test_clone_and_pickle_carry_paths(adapter, base_dir):
    out, _ = adapter
    gen = make_gen(base_dir, lora=[out], lora_scale=[0.5])
    images = gen.generate(CAPTIONS[:2], SEEDS[:2])
    cloned = clone(gen)
    assert cloned.lora == [out] and cloned.lora_scale == [0.5]
    assert cloned.fingerprint == gen.fingerprint
    payload = pickle.dumps(gen)
    assert len(payload) < 50_000  # paths, not weights
    clear_pipeline_cache()
    restored = pickle.loads(payload)
    np.testing.assert_allclose(restored.generate(CAPTIONS[:2], SEEDS[:2]), images, atol=1e-6)


def test_pipeline_object_gets_the_adapter_only_inside_calls(adapter, base_dir):
    out, _ = adapter
    pipe = make_tiny_pipeline(seed=0)
    plain = make_gen(pipe)
    base_print = plain.fingerprint
    base_images = plain.generate(CAPTIONS, SEEDS)
    tuned = make_gen(pipe, lora=out)
    images = tuned.generate(CAPTIONS, SEEDS)
    np.testing.assert_allclose(images, make_gen(base_dir, lora=out).generate(CAPTIONS, SEEDS),
                               atol=1e-5)  # fmt: skip
    # The shared object still draws the base model's images for everyone else,
    # and its own fingerprint did not move when the adapter was loaded into it.
    np.testing.assert_array_equal(plain.generate(CAPTIONS, SEEDS), base_images)
    assert plain.fingerprint == base_print
    assert tuned.fingerprint != base_print
    with pytest.raises(ValueError, match="fuse_lora=True would change"):
        make_gen(pipe, lora=out, fuse_lora=True).fingerprint  # noqa: B018
    own = make_tiny_pipeline(seed=0)
    own.load_lora_weights(str(out), adapter_name="mine")
    with pytest.raises(ValueError, match="already holds LoRA adapters"):
        make_gen(own, lora=out).generate(["a"], [0])


def test_cache_never_serves_base_images_for_the_adapter(adapter, base_dir, tmp_path):
    out, _ = adapter
    table = pd.DataFrame({"red circle": [1, 0, 1, 0], "blue square": [0, 1, 1, 0]})
    cache = ImageCache(tmp_path / "cache")
    base_images = CaptionToImage(make_gen(base_dir), cache=cache).transform(table)
    assert cache.generated == 4
    for i, params in enumerate(
        [dict(lora=out), dict(lora=out, lora_scale=0.5), dict(lora=out, fuse_lora=True)]
    ):
        images = CaptionToImage(make_gen(base_dir, **params), cache=cache).transform(table)
        assert cache.generated == 4 * (i + 2)  # a new model: every image made anew
        assert np.abs(images - base_images).max() > 1e-3
    again = CaptionToImage(make_gen(base_dir, lora=out), cache=cache).transform(table)
    assert cache.generated == 16 and cache.hits >= 4
    assert np.abs(again - base_images).max() > 1e-2


@pytest.mark.parametrize(
    "make_params, error, match",
    [
        (lambda d: dict(lora=d / "missing"), FileNotFoundError, "neither a folder nor a file"),
        (lambda d: dict(lora=d), FileNotFoundError, "holds no pytorch_lora_weights"),
        (lambda d: dict(lora=d / "adapter.bin"), ValueError, "not a .safetensors file"),
        (lambda d: dict(lora=d / "unet.safetensors"), ValueError, "does not hold LoRA"),
        (lambda d: dict(lora=d / "junk.safetensors"), ValueError, "not a readable safetensors"),
        (lambda d: dict(lora=[]), ValueError, "empty list"),
        (lambda d: dict(lora=3), TypeError, "lora must be"),
        (lambda d: dict(lora=[d / "ok", d / "ok"]), ValueError, "twice"),
        (lambda d: dict(lora=d / "ok", lora_scale=[1.0, 2.0]), ValueError, "2 scales for 1"),
        (lambda d: dict(lora=d / "ok", lora_scale=float("nan")), ValueError, "finite"),
        (lambda d: dict(lora=d / "ok", lora_scale="1"), ValueError, "lora_scale"),
        (lambda d: dict(lora_scale=True), ValueError, "lora_scale"),
        (lambda d: dict(fuse_lora=True), ValueError, "needs adapters"),
        (lambda d: dict(lora=d / "ok", fuse_lora="yes"), TypeError, "fuse_lora"),
    ],
)
def test_bad_lora_parameters_fail_before_any_image(
    adapter, base_dir, tmp_path, make_params, error, match
):
    out, _ = adapter
    (tmp_path / "adapter.bin").write_bytes(b"\0" * 16)
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 16)
    (tmp_path / "unet.safetensors").write_bytes(
        (base_dir / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    )
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / WEIGHTS).write_bytes((out / WEIGHTS).read_bytes())
    gen = make_gen(base_dir, **make_params(tmp_path))
    with pytest.raises(error, match=match):
        gen.fingerprint  # noqa: B018
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(error, match=match):
        CaptionToImage(gen, cache=cache).transform(pd.DataFrame({"red circle": [1, 0]}))
    written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cache.generated == 0 and not written


# ----------------------------------------------------------------------
# On a GPU (skipped without CUDA)
# ----------------------------------------------------------------------
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_cuda
def test_cuda_lora_training_in_fp16(data, base_dir, tmp_path):
    gen = fit_text_to_image(
        data.captions, data.images, base=str(base_dir), output_dir=tmp_path, max_train_steps=6,
        mixed_precision="fp16", gradient_checkpointing=True, snr_gamma=5.0, device="cuda",
        **LORA,
    )  # fmt: skip
    losses = _losses(tmp_path)
    assert len(losses) == 6 and np.isfinite(losses).all()
    tensors = load_file(str(tmp_path / WEIGHTS))
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in tensors.values())
    state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
    assert state["scaler"]["scale"] > 0  # fp16 gradients were scaled
    gen.set_params(num_inference_steps=2, device="cuda")
    images = gen.generate(CAPTIONS, SEEDS)
    assert images.shape == (4, 32, 32, 3) and np.isfinite(images).all()
    base_images = make_gen(base_dir, device="cuda").generate(CAPTIONS, SEEDS)
    assert np.abs(images - base_images).max() > 1e-3


@pytest.mark.gpu
@needs_cuda
def test_cuda_generation_with_adapter_is_batch_invariant(adapter, base_dir):
    out, _ = adapter
    cpu = make_gen(base_dir, lora=out).generate(CAPTIONS, SEEDS)
    # TF32 convolutions (cuDNN's default) pick kernels by batch size; without
    # them a pair's image does not depend on its batch, as on the CPU.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        batched = make_gen(base_dir, lora=out, device="cuda", batch_size=4)
        images = batched.generate(CAPTIONS, SEEDS)
        assert batched._pipeline().device.type == "cuda"
        single = make_gen(base_dir, lora=out, device="cuda", batch_size=1)
        np.testing.assert_allclose(single.generate(CAPTIONS, SEEDS), images, atol=1e-4)
        fused = make_gen(base_dir, lora=out, device="cuda", fuse_lora=True)
        np.testing.assert_allclose(fused.generate(CAPTIONS, SEEDS), images, atol=1e-3)
    assert np.abs(images - cpu).mean() < 2e-2
    half = make_gen(base_dir, lora=out, device="cuda", torch_dtype="float16")
    assert np.isfinite(half.generate(CAPTIONS, SEEDS)).all()
    assert batched.fingerprint == make_gen(base_dir, lora=out).fingerprint  # device-free


# --- docs/fine_tune.rst: the LoRA example as written, on a CPU ---------------------------
FINE_TUNE_PAGE = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "fine_tune.rst")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")


def _lora_examples():
    """The python blocks of the page's LoRA section: the CPU example, the GPU variant."""
    with open(FINE_TUNE_PAGE, encoding="utf-8") as handle:
        page = handle.read()
    section = page.split("Fine-tune Stable Diffusion with LoRA\n", 1)[1].split("\n----", 1)[0]
    blocks = []
    for part in section.split(".. code-block:: python\n")[1:]:
        lines = []
        for line in part.splitlines()[1:]:  # the blank line after the directive
            if line and not line.startswith("   "):
                break
            lines.append(line)
        blocks.append(textwrap.dedent("\n".join(lines)))
    return blocks


def _runnable_here(code, base):
    """The example with a tiny local base and two steps instead of a hub id and 15,000."""
    code, n_base = re.subn(r'base="stable-diffusion-v1-5/stable-diffusion-v1-5"',
                           f"base={str(base)!r}", code)  # fmt: skip
    code, n_steps = re.subn(r"max_train_steps=15_000", "max_train_steps=2", code)
    assert (n_base, n_steps) == (1, 1), "the example no longer reads as this test expects"
    return code


def test_the_fine_tune_page_lora_example_runs_on_a_cpu(data, base_dir, tmp_path, monkeypatch):
    cpu_example = _lora_examples()[0]
    assert "device=\"auto\"" in cpu_example and "fp16" not in cpu_example
    monkeypatch.chdir(tmp_path)
    namespace = {"captions": data.captions[:8], "images": data.images[:8]}
    exec(_runnable_here(cpu_example, base_dir), namespace)
    generator, images = namespace["generator"], namespace["images"]
    assert images.shape == (1, 32, 32, 3) and np.isfinite(images).all()
    assert generator.fuse_lora and generator.lora is not None
    assert (tmp_path / "my-domain-lora" / WEIGHTS).is_file()
    assert len(_losses(tmp_path / "my-domain-lora")) == 2


@no_cuda
def test_the_gpu_variant_names_device_on_a_machine_without_cuda(data, base_dir, tmp_path,
                                                                 monkeypatch):
    gpu_example = _lora_examples()[1]
    assert 'device="cuda", mixed_precision="fp16"' in gpu_example
    monkeypatch.chdir(tmp_path)
    # The variant continues the CPU example, whose import it does not repeat.
    namespace = {"captions": data.captions[:8], "images": data.images[:8],
                 "fit_text_to_image": fit_text_to_image}
    with pytest.raises(ValueError, match=r"fit_text_to_image\(device='cuda'\).*no CUDA"):
        exec(_runnable_here(gpu_example, base_dir), namespace)
    assert not (tmp_path / "my-domain-lora").exists()  # raised before anything was written


@no_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_fit_text_to_image_names_an_unusable_device(data, tmp_path, device):
    with pytest.raises(ValueError, match=r"device=.*cuda.*device='auto'"):
        fit_text_to_image(data.captions, data.images, base=make_tiny_pipeline(), method="lora",
                          output_dir=tmp_path / "out", max_train_steps=1, device=device)
    assert not (tmp_path / "out").exists()


def test_fit_text_to_image_auto_device(data, tmp_path):
    with pytest.raises(ValueError, match=r"device='gpu'\): not a device torch knows"):
        fit_text_to_image(data.captions, data.images, output_dir=tmp_path / "bad",
                          max_train_steps=1, device="gpu")
    gen = fit_text_to_image(data.captions[:8], data.images[:8], base=make_tiny_pipeline(),
                            method="lora", output_dir=tmp_path / "out", max_train_steps=1,
                            batch_size=2, device="auto", verbose=0)
    assert gen.generate(["red circle"], [0]).shape == (1, 32, 32, 3)
