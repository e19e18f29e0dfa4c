"""Models for tests, examples and documentation: small, offline, random.

Importing this module is cheap; torch, diffusers and transformers are imported
when a model is built.
"""

from __future__ import annotations

from typing import Any

from .generators._diffusers_backend import import_backend, is_int
from .text_to_image.tokenizer import word_tokenizer

__all__ = ["make_tiny_pipeline"]

_TINY_WORDS = (
    "a", "an", "the", "of", "and", "with", "no", "photo", "image", "picture",
    "red", "green", "blue", "circle", "square", "triangle", "person", "chair",
    "dog", "cat", "table", "age", "sex", "findings", "present", "absent",
)  # fmt: skip


def _tiny_tokenizer() -> Any:
    # A byte-level BPE vocabulary in the style of CLIP's whose merges spell a
    # few caption words; anything else is split into characters.
    return word_tokenizer(_TINY_WORDS, model_max_length=77)


def make_tiny_pipeline(*, seed: int = 0, image_size: int = 32) -> Any:
    """Build a tiny Stable Diffusion pipeline with random weights, offline.

    It has the structure of Stable Diffusion (a CLIP text encoder and
    tokenizer, a conditional UNet, a VAE and a DDIM scheduler) at a few
    hundred kilobytes, so it runs on a CPU in milliseconds per image. Its
    images look like coloured noise: it exists to test and demonstrate the
    machinery without network or a GPU, not to draw anything.

    Parameters
    ----------
    seed : int, default=0
        Seeds the random weights. The global torch random state is left as
        it was.
    image_size : int, default=32
        Height and width of the images, a multiple of 16.

    Returns
    -------
    pipeline : diffusers.StableDiffusionPipeline
        On the CPU, in float32, without safety checker. Save it with
        ``save_pretrained`` to get a folder like a fine-tuned checkpoint.

    See Also
    --------
    sklearn_depict.DiffusersGenerator : Generates images with such a pipeline.

    Examples
    --------
    >>> from sklearn_depict.testing import make_tiny_pipeline
    >>> pipe = make_tiny_pipeline(seed=0)
    >>> type(pipe).__name__
    'StableDiffusionPipeline'
    """
    if not is_int(image_size) or image_size < 16 or image_size % 16:
        raise ValueError(f"image_size must be a multiple of 16, got {image_size!r}.")
    torch, diffusers = import_backend()
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _tiny_tokenizer()
    n_tokens = len(tokenizer.get_vocab())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        unet = diffusers.UNet2DConditionModel(
            sample_size=image_size // 2,
            in_channels=4,
            out_channels=4,
            block_out_channels=(8, 16),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=2,
            norm_num_groups=8,
        )
        vae = diffusers.AutoencoderKL(
            sample_size=image_size,
            in_channels=3,
            out_channels=3,
            block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4,
            norm_num_groups=8,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=n_tokens,
                hidden_size=32,
                intermediate_size=37,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                projection_dim=32,
                bos_token_id=n_tokens - 2,
                eos_token_id=n_tokens - 1,
                pad_token_id=n_tokens - 1,
            )
        )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return diffusers.StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
