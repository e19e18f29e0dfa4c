"""Tests of DiffusersGenerator on a tiny random-weight Stable Diffusion pipeline.

Everything runs offline: the pipeline is built in code (see
``make_tiny_pipeline``), saved with ``save_pretrained`` to a temporary folder and
loaded back with ``local_files_only=True``; nothing is fetched from a hub.
"""

from __future__ import annotations

import os

# Read by huggingface_hub when it is imported, so set before the imports below.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import copy  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from sklearn.base import clone  # noqa: E402
from sklearn.inspection import permutation_importance  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

import sklearn_depict  # noqa: E402
from sklearn_depict import CaptionToImage, ImageCache, depict_importance  # noqa: E402
from sklearn_depict.generators.diffusers import (  # noqa: E402
    DiffusersGenerator,
    clear_pipeline_cache,
    make_tiny_pipeline,
)

# diffusers' schedulers call np.array(tensor, copy=False) under numpy 2.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# CPU runs with 2 threads on 2 cores sometimes stall.
torch.set_num_threads(1)

CAPTIONS = ["a red circle", "blue square", "green triangle, red circle", "a photo of a dog", ""]
SEEDS = [3, 1, 4, 15, 9]
# Diffusers' own convention: one torch.Generator per image makes an image
# independent of its batch up to ~1e-6 (different BLAS blockings), not exactly.
BATCH_ATOL = 1e-4


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dir(tiny_sd_dir):
    return tiny_sd_dir


@pytest.fixture(scope="session")
def perturbed_dir(tiny_dir, tmp_path_factory):
    """The same pipeline with one UNet weight changed a little."""
    folder = tmp_path_factory.mktemp("tiny-sd-perturbed")
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        tiny_dir, local_files_only=True, use_safetensors=True
    )
    with torch.no_grad():
        pipe.unet.conv_in.weight.add_(0.05)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_pipe():
    """An in-memory pipeline with the same weights as ``tiny_dir``."""
    return make_tiny_pipeline(seed=0)


def make_gen(model, **params):
    params = {"num_inference_steps": 2, "local_files_only": True, **params}
    return DiffusersGenerator(model, **params)


def concept_table(n=8):
    rng = np.random.RandomState(0)
    return pd.DataFrame({"red circle": rng.randint(0, 2, n), "blue square": rng.randint(0, 2, n)})


# ----------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------
def test_shapes_dtype_and_range(tiny_dir):
    images = make_gen(tiny_dir).generate(CAPTIONS, SEEDS)
    assert images.shape == (5, 32, 32, 3)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert np.isfinite(images).all()
    # distinct pairs give distinct images
    assert np.abs(images[0] - images[1]).max() > 1e-3


def test_generate_accepts_numpy_seeds_and_empty_input(tiny_dir):
    gen = make_gen(tiny_dir)
    a = gen.generate(["a red circle"], np.array([7], dtype=np.int64))
    b = gen.generate(["a red circle"], [7])
    np.testing.assert_allclose(a, b, atol=BATCH_ATOL)
    assert gen.generate([], []).shape[0] == 0


def test_same_pair_same_image_within_a_call(tiny_dir):
    images = make_gen(tiny_dir, batch_size=3).generate(["a red circle"] * 4, [5] * 4)
    for image in images[1:]:
        np.testing.assert_allclose(image, images[0], atol=BATCH_ATOL)


def test_caption_and_seed_both_matter(tiny_dir):
    gen = make_gen(tiny_dir)
    base, other_seed = gen.generate(["a red circle", "a red circle"], [0, 1])
    (other_caption,) = gen.generate(["a blue square"], [0])
    assert np.abs(base - other_seed).max() > 1e-3
    assert np.abs(base - other_caption).max() > 1e-4


