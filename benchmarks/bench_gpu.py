"""GPU figures: Stable Diffusion 1.5-sized generation, LoRA fused vs unfused, LoRA
training, and classifier prediction at 224 px.

Everything is built in code with random weights (no hub, no network): a
pipeline with the real configuration of Stable Diffusion 1.5 (its UNet, VAE and
CLIP ViT-L/14 text encoder; the tokenizer is the small in-code one of
``make_tiny_pipeline``, which changes nothing on the GPU), saved to a
temporary folder in float16 and loaded through ``DiffusersGenerator`` as a
user would. Random weights draw noise, but cost exactly what trained ones do.

Measures, at 512 px, float16, 25 DDIM steps, guidance 7.5:

* images per second of ``DiffusersGenerator`` at ``batch_size`` 1, 4, 8 and 16,
  for the base model, with a rank-4 LoRA adapter unfused, and fused
  (``fuse_lora=True``), with the peak GPU memory of each;
* a ``fit_text_to_image(method="lora")`` step on the same model (batch 1,
  fp16 mixed precision, gradient checkpointing): seconds per step, peak memory;
* few-step sampling: images per second of the same model with DDIM at 25,
  10 and 4 steps and with ``LCMScheduler`` at 4 steps and guidance 1 (no
  unconditional pass; what an LCM-LoRA or a turbo model samples with), and of
  the shipped shapes and digits models at their former default (DPM-Solver++,
  10 steps, guidance 5) and at their current one, in batches of 256;
* prediction at 224 px with a ResNet-18-sized CNN written in plain torch, the
  way a ``TorchImageClassifier`` predicts (numpy batch in, probabilities out,
  float16 autocast), in images per second.

Medians over ``--rounds`` timed calls after one warm-up call. Sized to run
in well under 8 minutes on one data-centre GPU (an estimate: it has not yet
run on one). ``--quick`` shrinks everything (tiny models, 32 px, 2 steps) to
smoke-test the script on a CPU in under a minute.

Usage::

    python benchmarks/bench_gpu.py [--device cuda] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Stable Diffusion 1.5's configuration (stable-diffusion-v1-5/*/config.json).
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                    "CrossAttnUpBlock2D"),
    cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
)  # fmt: skip
SD15_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=512,
    scaling_factor=0.18215,
)  # fmt: skip
SD15_TEXT = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_attention_heads=12,
    num_hidden_layers=12, max_position_embeddings=77, hidden_act="quick_gelu",
    projection_dim=768,
)  # fmt: skip

# --quick: the same structure, tiny.
QUICK_UNET = dict(
    SD15_UNET, sample_size=16, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
    cross_attention_dim=32, attention_head_dim=2, norm_num_groups=8,
)  # fmt: skip
QUICK_VAE = dict(
    SD15_VAE, block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8, sample_size=32,
    layers_per_block=1,
)  # fmt: skip
QUICK_TEXT = dict(
    SD15_TEXT, hidden_size=32, intermediate_size=37, num_attention_heads=4,
    num_hidden_layers=2, projection_dim=32,
)  # fmt: skip


def build_pipeline(quick: bool, device: str):
    """A Stable Diffusion 1.5-sized pipeline with random weights, on ``device``."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    from sklearn_depict.testing import _tiny_tokenizer

    tokenizer = _tiny_tokenizer()
    n_tokens = len(tokenizer.get_vocab())
    unet_kw, vae_kw, text_kw = (QUICK_UNET, QUICK_VAE, QUICK_TEXT) if quick else (
        SD15_UNET, SD15_VAE, SD15_TEXT)  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):  # initialise in place: an 860 M-parameter UNet on the CPU is slow
        unet = diffusers.UNet2DConditionModel(**unet_kw)
        vae = diffusers.AutoencoderKL(**vae_kw)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            **text_kw, bos_token_id=n_tokens - 2, eos_token_id=n_tokens - 1,
            pad_token_id=n_tokens - 1,
        ))  # fmt: skip
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    return diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip


