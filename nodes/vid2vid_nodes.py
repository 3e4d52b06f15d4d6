"""Video-to-video nodes: per-window ControlNet, consistent noise, start/end keyframe latents."""
from __future__ import annotations

from ..comfy_glue.common import category, comfy_progress_bar, throw_if_interrupted
from ..comfy_glue.control_windows import enable_per_window_control
from ..motion.keyframe_latents import blend_keyframe_latents
from ..motion.noise import NOISE_MODES, make_noise

try:
    from ..flow.estimate import PRESETS as _FLOW_PRESETS

    FLOW_PRESETS = tuple(_FLOW_PRESETS)
except ImportError:  # the flow module is optional for everything but flow-warped noise
    FLOW_PRESETS = ("fast", "balanced", "quality")

FLOW_SOCKET_TYPE = "SF_FLOW"
MAX_SEED = 0xFFFFFFFFFFFFFFFF


class SteadyFramePerWindowControl:
    """MODEL -> MODEL: every context window gets its own frames of a per-frame ControlNet hint."""

    DESCRIPTION = (
        "Makes ControlNet and T2I-adapter hints follow context windows: with a per-frame hint (an IMAGE batch of one "
        "frame per latent frame, applied with Apply ControlNet), each window is guided by its own hint frames instead "
        "of the first window's. Works with core Context Windows (Manual) placed before or after this node; chained "
        "ControlNets included. A hint must have 1 frame or one per latent frame."
    )
    CATEGORY = category("vid2vid")
    RETURN_TYPES = ("MODEL",)
    RETURN_NAMES = ("model",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {"tooltip": "The model that samples with context windows."})}}

    def patch(self, model):
        patched = model.clone()
        enable_per_window_control(patched)
        return (patched,)


class ConsistentNoise:
    """A NOISE object for core SamplerCustomAdvanced: ``seed`` and ``generate_noise(latent)``."""

    def __init__(self, seed: int, mode: str, strength: float = 0.5, context_length: int = 16, context_overlap: int = 4,
                 flow=None, subdivisions: int = 8):
        self.seed = int(seed)
        self.mode = mode
        self.strength = float(strength)
        self.context_length = int(context_length)
        self.context_overlap = int(context_overlap)
        self.flow = flow
        self.subdivisions = int(subdivisions)

    def generate_noise(self, input_latent):
        samples = input_latent["samples"]
        shape = "a nested tensor" if getattr(samples, "is_nested", False) else f"shape {tuple(samples.shape)}"
        if getattr(samples, "is_nested", False) or samples.dim() != 4:
            raise ValueError(
                f"Consistent Noise needs latents shaped (frames, channels, height, width), as SD1.5/SDXL AnimateDiff "
                f"uses them; got {shape}"
            )
        frames, _, height, width = samples.shape
        forward = None
        progress = None
        if self.mode == "flow-warped":
            forward = self.flow.forward
            if self.flow.frame_count != frames:
                raise ValueError(
                    f"the flow was computed for {self.flow.frame_count} source frames but the latent batch has {frames} "
                    f"frames; compute the flow from the same frames the latents were made from"
                )
            _check_aspect(self.flow.height, self.flow.width, height, width)
            bar = comfy_progress_bar(max(frames - 1, 1))

            def progress(done, total):
                throw_if_interrupted()
                bar.update_absolute(done, total)

        return make_noise(self.mode, samples.shape, self.seed, samples.dtype, strength=self.strength,
                          context_length=self.context_length, context_overlap=self.context_overlap,
                          forward_flow=forward, subdivisions=self.subdivisions,
                          batch_index=input_latent.get("batch_index"), progress=progress)


def _check_aspect(image_height: int, image_width: int, latent_height: int, latent_width: int) -> None:
    ratio_h = image_height / latent_height
    ratio_w = image_width / latent_width
    if abs(ratio_h / ratio_w - 1.0) > 0.1:
        raise ValueError(
            f"the flow is {image_width}x{image_height} pixels but the latents are {latent_width}x{latent_height} "
            f"(x8 = {latent_width * 8}x{latent_height * 8} pixels), a different aspect ratio; compute the flow from "
            f"source frames with the latents' aspect ratio"
        )


