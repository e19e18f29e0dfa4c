"""A small text-to-image diffusion pipeline that works in pixel space."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.utils.torch_utils import randn_tensor

__all__ = ["PixelDiffusionPipeline"]


class PixelDiffusionPipeline(DiffusionPipeline, StableDiffusionLoraLoaderMixin):
    """Text-to-image diffusion in pixel space, without an autoencoder.

    The UNet denoises ``pixel_unshuffle(image, factor)``: a 3×32×32 image is
    seen as 12×16×16, a lossless rearrangement about four times cheaper to
    run than the full-size image. Captions are encoded by a small CLIP text
    encoder. Built and trained by :func:`fit_text_to_image`, saved and loaded
    with ``save_pretrained`` / ``from_pretrained`` like any diffusers pipeline.

    LoRA adapters load, scale, fuse and save as on Stable Diffusion
    (``load_lora_weights``, ``set_adapters``, ``fuse_lora``,
    ``save_lora_weights``): the UNet and text encoder have the same roles.

    An empty prompt means the empty scene: it is replaced by
    ``empty_caption`` (``"nothing"``), the word the model was trained on for
    it, because the empty token sequence is the unconditional input of
    classifier-free guidance.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
        Denoiser with ``in_channels = out_channels = channels * factor**2``.
    text_encoder : transformers.CLIPTextModel
        Its last hidden states condition the UNet.
    tokenizer : transformers.CLIPTokenizer
        Pads every prompt to ``model_max_length`` tokens.
    scheduler : diffusers.SchedulerMixin
        Sampler, for instance ``DPMSolverMultistepScheduler``.
    downscale_factor : int, default=2
        Factor of ``pixel_unshuffle``.
    empty_caption : str, default="nothing"
        What an empty prompt is replaced by.

    Examples
    --------
    >>> from sklearn_depict.text_to_image import make_pixel_pipeline
    >>> pipe = make_pixel_pipeline(["red circle", "blue square"], size="tiny")
    >>> out = pipe(["red circle", ""], num_inference_steps=2, output_type="np")
    >>> out.images.shape, out.images.dtype
    ((2, 32, 32, 3), dtype('float32'))
    """

    model_cpu_offload_seq = "text_encoder->unet"

    def __init__(
        self,
        unet: Any,
        text_encoder: Any,
        tokenizer: Any,
        scheduler: Any,
        downscale_factor: int = 2,
        empty_caption: str = "nothing",
    ) -> None:
        super().__init__()
        self.register_modules(
            unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler
        )
        self.register_to_config(
            downscale_factor=int(downscale_factor), empty_caption=str(empty_caption)
        )

    # -- helpers shared with training ------------------------------------
    def prepare_prompts(self, prompts: list[str]) -> list[str]:
        """Replace empty prompts by ``empty_caption``."""
        empty = self.config.empty_caption
        return [p if p.strip() else empty for p in prompts]

    def encode_prompt(self, prompts: list[str], device: Any = None) -> torch.Tensor:
        """Hidden states of the text encoder for ``prompts``, used as they are."""
        ids = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        device = self.text_encoder.device if device is None else device
        return self.text_encoder(ids.to(device))[0]

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        """(n, C, H, W) images in [0, 1] to the UNet's input space."""
        return torch.nn.functional.pixel_unshuffle(
            images * 2.0 - 1.0, int(self.config.downscale_factor)
        )

    def from_model_space(self, sample: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_model_space`, clipped to [0, 1]."""
        x = torch.nn.functional.pixel_shuffle(sample, int(self.config.downscale_factor))
        return ((x + 1.0) / 2.0).clamp(0.0, 1.0)

    # -- generation --------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        *,
        num_inference_steps: int = 10,
        guidance_scale: float = 5.0,
        negative_prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        generator: Any = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ) -> Any:
        """Generate one image per prompt.

        Parameters
        ----------
        prompt : str or list of str
            Captions; an empty one asks for the empty scene.
        num_inference_steps : int, default=10
            Sampler steps.
        guidance_scale : float, default=5.0
            Classifier-free guidance; 1 or less switches it off.
        negative_prompt : str or list of str, default=None
            Replaces the unconditional input of guidance.
        height, width : int, default=None
            Image size; None uses the size the UNet was trained at.
        generator : torch.Generator or list of them, default=None
            One per prompt makes each image independent of its batch.
        latents : Tensor, default=None
            Starting noise in model space, instead of drawing it.
        output_type : {"np", "pt", "pil"}, default="np"
            Float arrays (n, H, W, C) in [0, 1], a tensor (n, C, H, W), or
            PIL images.
        return_dict : bool, default=True
            Return an ``ImagePipelineOutput`` rather than a tuple.

        Returns
        -------
        output : ImagePipelineOutput
            ``images`` holds the generated images.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        n = len(prompts)
        device = self._execution_device
        factor = int(self.config.downscale_factor)
        size = int(self.unet.config.sample_size) * factor
        height, width = height or size, width or size
        if height % (factor * 4) or width % (factor * 4):
            raise ValueError(f"height and width must be multiples of {factor * 4}.")

        cond = self.encode_prompt(self.prepare_prompts(prompts), device)
        guided = guidance_scale > 1.0
        if guided:
            if negative_prompt is None:
                negative = [""] * n
            elif isinstance(negative_prompt, str):
                negative = [negative_prompt] * n
            else:
                negative = list(negative_prompt)
            cond = torch.cat([self.encode_prompt(negative, device), cond])

        shape = (n, self.unet.config.in_channels, height // factor, width // factor)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=cond.dtype)
        latents = latents.to(device=device, dtype=cond.dtype)

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = latents * self.scheduler.init_noise_sigma
        for t in self.progress_bar(self.scheduler.timesteps):
            model_in = torch.cat([latents] * 2) if guided else latents
            model_in = self.scheduler.scale_model_input(model_in, t)
            out = self.unet(model_in, t, encoder_hidden_states=cond).sample
            if guided:
                uncond_out, cond_out = out.chunk(2)
                out = uncond_out + guidance_scale * (cond_out - uncond_out)
            latents = self.scheduler.step(out, t, latents).prev_sample

        images = self.from_model_space(latents.float())
        if output_type != "pt":
            images = images.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32)
            if output_type == "pil":
                images = self.numpy_to_pil(images)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