def save_random_adapter(pipe, folder: str, rank: int = 4) -> None:
    """A rank-``rank`` LoRA on the UNet's attention, non-zero, in diffusers' format."""
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(1)
    pipe.unet.add_adapter(LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights=False,
        target_modules=["to_k", "to_q", "to_v", "to_out.0"],
    ))  # fmt: skip
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    type(pipe).save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_gb(device: str) -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def time_calls(fn, rounds: int, device: str) -> float:
    fn()  # warm-up: kernels, cuDNN autotuning, allocator
    times = []
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_generation(args, folder: str, adapter: str) -> list[dict]:
    from sklearn_depict.generators.diffusers import DiffusersGenerator, clear_pipeline_cache

    rows = []
    variants = {
        "base": {},
        "LoRA unfused": {"lora": adapter},
        "LoRA fused": {"lora": adapter, "fuse_lora": True},
    }
    for variant, params in variants.items():
        clear_pipeline_cache()
        for batch in args.batch_sizes:
            reset_peak(args.device)  # the model stays loaded: peak = weights + this batch
            gen = DiffusersGenerator(
                folder, num_inference_steps=args.steps, guidance_scale=7.5, batch_size=batch,
                height=args.size, width=args.size, device=args.device,
                torch_dtype=args.dtype, local_files_only=True, **params,
            )  # fmt: skip
            n = max(4, 2 * batch) if not args.quick else 2 * batch
            captions = [f"a photo of a red circle number {i}" for i in range(n)]
            seeds = list(range(n))
            seconds = time_calls(partial(gen.generate, captions, seeds), args.rounds, args.device)
            rows.append(dict(variant=variant, batch=batch, images=n, seconds=seconds,
                             ips=n / seconds, peak_gb=peak_gb(args.device)))  # fmt: skip
            print(f"  {variant:<13} batch {batch:>2}: {n / seconds:8.2f} images/s", flush=True)
        del gen  # it holds the pipeline: let it go before the next variant loads
    clear_pipeline_cache()
    return rows


# Few-step sampling: (name, scheduler or None for the model's own DDIM, steps, guidance).
# Guidance <= 1 skips the unconditional pass, halving the UNet work per step.
SD_FEW_STEP = (
    ("DDIM", None, 25, 7.5),
    ("DDIM", None, 10, 7.5),
    ("DDIM", None, 4, 7.5),
    ("LCMScheduler", "LCMScheduler", 4, 1.0),
)


def bench_few_step(args, folder: str) -> list[dict]:
    """Images per second at fewer sampler steps: the SD-sized model and the shipped ones.

    For the SD-sized model (random weights) only the cost is meaningful: an
    LCM-LoRA or a turbo model is what makes 1-4 steps draw well. The shipped
    models run at their former default (DPM-Solver++, 10 steps, guidance 5)
    and at their current one; their quality at each setting is in
    ``docs/cost.rst`` (``benchmarks/few_step.py``, on a CPU).
    """
    from sklearn_depict.digits_diffusion import load_digits_diffusion
    from sklearn_depict.generators.diffusers import DiffusersGenerator, clear_pipeline_cache
    from sklearn_depict.shapes_diffusion import load_shapes_diffusion

    rows = []
    batch = max(args.batch_sizes)
    captions = [f"a photo of a red circle number {i}" for i in range(2 * batch)]
    for name, scheduler, steps, guidance in SD_FEW_STEP:
        steps = min(steps, 2) if args.quick and steps > 4 else steps  # --quick: a smoke test
        label = f"{name} {steps} steps, guidance {guidance:g}"
        gen = DiffusersGenerator(
            folder, num_inference_steps=steps, guidance_scale=guidance, batch_size=batch,
            height=args.size, width=args.size, device=args.device, torch_dtype=args.dtype,
            local_files_only=True, scheduler=scheduler,
        )  # fmt: skip
        seconds = time_calls(
            partial(gen.generate, captions, list(range(len(captions)))), args.rounds, args.device
        )
        rows.append(dict(model="SD-sized", setting=label, batch=batch,
                         ips=len(captions) / seconds))  # fmt: skip
    clear_pipeline_cache()
    former = dict(num_inference_steps=10, guidance_scale=5.0)
    shipped = {  # the loader, its captions, and what gives its former default
        "shapes": (
            load_shapes_diffusion,
            ["red circle, blue square", "green circle", ""],
            dict(variant="teacher"),
        ),
        "digits": (load_digits_diffusion, ["seven, thick", "two, slanted", "zero"], former),
    }
    n = 32 if args.quick else 1024
    for model, (load, words, former_params) in shipped.items():
        settings = {
            "former default: DPM-Solver++ 10 steps, guidance 5": former_params,
            "current default": {},
        }
        for setting, params in settings.items():
            gen = load(device=args.device, batch_size=256, **params)
            setting = (
                setting
                if params
                else f"default: {gen.num_inference_steps} steps, guidance {gen.guidance_scale}"
            )
            texts = [words[i % len(words)] for i in range(n)]
            seconds = time_calls(partial(gen.generate, texts, list(range(n))), args.rounds,
                                 args.device)  # fmt: skip
            rows.append(dict(model=model, setting=setting, batch=256, ips=n / seconds))
        clear_pipeline_cache()
    for row in rows:
        print(f"  {row['model']:<9}{row['setting']:<52}{row['ips']:10.2f} images/s", flush=True)
    return rows


