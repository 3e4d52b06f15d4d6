"""SparseCtrl as a ComfyUI CONTROL_NET that core's Apply ControlNet nodes accept.

- :class:`SparseCtrlModel`: core's ``comfy.cldm.cldm.ControlNet`` encoder plus the file's motion
  modules as its own submodule (one ModelPatcher loads and offloads both; nothing is injected
  into the UNet). Its forward zeroes the noisy input (SparseCtrl reads only the hint), adds the
  embedded hint after the first block, and runs a motion module at the end of every input block
  that has a ResBlock (after its SpatialTransformer where there is one), as AnimateDiff places
  them.
- :class:`SparseCtrl`: a subclass of core's ``comfy.controlnet.ControlNet``. Its hint is the
  sparse hint of :mod:`..motion.sparsectrl` (an IMAGE with one frame per latent frame whose
  alpha marks the hinted frames). It builds the encoder input per call: hinted frames' images
  (scribble) or VAE latents of only those frames (RGB, with the VAE given to Apply ControlNet),
  zeros elsewhere, plus the mask channel. Under context windows it uses the window's frames
  (itself, or through the Per-Window ControlNet node, which copies it like core ControlNets).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Optional

import torch

from ..motion.sparsectrl import SparseCtrlInfo, build_sparse_motion_model, hinted_frames, load_sparsectrl_file
from ..motion.temporal import MotionModule

log = logging.getLogger(__name__)
CONTROLNET_FOLDER = "controlnet"


@dataclass(frozen=True)
class SparseCtrlSettings:
    use_motion: bool = True
    motion_strength: float = 1.0   # effect: x + strength * motion delta
    motion_scale: float = 1.0      # multiplies the temporal attention keys
    name: str = ""


@functools.cache
def _controlnet_class():
    import comfy.cldm.cldm

    class SparseCtrlModel(comfy.cldm.cldm.ControlNet):
        """The SparseCtrl encoder; ``forward`` returns core's ``{"output": [...], "middle": [...]}``."""

        def __init__(self, *, info: SparseCtrlInfo, **config):
            super().__init__(**config)
            operations = config["operations"]
            if info.kind == "rgb":
                # the RGB file's embedding is one conv on latent-resolution hints
                from comfy.ldm.modules.diffusionmodules.openaimodel import TimestepEmbedSequential

                self.input_hint_block = TimestepEmbedSequential(operations.conv_nd(
                    self.dims, info.hint_channels, self.model_channels, 3, padding=1,
                    dtype=config.get("dtype"), device=config.get("device")))
            self.sparse_info = info
            self.motion_model = None
            self.motion_slots: dict = {}

        def attach_motion(self, motion_model) -> None:
            """Place ``motion_model``'s modules at the end of every input block that has a ResBlock."""
            from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock

            modules = motion_model.modules_in_order()
            slots = [i for i, block in enumerate(self.input_blocks) if any(isinstance(layer, ResBlock) for layer in block)]
            if len(slots) != len(modules):
                raise ValueError(f"SparseCtrl {self.sparse_info.kind}: {len(modules)} motion modules for {len(slots)} encoder blocks")
            for index, module in zip(slots, modules):
                res = [layer for layer in self.input_blocks[index] if isinstance(layer, ResBlock)][0]
                if res.out_channels != module.channels:
                    raise ValueError(f"SparseCtrl motion module {module.key} has {module.channels} channels, "
                                     f"encoder block {index} has {res.out_channels}")
            self.motion_model = motion_model
            self.motion_slots = dict(zip(slots, range(len(slots))))

        def forward(self, x, hint, timesteps, context, y=None, frames: Optional[int] = None, motion=None, **kwargs):
            from comfy.ldm.modules.diffusionmodules.util import timestep_embedding

            t_emb = timestep_embedding(timesteps, self.model_channels, repeat_only=False).to(x.dtype)
            emb = self.time_embed(t_emb)
            guided_hint = self.input_hint_block(hint, emb, context)
            if self.num_classes is not None:
                emb = emb + self.label_emb(y)
            modules = self.motion_model.modules_in_order() if (self.motion_model is not None and motion is not None) else None
            outputs = []
            # SparseCtrl was trained with the noisy sample set to zero: the hint is its only image input
            h = torch.zeros_like(x)
            for index, (block, zero_conv) in enumerate(zip(self.input_blocks, self.zero_convs)):
                h = block(h, emb, context)
                if guided_hint is not None:
                    h = h + guided_hint
                    guided_hint = None
                if modules is not None and index in self.motion_slots:
                    module: MotionModule = modules[self.motion_slots[index]]
                    h = module(h, frames, scale=motion["scale"], effect=motion["effect"], attention=motion["attention"])
                outputs.append(zero_conv(h, emb, context))
            h = self.middle_block(h, emb, context)
            return {"output": outputs, "middle": [self.middle_block_out(h, emb, context)]}

    return SparseCtrlModel