def test_batch_invariance(tiny_dir):
    one_by_one = make_gen(tiny_dir, batch_size=1).generate(CAPTIONS, SEEDS)
    batched = make_gen(tiny_dir, batch_size=4).generate(CAPTIONS, SEEDS)
    np.testing.assert_allclose(batched, one_by_one, atol=BATCH_ATOL)
    # different neighbours and positions: reversed order, plus strangers
    order = list(reversed(range(len(CAPTIONS))))
    shuffled = make_gen(tiny_dir, batch_size=4).generate(
        ["a cat", *[CAPTIONS[i] for i in order], "a chair"],
        [99, *[SEEDS[i] for i in order], 98],
    )
    np.testing.assert_allclose(shuffled[1:-1], one_by_one[order], atol=BATCH_ATOL)


def test_reproducible_across_two_loads(tiny_dir):
    clear_pipeline_cache()
    first = make_gen(tiny_dir)
    a = first.generate(CAPTIONS[:3], SEEDS[:3])
    clear_pipeline_cache()
    second = make_gen(tiny_dir)
    b = second.generate(CAPTIONS[:3], SEEDS[:3])
    assert first._pipeline() is not second._pipeline()  # two separate loads
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_in_memory_pipeline_matches_saved_folder(tiny_dir, tiny_pipe):
    from_folder = make_gen(tiny_dir).generate(CAPTIONS[:3], SEEDS[:3])
    in_memory = make_gen(tiny_pipe).generate(CAPTIONS[:3], SEEDS[:3])
    np.testing.assert_allclose(in_memory, from_folder, atol=1e-5)


def test_settings_reach_the_pipeline(tiny_dir):
    gen = make_gen(tiny_dir, height=48, width=16)
    assert gen.generate(["a red circle"], [0]).shape == (1, 48, 16, 3)
    plain = make_gen(tiny_dir).generate(["a red circle"], [0])
    more_steps = make_gen(tiny_dir, num_inference_steps=3).generate(["a red circle"], [0])
    negative = make_gen(tiny_dir, negative_prompt="blue").generate(["a red circle"], [0])
    no_guidance = make_gen(tiny_dir, guidance_scale=1.0).generate(["a red circle"], [0])
    for other in (more_steps, negative, no_guidance):
        assert np.abs(other - plain).max() > 1e-5


def test_scheduler_by_name_and_by_object(tiny_dir, tiny_pipe):
    plain = make_gen(tiny_dir).generate(["a red circle"], [0])
    by_name = make_gen(tiny_dir, scheduler="DPMSolverMultistepScheduler")
    assert np.abs(by_name.generate(["a red circle"], [0]) - plain).max() > 1e-5

    template = diffusers.EulerDiscreteScheduler.from_config(tiny_pipe.scheduler.config)
    original = tiny_pipe.scheduler
    by_object = make_gen(tiny_pipe, scheduler=template)
    by_object.generate(["a red circle"], [0])
    assert tiny_pipe.scheduler is original  # the user's pipeline is put back
    assert template.num_inference_steps is None  # the template is never stepped
    assert by_object.fingerprint != make_gen(tiny_pipe).fingerprint

    with pytest.raises(ValueError, match="no scheduler class named"):
        make_gen(tiny_dir, scheduler="NoSuchScheduler").generate(["a"], [0])


def unet_batches(unet):
    """Count the real UNet's forward calls: the batch size each one saw, in order."""
    batches = []

    def record(module, args, kwargs, output):
        batches.append(len(args[0] if args else kwargs["sample"]))

    return batches, unet.register_forward_hook(record, with_kwargs=True)