def bench_training(args, folder: str) -> dict:
    import numpy as np

    from sklearn_depict.text_to_image import fit_text_to_image

    reset_peak(args.device)
    rng = np.random.default_rng(0)
    images = rng.random((8, args.size, args.size, 3), dtype=np.float32)
    captions = [f"a photo of shape {i}" for i in range(8)]
    cuda = args.device.startswith("cuda")
    times = []
    with tempfile.TemporaryDirectory() as out:
        # warm-up steps; a call that only loads (nothing left to train); then
        # train_steps more: their time is the third call's minus the second's.
        warm = args.train_warmup
        for steps in (warm, warm, warm + args.train_steps):
            synchronize(args.device)
            start = time.perf_counter()
            fit_text_to_image(
                captions, images, base=folder, method="lora", output_dir=out,
                max_train_steps=steps, batch_size=1, mixed_precision="fp16" if cuda else None,
                gradient_checkpointing=True, snr_gamma=5.0, checkpoint_every=0,
                device=args.device, verbose=0,
            )  # fmt: skip
            synchronize(args.device)
            times.append(time.perf_counter() - start)
        size = os.path.getsize(Path(out) / "pytorch_lora_weights.safetensors")
    return dict(seconds_per_step=(times[2] - times[1]) / args.train_steps,
                peak_gb=peak_gb(args.device), adapter_mb=size / 1e6,
                load_s=times[1])  # fmt: skip


def make_cnn(n_classes: int = 2):
    """A ResNet-18-sized CNN in plain torch (no torchvision on this platform)."""
    from torch import nn

    def block(c_in, c_out, stride):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        )  # fmt: skip

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]  # fmt: skip
    c = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [block(c, width, stride), block(width, width, 1)]
        c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, n_classes)]
    return nn.Sequential(*layers)