@functools.cache
def _sparsectrl_class():
    import comfy.controlnet
    import comfy.model_base
    import comfy.model_management
    import comfy.utils

    class SparseCtrl(comfy.controlnet.ControlNet):
        """A core ControlNet whose hint is a SparseCtrl sparse hint (see the module doc)."""

        # comfy_glue/control_windows.py copies it per context window like core ControlNets
        steadyframe_window_copy = True

        def __init__(self, control_model=None, settings: SparseCtrlSettings = SparseCtrlSettings(), **kwargs):
            super().__init__(control_model, **kwargs)
            self.settings = settings
            self.model_latent_format = None
            self._hint_key = None

        @property
        def kind(self) -> str:
            return self.control_model.sparse_info.kind

        def copy(self):
            c = SparseCtrl(None, settings=self.settings, global_average_pooling=self.global_average_pooling,
                           load_device=self.load_device, manual_cast_dtype=self.manual_cast_dtype)
            c.control_model = self.control_model
            c.control_model_wrapped = self.control_model_wrapped
            self.copy_to(c)
            return c

        def set_cond_hint(self, cond_hint, strength=1.0, timestep_percent_range=(0.0, 1.0), vae=None, extra_concat=()):
            super().set_cond_hint(cond_hint, strength, timestep_percent_range, vae=vae, extra_concat=list(extra_concat))
            self.vae = vae  # core keeps the VAE only for latent-format ControlNets; RGB SparseCtrl encodes with it
            return self

        def pre_run(self, model, percent_to_timestep_function):
            super().pre_run(model, percent_to_timestep_function)
            self.model_latent_format = model.latent_format

        def cleanup(self):
            self.model_latent_format = None
            self._hint_key = None
            super().cleanup()

        def _window_frames(self, frames: int, transformer_options) -> Optional[list]:
            """The hint frames for this call: ``None`` for all of them, or a context window's frames."""
            total = int(self.cond_hint_original.shape[0])
            if total == frames:
                return None
            window = (transformer_options or {}).get("context_window")
            index_list = getattr(window, "index_list", None)
            if index_list is not None and len(index_list) == frames and max(index_list) < total:
                return list(index_list)
            raise ValueError(
                f"SparseCtrl {self.settings.name}: the hint has {total} frames but this call has {frames} latent frames; "
                f"set frame_count of the SparseCtrl Hint node to the number of latent frames ({frames} here, unless "
                f"context windows are on)")

        def _build_hint(self, x_noisy, frames: int, window: Optional[list], dtype):
            """``(frames, channels + 1, h, w)``: the hinted frames' images or latents, zeros elsewhere, and the mask."""
            hint = self.cond_hint_original if window is None else self.cond_hint_original[window]
            hinted = hinted_frames(hint)
            h, w = x_noisy.shape[-2], x_noisy.shape[-1]
            channels = 4 if self.kind == "rgb" else 3
            size = (h, w) if self.kind == "rgb" else (h * 8, w * 8)
            out = torch.zeros(frames, channels + 1, *size, dtype=dtype, device=x_noisy.device)
            if hinted:
                images = comfy.utils.common_upscale(hint[hinted, :3], w * 8, h * 8, self.upscale_algorithm, "center")
                if self.kind == "rgb":
                    images = self._encode(images)
                out[hinted, :channels] = images.to(device=x_noisy.device, dtype=dtype)
                out[hinted, channels] = 1.0
            return out

        def _encode(self, images):
            """VAE latents of ``images: (k, 3, H, W)``, scaled as the diffusion model reads them."""
            if self.vae is None:
                raise ValueError(
                    f"RGB SparseCtrl {self.settings.name} encodes its hint frames with a VAE: connect the VAE to the vae "
                    f"input of Apply ControlNet")
            loaded = comfy.model_management.loaded_models(only_currently_used=True)
            latents = self.vae.encode(images.movedim(1, -1))
            comfy.model_management.load_models_gpu(loaded)
            return self.model_latent_format.process_in(latents)

        def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
            control_prev = None
            if self.previous_controlnet is not None:
                control_prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number, transformer_options)
            if self.timestep_range is not None:
                if t[0] > self.timestep_range[0] or t[0] < self.timestep_range[1]:
                    return control_prev
            dtype = self.manual_cast_dtype or self.control_model.dtype
            frames = x_noisy.shape[0] // batched_number
            info = self.control_model.sparse_info
            if self.settings.use_motion and frames > info.pe_length:
                raise ValueError(
                    f"SparseCtrl {self.settings.name}: {frames} frames in one call, but its motion modules take at most "
                    f"{info.pe_length}; use context windows of at most {info.pe_length} frames (16 is its sweet spot)")
            window = self._window_frames(frames, transformer_options)
            key = (tuple(window) if window else None, tuple(x_noisy.shape[-2:]))
            if self.cond_hint is None or key != self._hint_key:
                self.cond_hint = self._build_hint(x_noisy, frames, window, dtype)
                self._hint_key = key
            hint = self.cond_hint
            if x_noisy.shape[0] != hint.shape[0]:
                hint = hint.repeat(batched_number, 1, 1, 1)
            context = cond.get("crossattn_controlnet", cond["c_crossattn"])
            extra = self.extra_args.copy()
            for name in self.extra_conds:
                value = cond.get(name, None)
                if value is not None:
                    extra[name] = comfy.model_base.convert_tensor(value, dtype, x_noisy.device)
            timestep = self.model_sampling_current.timestep(t)
            x_noisy = self.model_sampling_current.calculate_input(t, x_noisy)
            motion = None
            if self.settings.use_motion and self.settings.motion_strength != 0.0:
                motion = {"scale": self.settings.motion_scale, "effect": self.settings.motion_strength,
                          "attention": _attention(x_noisy.device, transformer_options)}
            control = self.control_model(x=x_noisy.to(dtype), hint=hint, timesteps=timestep.to(dtype),
                                         context=comfy.model_management.cast_to_device(context, x_noisy.device, dtype),
                                         frames=frames, motion=motion, **extra)
            return self.control_merge(control, control_prev, output_dtype=None)

    return SparseCtrl