def test_few_step_lcm_sampling_skips_the_unconditional_pass(tiny_pipe):
    """The route of LCM-LoRA and turbo models: one UNet call per step, no guidance pass."""
    batches, hook = unet_batches(tiny_pipe.unet)
    try:
        few = make_gen(
            tiny_pipe, scheduler="LCMScheduler", num_inference_steps=4, guidance_scale=1.0,
            batch_size=len(CAPTIONS),
        )  # fmt: skip
        images = few.generate(CAPTIONS, SEEDS)
        assert batches == [len(CAPTIONS)] * 4
        batches.clear()
        default = make_gen(tiny_pipe, num_inference_steps=4, batch_size=len(CAPTIONS))
        default.generate(CAPTIONS, SEEDS)
        # guidance 7.5 runs the conditional and unconditional halves in one call
        assert batches == [2 * len(CAPTIONS)] * 4
    finally:
        hook.remove()
    assert images.shape == (len(CAPTIONS), 32, 32, 3) and np.isfinite(images).all()
    assert few.fingerprint != default.fingerprint
    assert few.fingerprint != clone(few).set_params(scheduler=None).fingerprint
    assert few.fingerprint != clone(few).set_params(guidance_scale=7.5).fingerprint


def test_safety_checker_is_off_while_generating(tiny_pipe):
    class BlackOut:
        def __call__(self, *args, **kwargs):
            raise AssertionError("the safety checker must not run")

    checker = BlackOut()
    tiny_pipe.safety_checker = checker
    try:
        images = make_gen(tiny_pipe).generate(["a red circle"], [0])
        assert tiny_pipe.safety_checker is checker
    finally:
        tiny_pipe.safety_checker = None
    assert images.max() > 0


def test_progress_bar_follows_verbose(tiny_dir, capfd):
    clear_pipeline_cache()
    make_gen(tiny_dir, verbose=0).generate(["a red circle"], [0])
    quiet = capfd.readouterr()
    assert "it/s" not in quiet.err and "%|" not in quiet.err
    make_gen(tiny_dir, verbose=1).generate(["a red circle"], [0])
    assert "%|" in capfd.readouterr().err


# ----------------------------------------------------------------------
# Fingerprint
# ----------------------------------------------------------------------
def test_fingerprint_is_stable_and_content_based(tiny_dir, tmp_path):
    fp = make_gen(tiny_dir).fingerprint
    assert isinstance(fp, str) and fp.startswith("DiffusersGenerator-")
    assert make_gen(tiny_dir).fingerprint == fp
    assert make_gen(str(tiny_dir), batch_size=1, verbose=1).fingerprint == fp
    copied = shutil.copytree(tiny_dir, tmp_path / "copy")
    assert make_gen(copied).fingerprint == fp  # same files elsewhere: same images


@pytest.mark.parametrize(
    "change",
    [
        {"num_inference_steps": 3},
        {"guidance_scale": 5.0},
        {"height": 64},
        {"width": 64},
        {"negative_prompt": "blurry"},
        {"torch_dtype": "bfloat16"},
        {"scheduler": "DPMSolverMultistepScheduler"},
        {"pipeline_kwargs": {"eta": 0.5}},
    ],
)
def test_fingerprint_changes_with_settings(tiny_dir, change):
    assert make_gen(tiny_dir, **change).fingerprint != make_gen(tiny_dir).fingerprint


def test_fingerprint_changes_with_weights(tiny_dir, perturbed_dir, tmp_path):
    assert make_gen(perturbed_dir).fingerprint != make_gen(tiny_dir).fingerprint

    # the same folder, rewritten in place: the fingerprint and the loaded
    # pipeline both follow the new weights
    folder = shutil.copytree(tiny_dir, tmp_path / "model")
    gen = make_gen(folder)
    before_fp, before = gen.fingerprint, gen.generate(["a red circle"], [0])
    weights = "unet/diffusion_pytorch_model.safetensors"
    time.sleep(0.01)
    shutil.copyfile(perturbed_dir / weights, folder / weights)
    assert gen.fingerprint != before_fp
    after = gen.generate(["a red circle"], [0])
    assert np.abs(after - before).max() > 1e-5