def bench_prediction(args) -> list[dict]:
    import numpy as np
    import torch

    # What TorchImageClassifier.predict_proba does per batch: numpy (n, H, W, C)
    # in [0, 1] -> (n, C, H, W) tensor on the device -> forward -> softmax ->
    # numpy. A plain CNN stands in for it so this script needs only torch.
    model = make_cnn().to(args.device).eval()
    size = 32 if args.quick else 224
    rows = []
    for batch in args.predict_batches:
        images = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)

        def predict(images=images):
            with torch.inference_mode(), torch.autocast(
                args.device.split(":")[0], dtype=torch.float16,
                enabled=args.device.startswith("cuda"),
            ):  # fmt: skip
                x = torch.from_numpy(images).to(args.device).permute(0, 3, 1, 2)
                return torch.softmax(model(x).float(), dim=1).cpu().numpy()

        seconds = time_calls(predict, args.rounds, args.device)
        rows.append(dict(batch=batch, ips=batch / seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--quick", action="store_true", help="tiny models, 32 px, 2 steps")
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per figure")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--no-train", action="store_true", help="skip the LoRA training figure")
    parser.add_argument(
        "--no-few-step", action="store_true", help="skip the few-step sampling figures"
    )
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = args.device.startswith("cuda")
    if not cuda and not args.quick:
        parser.error("the full benchmark needs a GPU (--device cuda); use --quick on a CPU")
    # On a shared CPU more threads than free cores is slower, not faster.
    torch.set_num_threads(min(4, os.cpu_count() or 1) if cuda else 1)
    args.size = 32 if args.quick else 512
    args.steps = 2 if args.quick else 25
    args.dtype = "float16" if cuda else "float32"
    args.batch_sizes = args.batch_sizes or ([1, 2] if args.quick else [1, 4, 8, 16])
    args.predict_batches = [8] if args.quick else [64, 256]
    args.train_warmup, args.train_steps = (1, 2) if args.quick else (3, 10)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name()}", flush=True)
    started = time.perf_counter()

    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="sd15-") as root:
        folder, adapter = os.path.join(root, "model"), os.path.join(root, "lora")
        pipe = build_pipeline(args.quick, args.device)
        n_params = sum(p.numel() for p in pipe.unet.parameters())
        if cuda:  # saved in float16: half the disk and time; loaded as float16 anyway
            diffusers.utils.logging.set_verbosity_error()
            pipe.to(dtype=torch.float16)
            diffusers.utils.logging.set_verbosity_warning()
        pipe.save_pretrained(folder, safe_serialization=True)
        save_random_adapter(pipe, adapter)
        del pipe
        if cuda:
            torch.cuda.empty_cache()
        print(f"built and saved in {time.perf_counter() - started:.0f} s "
              f"(UNet {n_params / 1e6:.0f} M parameters)", flush=True)  # fmt: skip
        generation = bench_generation(args, folder, adapter)
        few_step = None if args.no_few_step else bench_few_step(args, folder)
        training = None if args.no_train else bench_training(args, folder)
    prediction = bench_prediction(args)

    print(f"\nGeneration: {args.size} px, {args.dtype}, {args.steps} DDIM steps, guidance 7.5, "
          f"{args.device}; median of {args.rounds}")  # fmt: skip
    print(f"{'variant':<14}{'batch':>6}{'images/s':>10}{'s/image':>9}{'peak GB':>9}")
    for row in generation:
        print(f"{row['variant']:<14}{row['batch']:>6}{row['ips']:>10.2f}"
              f"{1 / row['ips']:>9.3f}{row['peak_gb']:>9.2f}")  # fmt: skip
    by = {(r["variant"], r["batch"]): r["ips"] for r in generation}
    print("\nratios (images/s)       " + "".join(f"{'batch ' + str(b):>10}"
                                             for b in args.batch_sizes))  # fmt: skip
    for label, num, den in (("fused / unfused", "LoRA fused", "LoRA unfused"),
                            ("unfused / base", "LoRA unfused", "base"),
                            ("fused / base", "LoRA fused", "base")):  # fmt: skip
        print(f"{label:<24}" + "".join(f"{by[num, b] / by[den, b]:>10.3f}"
                                       for b in args.batch_sizes))  # fmt: skip
    if few_step is not None:
        print(f"\nFew-step sampling ({args.device}; the SD-sized model at {args.size} px):")
        for row in few_step:
            print(f"  {row['model']:<9}{row['setting']:<52}{row['ips']:10.2f} images/s")
    if training is not None:
        print(f"\nLoRA training (rank 4, batch 1, {args.size} px, "
              f"{'fp16 mixed precision, ' if cuda else ''}gradient checkpointing, Min-SNR): "
              f"{training['seconds_per_step']:.3f} s/step, peak {training['peak_gb']:.2f} GB, "
              f"adapter {training['adapter_mb']:.2f} MB")  # fmt: skip
    size = 32 if args.quick else 224
    print(f"\nPrediction, ResNet-18-sized CNN at {size} px"
          f"{', float16 autocast' if cuda else ''}:")  # fmt: skip
    for row in prediction:
        print(f"  batch {row['batch']:>4}: {row['ips']:10.1f} images/s")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(
            device=args.device, generation=generation, few_step=few_step, training=training,
            prediction=prediction, settings=dict(size=args.size, steps=args.steps,
                                                 dtype=args.dtype, rounds=args.rounds),
        ), indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