class SteadyFrameNoise:
    DESCRIPTION = (
        "Initial noise for SamplerCustomAdvanced with chosen frame-to-frame consistency: per-frame (ordinary), shared "
        "(one noise on every frame), mixed (shared + per-frame, still unit variance), FreeNoise (window-shuffled, as "
        "core's) or flow-warped (noise carried along the source video's optical flow, 'How I Warped Your Noise')."
    )
    CATEGORY = category("vid2vid")
    RETURN_TYPES = ("NOISE",)
    RETURN_NAMES = ("noise",)
    FUNCTION = "get_noise"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "noise_seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True,
                                       "tooltip": "Seed of the noise; per-frame mode gives exactly core RandomNoise's noise for it."}),
                "mode": (list(NOISE_MODES), {"default": "per-frame",
                                             "tooltip": "How frames relate: independent, one shared noise, a blend, "
                                                        "FreeNoise shuffling, or warped along the source video's motion."}),
                "strength": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "mixed: weight of the shared noise (0 = per-frame, 1 = shared). "
                                                  "Neighbouring frames correlate by s^2 / (s^2 + (1-s)^2)."}),
                "context_length": ("INT", {"default": 16, "min": 1, "max": 256,
                                           "tooltip": "FreeNoise: the context window length used for sampling."}),
                "context_overlap": ("INT", {"default": 4, "min": 0, "max": 255,
                                            "tooltip": "FreeNoise: the context window overlap used for sampling."}),
                "subdivisions": ("INT", {"default": 8, "min": 1, "max": 16,
                                         "tooltip": "flow-warped: sub-pixels per latent pixel side for the noise "
                                                    "transport (more = finer sub-pixel motion, slower)."}),
            },
            "optional": {
                "flow": (FLOW_SOCKET_TYPE, {"tooltip": "flow-warped: optical flow of the source video (Optical Flow node)."}),
                "source_images": ("IMAGE", {"tooltip": "flow-warped: source video frames, used when no flow is connected."}),
                "flow_preset": (list(FLOW_PRESETS), {"default": "balanced",
                                                     "tooltip": "flow-warped: optical-flow preset for source_images."}),
            },
        }

    def get_noise(self, noise_seed, mode, strength, context_length, context_overlap, subdivisions,
                  flow=None, source_images=None, flow_preset="balanced"):
        if mode not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {mode!r}; expected one of {', '.join(NOISE_MODES)}")
        if mode == "FreeNoise" and context_overlap >= context_length:
            raise ValueError(f"FreeNoise context_overlap ({context_overlap}) must be smaller than context_length ({context_length})")
        if mode == "flow-warped":
            if flow is None:
                if source_images is None:
                    raise ValueError("flow-warped noise needs the source video: connect flow (SF_FLOW) or source_images (IMAGE)")
                flow = _compute_flow(source_images, flow_preset)
        else:
            flow = None
        return (ConsistentNoise(noise_seed, mode, strength, context_length, context_overlap, flow, subdivisions),)


def _compute_flow(source_images, preset):
    from ..flow.sequence import compute_flow_sequence

    bar = comfy_progress_bar(max(int(source_images.shape[0]) - 1, 1))

    def progress(done, total):
        throw_if_interrupted()
        bar.update_absolute(done, total)

    return compute_flow_sequence(source_images, preset=preset, progress=progress)


class SteadyFrameKeyframeLatents:
    DESCRIPTION = (
        "Blends VAE-encoded start and/or end images into a clip's initial latents with a weight that decays away from "
        "each end: w(d) = strength * max(0, 1 - d^power / scale) at d frames from that end (A1111 AnimateDiff's latent "
        "power and scale). For img2vid (start) and looping clips (the same image at both ends); sample with denoise < 1."
    )
    CATEGORY = category("vid2vid")
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("latent",)
    FUNCTION = "blend"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "latents": ("LATENT", {"tooltip": "The clip's initial latents (one per frame)."}),
                "start_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                             "tooltip": "Weight of the start latent on the first frame."}),
                "end_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                           "tooltip": "Weight of the end latent on the last frame."}),
                "power": ("FLOAT", {"default": 1.0, "min": 0.05, "max": 10.0, "step": 0.05,
                                    "tooltip": "Latent power: larger falls off faster (1 = linear)."}),
                "scale": ("FLOAT", {"default": 32.0, "min": 0.1, "max": 10000.0, "step": 0.1,
                                    "tooltip": "Latent scale: with power 1 the weight reaches 0 this many frames from the end."}),
            },
            "optional": {
                "start_latent": ("LATENT", {"tooltip": "VAE-encoded start image (its first frame is used)."}),
                "end_latent": ("LATENT", {"tooltip": "VAE-encoded end image (its last frame is used)."}),
            },
        }

    def blend(self, latents, start_strength, end_strength, power, scale, start_latent=None, end_latent=None):
        samples = latents["samples"]
        if samples.dim() != 4:
            raise ValueError(f"latents must be (frames, channels, height, width), got shape {tuple(samples.shape)}")
        out = latents.copy()
        out["samples"] = blend_keyframe_latents(
            samples,
            start=None if start_latent is None else start_latent["samples"],
            end=None if end_latent is None else end_latent["samples"],
            start_strength=start_strength, end_strength=end_strength, power=power, scale=scale,
        )
        return (out,)


NODE_CLASS_MAPPINGS = {
    "SteadyFramePerWindowControl": SteadyFramePerWindowControl,
    "SteadyFrameNoise": SteadyFrameNoise,
    "SteadyFrameKeyframeLatents": SteadyFrameKeyframeLatents,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFramePerWindowControl": "Per-Window ControlNet (Context Windows)",
    "SteadyFrameNoise": "Consistent Noise",
    "SteadyFrameKeyframeLatents": "Start/End Keyframe Latents",
}
