"""FreeInit on a MODEL: an OUTER_SAMPLE wrapper that runs the sampler several times.

Run 1 samples as usual. Before each further run the previous result is diffused back to the
model's largest sigma with the noise the previous run started from, its low spatio-temporal
frequencies are kept and the high ones are replaced by fresh noise (seed + run index), and the
next run starts from that mix and the original latent (see ``motion/freeinit.py``). The progress
bar runs over all runs; Cancel stops between and within runs.
"""
from __future__ import annotations

import logging

import torch

from ..motion.freeinit import FreeInitSettings, low_pass_filter, reinitialize
from .runtime import throw_if_interrupted

FREEINIT_KEY = "SteadyFrame_freeinit"

log = logging.getLogger(__name__)


def fresh_noise(like: torch.Tensor, seed: int) -> torch.Tensor:
    """ComfyUI's noise for one seed: one CPU ``randn`` over the whole latent batch."""
    generator = torch.manual_seed(seed)
    return torch.randn(like.size(), dtype=like.dtype, layout=like.layout, generator=generator, device="cpu")


def diffusion_sigma(model_patcher, sigma_step: int) -> torch.Tensor:
    """The model's sigma at training step ``sigma_step`` (999 = the largest), in latent-out units."""
    sampling = model_patcher.get_model_object("model_sampling")
    return sampling.sigmas[sigma_step - 1000] / model_patcher.model.latent_format.scale_factor


def freeinit_wrapper(settings: FreeInitSettings):
    """The OUTER_SAMPLE wrapper for ``settings``."""

    def outer_sample(executor, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None,
                     disable_pbar=False, seed=None, **kwargs):
        guider = executor.class_obj
        runs = settings.iterations
        steps = max(int(sigmas.shape[-1]) - 1, 1)
        seed = 0 if seed is None else int(seed)
        shape = latent_image.shape
        if latent_image.ndim != 4:
            raise ValueError(f"FreeInit needs video latents (frames, channels, height, width), got shape {tuple(shape)}")
        centred = low_pass_filter(shape[0], shape[2], shape[3], settings.filter, settings.d_s, settings.d_t, settings.order)
        result = latent_image
        for run in range(runs):
            throw_if_interrupted()
            if run > 0 or settings.apply_to_first:
                sigma = diffusion_sigma(guider.model_patcher, settings.sigma_step)
                fresh = fresh_noise(latent_image, seed + run)
                noise = reinitialize(result.to(noise.device), noise, fresh, centred, sigma.to(noise.device))
            if runs > 1:
                log.info("SteadyFrame FreeInit: sampling run %d of %d", run + 1, runs)

            def report(step, x0, x, total_steps, _offset=run * steps):
                if callback is not None:
                    callback(step + _offset, x0, x, total_steps * runs)

            result = executor(noise, latent_image, sampler, sigmas, denoise_mask, report if callback is not None else None,
                              disable_pbar, seed, **kwargs)
        return result

    return outer_sample


def apply_freeinit(model, settings: FreeInitSettings):
    """A clone of ``model`` (a MODEL) that samples with FreeInit; ``iterations`` 1 leaves it as is."""
    import comfy.patcher_extension

    clone = model.clone()
    clone.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, FREEINIT_KEY)
    if settings.iterations > 1 or settings.apply_to_first:
        clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, FREEINIT_KEY, freeinit_wrapper(settings))
    return clone