def test_fingerprint_of_a_hub_cache_snapshot_reads_no_weights(tiny_dir, tmp_path, monkeypatch):
    # The Hugging Face cache keeps files as blobs named by their sha256 (large
    # files) or git hash (small ones), with a snapshot folder of symlinks.
    import hashlib

    from sklearn_depict.generators import _fingerprint as module  # where files are read

    blobs = tmp_path / "blobs"
    snapshot = tmp_path / "snapshots" / "0123abcd"
    blobs.mkdir()
    for source in tiny_dir.rglob("*"):
        if not source.is_file():
            continue
        data = source.read_bytes()
        if source.suffix == ".safetensors":
            name = hashlib.sha256(data).hexdigest()
        else:
            name = hashlib.sha1(data).hexdigest()
        (blobs / name).write_bytes(data)
        link = snapshot / source.relative_to(tiny_dir)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blobs / name)

    expected = make_gen(tiny_dir).fingerprint
    clear_pipeline_cache()
    opened = []
    real_open = open
    monkeypatch.setattr(
        module,
        "open",
        lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k),
        raising=False,
    )
    assert make_gen(snapshot).fingerprint == expected
    assert opened == []  # weights digested from their blob names, JSON via read_bytes


def test_in_memory_fingerprint_follows_the_weights():
    pipe = make_tiny_pipeline(seed=1)
    gen = make_gen(pipe)
    fp = gen.fingerprint
    assert make_gen(pipe).fingerprint == fp
    assert make_gen(make_tiny_pipeline(seed=1)).fingerprint == fp  # same weights
    assert make_gen(make_tiny_pipeline(seed=2)).fingerprint != fp
    assert make_gen(pipe, num_inference_steps=3).fingerprint != fp
    # a middle layer, not only the first or last parameter
    with torch.no_grad():
        pipe.unet.mid_block.resnets[0].conv1.weight.add_(1e-3)
    assert gen.fingerprint != fp