def _attention(device, transformer_options):
    import comfy.ldm.modules.attention as comfy_attention

    from .motion_patch import temporal_attention_kernel

    kernel = temporal_attention_kernel(comfy_attention, device)

    def attention(q, k, v, heads):
        return kernel(q, k, v, heads, transformer_options=transformer_options or {})

    return attention


def _diffusers_to_comfy_keys(control_sd: dict, config: dict, kind: str) -> dict:
    """Rename the diffusers ControlNet keys to ``comfy.cldm.cldm.ControlNet`` names (as core's loader)."""
    import comfy.utils

    names = comfy.utils.unet_to_diffusers(config)
    names["controlnet_mid_block.weight"] = "middle_block_out.0.weight"
    names["controlnet_mid_block.bias"] = "middle_block_out.0.bias"
    index = 0
    while f"controlnet_down_blocks.{index}.weight" in control_sd:
        for s in ("weight", "bias"):
            names[f"controlnet_down_blocks.{index}.{s}"] = f"zero_convs.{index}.0.{s}"
        index += 1
    if kind == "rgb":
        for s in ("weight", "bias"):
            names[f"controlnet_cond_embedding.{s}"] = f"input_hint_block.0.{s}"
    else:
        # conv_in, blocks.0.., conv_out -> the Sequential's convs at even positions (SiLUs between)
        convs = ["controlnet_cond_embedding.conv_in"]
        index = 0
        while f"controlnet_cond_embedding.blocks.{index}.weight" in control_sd:
            convs.append(f"controlnet_cond_embedding.blocks.{index}")
            index += 1
        convs.append("controlnet_cond_embedding.conv_out")
        for position, conv in enumerate(convs):
            for s in ("weight", "bias"):
                names[f"{conv}.{s}"] = f"input_hint_block.{position * 2}.{s}"
    renamed = {}
    for key in list(control_sd):
        if key in names:
            renamed[names[key]] = control_sd.pop(key)
    return renamed