def _pinned_folder(root):
    """A model folder of fixed bytes: its fingerprint depends on nothing else."""
    (root / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.0",
        "unet": ["diffusers", "UNet2DConditionModel"], "safety_checker": [None, None],
    }))  # fmt: skip
    (root / "unet").mkdir()
    (root / "unet" / "config.json").write_text(
        json.dumps({"sample_size": 8, "_name_or_path": "/elsewhere"})
    )
    (root / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not really weights" * 100)
    (root / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"never loaded")
    return root


def test_fingerprint_values_are_those_caches_were_keyed_on(tmp_path, monkeypatch):
    # Values computed by the code before the fingerprint moved to its own
    # module: a change here would orphan every user's cache. The installed
    # diffusers and transformers versions enter the fingerprint; pinned here.
    from sklearn_depict.generators import diffusers as module

    monkeypatch.setattr(module, "package_version", lambda name: f"{name}-pinned")
    folder = str(_pinned_folder(tmp_path))
    assert DiffusersGenerator(folder).fingerprint == (
        "DiffusersGenerator-v1-fe622eb57f9d15eb87846bec666a1f4e"
    )
    gen = DiffusersGenerator(
        folder, num_inference_steps=4, guidance_scale=2, height=16, width=16,
        negative_prompt="x", torch_dtype="fp16", scheduler="DDIMScheduler",
        pipeline_kwargs={"eta": 0.5},
    )  # fmt: skip
    assert gen.fingerprint == "DiffusersGenerator-v1-7e15b54d6e666ed97474c138c14ec9a9"


def test_fingerprint_is_hashed_once_then_kept_until_something_changes(tiny_dir, monkeypatch):
    from sklearn_depict.generators import diffusers as module

    hashed = []
    real_folder, real_pipeline = module.folder_digests, module.pipeline_digest
    monkeypatch.setattr(module, "folder_digests", lambda f: hashed.append(f) or real_folder(f))
    monkeypatch.setattr(module, "pipeline_digest", lambda p: hashed.append(p) or real_pipeline(p))

    gen = make_gen(tiny_dir)
    first = gen.fingerprint
    assert [gen.fingerprint for _ in range(3)] == [first] * 3
    assert len(hashed) == 1
    gen.set_params(num_inference_steps=3)
    assert gen.fingerprint != first and len(hashed) == 2
    gen.set_params(num_inference_steps=2)
    assert gen.fingerprint == first and len(hashed) == 3

    pipe = make_tiny_pipeline(seed=0)
    gen = make_gen(pipe)
    first = gen.fingerprint
    assert gen.fingerprint == first and len(hashed) == 4
    with torch.no_grad():
        pipe.unet.conv_in.bias.add_(1e-3)
    assert gen.fingerprint != first and len(hashed) == 5
    pipe.tokenizer.add_tokens(["zebra"])  # changes the tokenizer's description
    assert len(hashed) == 5 and gen.fingerprint and len(hashed) == 6


def test_fingerprint_of_a_folder_does_not_import_torch(tiny_dir):
    expected = make_gen(tiny_dir).fingerprint
    code = textwrap.dedent(
        f"""
        import sys
        from sklearn_depict import DiffusersGenerator
        gen = DiffusersGenerator({str(tiny_dir)!r}, num_inference_steps=2,
                                 local_files_only=True)
        print(gen.fingerprint)
        assert "torch" not in sys.modules, "torch was imported"
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == expected


# ----------------------------------------------------------------------
# Estimator hygiene
# ----------------------------------------------------------------------
def test_lazy_export_and_cheap_import():
    assert sklearn_depict.DiffusersGenerator is DiffusersGenerator
    code = (
        "import sys, sklearn_depict\n"
        "from sklearn_depict import DiffusersGenerator\n"
        "g = DiffusersGenerator('org/model', num_inference_steps=4)\n"
        "from sklearn.base import clone\n"
        "clone(g).get_params()\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_get_params_and_set_params(tiny_dir):
    gen = make_gen(tiny_dir)
    params = gen.get_params()
    assert params["model"] == tiny_dir and params["num_inference_steps"] == 2
    gen.set_params(num_inference_steps=3)
    assert gen.num_inference_steps == 3
    assert "DiffusersGenerator(" in repr(gen)


def test_clone_shares_the_pipeline_and_never_deep_copies(tiny_pipe, monkeypatch):
    def refuse(memo=None):
        raise AssertionError("the pipeline was deep-copied")

    monkeypatch.setattr(tiny_pipe, "__deepcopy__", refuse, raising=False)
    gen = make_gen(tiny_pipe, pipeline_kwargs={"eta": 0.0})
    start = time.perf_counter()
    cloned = clone(gen)
    nested = clone(CaptionToImage(gen))
    assert time.perf_counter() - start < 0.5
    assert cloned.model is tiny_pipe and nested.generator.model is tiny_pipe
    assert cloned.get_params()["pipeline_kwargs"] == {"eta": 0.0}
    assert cloned.pipeline_kwargs is not gen.pipeline_kwargs  # small params are copied
    assert gen.get_params()["model"] is tiny_pipe
    assert "model=<StableDiffusionPipeline>" in repr(gen)  # not the whole config


def test_clone_of_a_loaded_folder_reuses_the_loaded_pipeline(tiny_dir):
    gen = make_gen(tiny_dir)
    gen.generate(["a"], [0])
    assert clone(gen)._pipeline() is gen._pipeline()


def test_pickle_carries_the_path_and_reloads_once(tiny_dir, monkeypatch):
    clear_pipeline_cache()
    gen = make_gen(tiny_dir)
    images = gen.generate(CAPTIONS[:2], SEEDS[:2])
    payload = pickle.dumps(gen)
    assert len(payload) < 50_000  # the weights stay behind

    loads = []
    original = diffusers.AutoPipelineForText2Image.from_pretrained
    monkeypatch.setattr(
        diffusers.AutoPipelineForText2Image,
        "from_pretrained",
        lambda *a, **k: loads.append(1) or original(*a, **k),
    )
    clear_pipeline_cache()  # as in a fresh worker process
    for _ in range(3):  # a joblib worker unpickles one generator per task
        worker_gen = pickle.loads(payload)
        np.testing.assert_allclose(worker_gen.generate(CAPTIONS[:2], SEEDS[:2]), images, atol=1e-6)
    assert len(loads) == 1


def test_pickle_carries_an_in_memory_pipeline(tiny_pipe):
    gen = make_gen(tiny_pipe)
    images = gen.generate(CAPTIONS[:2], SEEDS[:2])
    restored = pickle.loads(pickle.dumps(gen))
    assert restored.model is not tiny_pipe
    assert restored.fingerprint == gen.fingerprint
    np.testing.assert_allclose(restored.generate(CAPTIONS[:2], SEEDS[:2]), images, atol=1e-6)


# ----------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["torch", "diffusers", "transformers"])
def test_missing_extra_names_the_extra(tiny_dir, monkeypatch, missing):
    # Simulates an environment without the extra: tests our error path only.
    monkeypatch.setitem(sys.modules, missing, None)
    gen = DiffusersGenerator(tiny_dir, local_files_only=True)
    with pytest.raises(ImportError, match=r'pip install "sklearn-depict\[diffusion\]"') as info:
        gen.generate(["a red circle"], [0])
    assert missing in str(info.value) and "torch==2.13.0" in str(info.value)


def test_missing_extra_in_a_fresh_process(tiny_dir):
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["diffusers"] = None  # as if the extra were not installed
        from sklearn_depict import DiffusersGenerator
        gen = DiffusersGenerator({str(tiny_dir)!r})
        try:
            gen.generate(["a red circle"], [0])
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert 'pip install "sklearn-depict[diffusion]"' in out


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"num_inference_steps": 0}, ValueError, "num_inference_steps"),
        ({"height": -8}, ValueError, "height"),
        ({"guidance_scale": "high"}, ValueError, "guidance_scale"),
        ({"negative_prompt": 3}, TypeError, "negative_prompt"),
        ({"torch_dtype": "float8x"}, ValueError, "torch_dtype"),
        ({"scheduler": 3}, TypeError, "scheduler"),
        ({"pipeline_kwargs": {"generator": None}}, ValueError, "generator"),
        ({"pipeline_kwargs": {"eta": object()}}, TypeError, "plain JSON"),
        ({"pipeline_kwargs": [1]}, TypeError, "pipeline_kwargs"),
    ],
)
def test_invalid_parameters(tiny_dir, params, error, match):
    gen = make_gen(tiny_dir, **params)
    with pytest.raises(error, match=match):
        gen.generate(["a"], [0])
    with pytest.raises(error, match=match):
        gen.fingerprint  # noqa: B018


def test_invalid_inputs(tiny_dir, tmp_path):
    gen = make_gen(tiny_dir)
    with pytest.raises(ValueError, match="one seed per caption"):
        gen.generate(["a", "b"], [0])
    with pytest.raises(TypeError, match="Captions must be str"):
        gen.generate([3], [0])
    with pytest.raises(ValueError, match="Seeds must lie"):
        gen.generate(["a"], [-1])
    with pytest.raises(TypeError, match="model"):
        make_gen(3).generate(["a"], [0])
    with pytest.raises(FileNotFoundError, match="not a folder"):
        make_gen(str(tmp_path / "no" / "such" / "dir")).fingerprint  # noqa: B018
    with pytest.raises(ValueError, match="model_index.json"):
        make_gen(tmp_path).fingerprint  # noqa: B018
    with pytest.raises(ValueError, match="needs a GPU"):
        make_gen(tiny_dir, device="cpu", enable_model_cpu_offload=True).generate(["a"], [0])


def test_hub_id_offline_not_in_cache_is_a_clear_error():
    gen = make_gen("sklearn-depict-tests/no-such-model")
    with pytest.raises(OSError, match="HF_HUB_OFFLINE"):
        gen.fingerprint  # noqa: B018


def test_hub_id_resolves_to_a_snapshot_folder(tiny_dir, monkeypatch):
    calls = []

    def fake_download(name, **kwargs):
        calls.append((name, kwargs))
        return str(tiny_dir)

    monkeypatch.setattr(diffusers.DiffusionPipeline, "download", fake_download)
    gen = make_gen("some-org/tiny-sd")
    assert gen.fingerprint == make_gen(tiny_dir).fingerprint
    images = gen.generate(["a red circle"], [0])
    expected = make_gen(tiny_dir).generate(["a red circle"], [0])
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert len(calls) == 1  # resolved once, pinned for fingerprint and loading
    name, kwargs = calls[0]
    assert name == "some-org/tiny-sd"
    assert kwargs["use_safetensors"] is True and kwargs["local_files_only"] is True
    assert "trust_remote_code" not in kwargs


# ----------------------------------------------------------------------
# With the rest of the library
# ----------------------------------------------------------------------
def test_cache_reuse(tiny_dir, tmp_path, monkeypatch):
    table = concept_table(6)
    cache = ImageCache(tmp_path / "cache")
    gen = make_gen(tiny_dir, batch_size=4)
    calls = []
    original = gen.generate
    monkeypatch.setattr(gen, "generate", lambda c, s: calls.append(len(c)) or original(c, s))

    first = CaptionToImage(gen, cache=cache).transform(table)
    assert sum(calls) == len(table) and cache.generated == len(table)
    second = CaptionToImage(gen, cache=cache).transform(table)
    assert sum(calls) == len(table)  # the second call generated nothing
    assert cache.hits == len(table)
    np.testing.assert_array_equal(first, second)

    # another instance of the same model finds the same entries, without torch
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np, pandas as pd
        from sklearn_depict import CaptionToImage, DiffusersGenerator, ImageCache
        table = pd.DataFrame({table.to_dict("list")!r})
        cache = ImageCache({str(tmp_path / "cache")!r})
        gen = DiffusersGenerator({str(tiny_dir)!r}, num_inference_steps=2,
                                 local_files_only=True)
        images = CaptionToImage(gen, cache=cache).transform(table)
        assert cache.generated == 0 and cache.hits == len(table), cache.stats
        assert "torch" not in sys.modules, "a warm cache must not import torch"
        np.save(sys.argv[1], images)
        """
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "warm.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "warm.npy"), first)


def _flatten(images):
    return images.reshape(len(images), -1)


def test_depict_importance_end_to_end(tiny_dir):
    gen = make_gen(tiny_dir, batch_size=4)
    table = concept_table(8)
    y = table["red circle"].to_numpy()
    images = CaptionToImage(gen).transform(table)
    clf = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(C=10.0, max_iter=2000))
    clf.fit(images, y)
    scoring = ["accuracy", "neg_log_loss"]

    result = depict_importance(
        clf,
        table,
        y,
        generator=CaptionToImage(gen, batch_size=5),
        scoring=scoring,
        n_repeats=2,
        random_state=0,
    )
    reference = permutation_importance(
        make_pipeline(CaptionToImage(gen), clf),
        table,
        y,
        scoring=scoring,
        n_repeats=2,
        random_state=0,
    )
    # Same numbers as sklearn on the equivalent pipeline. The two routes batch
    # the same (caption, seed) pairs differently, and diffusion output only
    # repeats to ~1e-6 across batch compositions, so compare with a tolerance.
    for name in scoring:
        np.testing.assert_allclose(result[name].importances, reference[name].importances, atol=1e-5)
        assert result[name].importances.shape == (2, 2)
    bunch = result["accuracy"]
    assert list(bunch.concept_names) == ["red circle", "blue square"]
    assert bunch.n_images_generated == bunch.n_images_distinct <= bunch.n_images_bound
    assert set(bunch.timings) >= {"planning", "generation", "prediction", "scoring"}


@pytest.mark.slow
def test_depict_importance_with_joblib_workers(tiny_dir):
    # Workers get the generator pickled: the path travels, each worker loads once.
    gen = make_gen(tiny_dir, batch_size=4)
    table = concept_table(8)
    y = table["red circle"].to_numpy()
    clf = make_pipeline(FunctionTransformer(_flatten), LogisticRegression(max_iter=2000))
    clf.fit(CaptionToImage(gen).transform(table), y)
    kwargs = dict(scoring="neg_log_loss", n_repeats=2, random_state=0,
                  generator=CaptionToImage(gen, batch_size=6))
    serial = depict_importance(clf, table, y, **kwargs)
    parallel = depict_importance(clf, table, y, n_jobs=2, **kwargs)
    np.testing.assert_allclose(parallel.importances, serial.importances, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_loosely(tiny_dir):
    cpu = make_gen(tiny_dir, device="cpu").generate(CAPTIONS, SEEDS)
    cuda_gen = make_gen(tiny_dir, device="cuda")
    cuda = cuda_gen.generate(CAPTIONS, SEEDS)
    assert cuda_gen._pipeline().device.type == "cuda"
    assert cuda.shape == cpu.shape and cuda.dtype == np.float32
    # the CPU generators make the same starting noise on both devices; kernels
    # (TF32 convolutions among them) differ, so only a loose match
    assert np.abs(cuda - cpu).mean() < 2e-2
    half = make_gen(tiny_dir, device="cuda", torch_dtype="float16").generate(CAPTIONS, SEEDS)
    assert np.isfinite(half).all() and np.abs(half - cpu).mean() < 5e-2
    assert make_gen(tiny_dir, device="cuda").fingerprint == make_gen(tiny_dir).fingerprint
    sliced = make_gen(tiny_dir, enable_attention_slicing=True, enable_model_cpu_offload=True)
    assert np.abs(sliced.generate(CAPTIONS, SEEDS) - cpu).mean() < 2e-2


def test_deepcopy_still_works_when_asked(tiny_dir):
    # copy.deepcopy is the user's explicit choice; only clone must be cheap.
    gen = make_gen(tiny_dir)
    assert copy.deepcopy(gen).get_params() == gen.get_params()


def test_captions_over_the_tokenizer_limit_are_reported(tiny_dir):
    from sklearn_depict.generators.diffusers import CaptionTruncationWarning

    generator = make_gen(tiny_dir)
    long_caption = ", ".join(["red circle"] * 60)
    with pytest.warns(CaptionTruncationWarning, match="exceed the tokenizer's limit of 77"):
        images = generator.generate([long_caption, "red circle"], [0, 1])
    assert images.shape[0] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_a_device_without_cuda_is_named_before_loading(tiny_dir, tmp_path):
    from sklearn_depict.generators._diffusers_loading import LOADED_PIPELINES

    clear_pipeline_cache()
    gen = DiffusersGenerator(str(tiny_dir), num_inference_steps=2, device="cuda",
                             local_files_only=True)
    with pytest.raises(ValueError, match=r"DiffusersGenerator\(device='cuda'\).*no CUDA"):
        gen.generate(["a red circle"], [0])
    assert not LOADED_PIPELINES  # nothing was loaded
    # The same before any image of a run: the cache stays empty.
    table = pd.DataFrame({"red circle": [0, 1, 0, 1], "blue square": [1, 1, 0, 0]})
    clf = make_pipeline(FunctionTransformer(_flatten), LogisticRegression())
    clf.fit(np.random.default_rng(0).random((4, 32 * 32 * 3)).reshape(4, 32, 32, 3), [0, 1, 0, 1])
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(ValueError, match="device='cuda'"):
        depict_importance(clf, table, [0, 1, 0, 1], generator=CaptionToImage(gen, cache=cache),
                          n_repeats=1)
    assert len(cache) == 0  # no image was made


def test_auto_device_moves_a_pipeline_object_where_torch_runs(tiny_dir):
    pipe = make_tiny_pipeline(seed=0)
    gen = DiffusersGenerator(pipe, num_inference_steps=2, device="auto")
    images = gen.generate(["a red circle"], [0])
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pipe.device.type == expected and images.shape == (1, 32, 32, 3)
    with pytest.raises(ValueError, match=r"device='tpu9'\): not a device torch knows"):
        DiffusersGenerator(str(tiny_dir), device="tpu9").generate(["a red circle"], [0])