def load_sparsectrl(path, settings: SparseCtrlSettings):
    """A :class:`SparseCtrl` CONTROL_NET from a SparseCtrl file (raises with the file named)."""
    import comfy.model_detection
    import comfy.model_management
    import comfy.ops

    source = str(path)
    control_sd, motion_sd, info = load_sparsectrl_file(path)
    config = comfy.model_detection.unet_config_from_diffusers_unet(control_sd)
    if config is None or config.get("context_dim") != 768:
        raise ValueError(f"{source}: the ControlNet part is not an SD1.5 encoder (SparseCtrl exists for SD1.5 only)")
    comfy_sd = _diffusers_to_comfy_keys(control_sd, config, info.kind)
    if control_sd:
        log.warning("SparseCtrl %s: %d keys not used: %s", source, len(control_sd), ", ".join(list(control_sd)[:4]))

    unet_dtype = comfy.model_management.unet_dtype(model_params=-1, weight_dtype=next(iter(comfy_sd.values())).dtype)
    load_device = comfy.model_management.get_torch_device()
    manual_cast_dtype = comfy.model_management.unet_manual_cast(unet_dtype, load_device)
    operations = comfy.ops.pick_operations(unet_dtype, manual_cast_dtype, disable_fast_fp8=True)
    config = dict(config)
    config.pop("out_channels", None)
    config.update(hint_channels=info.hint_channels, operations=operations, dtype=unet_dtype, device="meta")
    model_class = _controlnet_class()
    model = model_class(info=info, **config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(comfy_sd))
    unexpected = sorted(set(comfy_sd) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{source}: SparseCtrl encoder keys do not match an SD1.5 ControlNet: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    for key, value in expected.items():
        if tuple(comfy_sd[key].shape) != tuple(value.shape):
            raise ValueError(f"{source}: {key} has shape {tuple(comfy_sd[key].shape)}, expected {tuple(value.shape)}")
        comfy_sd[key] = comfy_sd[key].to(dtype=unet_dtype, memory_format=torch.contiguous_format)
    model.load_state_dict(comfy_sd, strict=True, assign=True)
    del comfy_sd
    if settings.use_motion:
        # the motion modules compute in their weights' dtype: the one the encoder's activations have
        motion_dtype = manual_cast_dtype or unet_dtype
        model.attach_motion(build_sparse_motion_model(motion_sd, info, ops=comfy.ops.disable_weight_init, dtype=motion_dtype))
    motion_sd.clear()  # unused motion weights are not kept
    model = model.eval().requires_grad_(False)
    return _sparsectrl_class()(model, settings=settings, load_device=load_device, manual_cast_dtype=manual_cast_dtype)
