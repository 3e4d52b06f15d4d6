"""Optical flow and FlowWarp nodes: thin adapters over ``flow/``."""
from __future__ import annotations

import torch

from ..comfy_glue.common import category, comfy_progress_bar, extend_model_folder, model_file_names, model_file_path, throw_if_interrupted
from ..flow.estimate import PRESETS
from ..flow.keyframe_warp import WarpSettings, check_keyframes, parse_keyframe_indices, warp_keyframes
from ..flow.sequence import FLOW_SOCKET_TYPE, FlowSequence, compute_flow_sequence

FLOW_MODEL_FOLDER = "optical_flow"
RESOLUTIONS = ("full", "half")
SIZE_MISMATCH = ("error", "resize keyframes")
FLOW_MODEL_SOCKET_TYPE = "SF_FLOW_MODEL"


def register_flow_model_folder() -> bool:
    """``models/optical_flow`` in ComfyUI's model folders (extending the user's paths); False outside ComfyUI."""
    return extend_model_folder(FLOW_MODEL_FOLDER)


def _half_resolution(choice: str):
    if choice not in RESOLUTIONS:
        raise ValueError(f"resolution {choice!r} is not one of {', '.join(RESOLUTIONS)}")
    return choice == "half"


def _compute_device() -> torch.device:
    """ComfyUI's compute device (GPU when there is one), CPU outside ComfyUI."""
    try:
        import comfy.model_management
    except ImportError:
        return torch.device("cpu")
    return comfy.model_management.get_torch_device()


def _progress_callback(total: int):
    bar = comfy_progress_bar(total)

    def report(done: int, _total: int) -> None:
        bar.update_absolute(done, total)
        throw_if_interrupted()

    return report


def _estimator_settings(max_motion_default: int = 48, max_motion_tip: str = "Largest displacement in pixels between two consecutive frames; with the image size it sets the pyramid depth. Raise it for fast motion."):
    return {
        "preset": (list(PRESETS), {"default": "balanced", "tooltip": "Embedded TV-L1 estimator: fast (fewer warps and iterations), balanced, or quality (more warps, 5x5 median). Ignored when a flow_model is connected."}),
        "resolution": (list(RESOLUTIONS), {"default": "full", "tooltip": "Estimate flow at full or half resolution (half is about 4x faster, with softer motion edges: a draft mode)."}),
        "max_motion": ("INT", {"default": max_motion_default, "min": 2, "max": 2048, "step": 1, "tooltip": max_motion_tip}),
    }


class SteadyFrameOpticalFlow:
    """Compute optical flow once for a clip so that FlowWarp and Deflicker can share it."""

    DESCRIPTION = (
        "Estimates forward and backward optical flow between every pair of consecutive frames with the embedded "
        "TV-L1 estimator (no model download) or a RAFT model. Connect the flow output to FlowWarp or Deflicker to "
        "compute it only once."
    )
    CATEGORY = category("flow")
    FUNCTION = "compute"
    RETURN_TYPES = (FLOW_SOCKET_TYPE,)
    RETURN_NAMES = ("flow",)
    OUTPUT_TOOLTIPS = ("Forward and backward flow between consecutive frames (4 MB per frame at 512x512, held in CPU memory).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"frames": ("IMAGE", {"tooltip": "The source video frames."}), **_estimator_settings()},
            "optional": {
                "flow_model": (FLOW_MODEL_SOCKET_TYPE, {"tooltip": "Optional learned estimator from Load Optical Flow Model; replaces TV-L1."}),
            },
        }

    def compute(self, frames, preset, resolution, max_motion, flow_model=None):
        if frames.shape[0] < 2:
            raise ValueError(f"Optical Flow needs at least 2 frames, got {frames.shape[0]}")
        total = frames.shape[0] - 1
        throw_if_interrupted()
        sequence = compute_flow_sequence(
            frames, preset=preset, progress=_progress_callback(total), half_resolution=_half_resolution(resolution),
            max_motion=float(max_motion), estimator=flow_model, device=_compute_device(),
        )
        return (sequence,)


class SteadyFrameFlowWarp:
    """Propagate stylised keyframes along the source video's flow; mask what cannot be carried."""

    DESCRIPTION = (
        "Carries stylised keyframes to the other frames along the optical flow of the source video. Each frame is "
        "warped once from its previous and next keyframe and the two are blended; keyframes come out unchanged at "
        "their indices. The mask is 1 where neither keyframe can explain the pixel (disocclusions, frame edges): "
        "inpaint there."
    )
    CATEGORY = category("flow")
    FUNCTION = "warp"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("images", "mask")
    OUTPUT_TOOLTIPS = (
        "One frame per source frame: the keyframes at their indices, warped keyframes elsewhere.",
        "1 where the warped result is unreliable and should be inpainted (dilated); 0 on keyframes.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "The source video (F frames); flow is measured on these."}),
                "keyframes": ("IMAGE", {"tooltip": "K stylised keyframes, one per index in keyframe_indices."}),
                "keyframe_indices": ("STRING", {"default": "0", "multiline": False, "tooltip": "Source frame index of each keyframe, comma-separated, e.g. \"0, 12, 24\". Negative counts from the end (-1 = last frame)."}),
                **_estimator_settings(96, "Largest displacement in pixels between a frame and its keyframe (flow is estimated directly between them when no flow input is connected); with the image size it sets the pyramid depth."),
                "mask_dilation": ("INT", {"default": 4, "min": 0, "max": 256, "step": 1, "tooltip": "Grow the unreliable mask by this many pixels so inpainting covers the seams."}),
                "consistency_tolerance": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 20.0, "step": 0.05, "tooltip": "Forward-backward check: pixels whose round trip misses by more than this many pixels (plus 1% of the motion) are unreliable."}),
                "color_tolerance": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Photometric check on the source frames: mean colour difference (0..1) above which a warped pixel is unreliable. 1 = off."}),
                "interpolation": (["bicubic", "bilinear"], {"default": "bicubic", "tooltip": "How keyframes are sampled; bicubic keeps more detail."}),
                "on_size_mismatch": (list(SIZE_MISMATCH), {"default": "error", "tooltip": "Keyframes of another size than the frames: stop with an error, or resize the keyframes to the frames' size."}),
            },
            "optional": {
                "flow": (FLOW_SOCKET_TYPE, {"tooltip": "Precomputed flow of these frames (Optical Flow node). Without it, flow is estimated directly between each frame and its keyframes."}),
                "flow_model": (FLOW_MODEL_SOCKET_TYPE, {"tooltip": "Optional learned estimator (direct mode only)."}),
            },
        }

    def warp(self, frames, keyframes, keyframe_indices, preset, resolution, max_motion, mask_dilation,
             consistency_tolerance, color_tolerance, interpolation, on_size_mismatch, flow=None, flow_model=None):
        if on_size_mismatch not in SIZE_MISMATCH:
            raise ValueError(f"on_size_mismatch {on_size_mismatch!r} is not one of {', '.join(SIZE_MISMATCH)}")
        indices = parse_keyframe_indices(keyframe_indices, frames.shape[0])
        keyframes = check_keyframes(frames, keyframes, indices, resize=on_size_mismatch == "resize keyframes")
        if flow is not None and not isinstance(flow, FlowSequence):
            raise ValueError(f"the flow input must come from the Optical Flow node (SF_FLOW), got {type(flow).__name__}")
        settings = WarpSettings(
            preset=preset, half_resolution=_half_resolution(resolution), max_motion=float(max_motion),
            fb_beta=float(consistency_tolerance), photometric_threshold=None if color_tolerance >= 1.0 else float(color_tolerance),
            mask_dilation=int(mask_dilation), interpolation=interpolation,
        )
        throw_if_interrupted()
        images, masks = warp_keyframes(frames, keyframes, indices, settings, flow=flow, device=_compute_device(),
                                       estimator=flow_model, progress=_progress_callback(frames.shape[0]))
        return (images, masks)


class SteadyFrameLoadFlowModel:
    """Load RAFT weights the user placed in models/optical_flow."""

    DESCRIPTION = (
        "Loads a RAFT-large optical-flow model from ComfyUI's models/optical_flow folder (torchvision raft_large "
        "weights or the original raft-things / raft-sintel checkpoints; nothing is downloaded). Connect it to "
        "Optical Flow or Flow Warp to use it instead of the embedded TV-L1 estimator."
    )
    CATEGORY = category("flow")
    FUNCTION = "load"
    RETURN_TYPES = (FLOW_MODEL_SOCKET_TYPE,)
    RETURN_NAMES = ("flow_model",)
    OUTPUT_TOOLTIPS = ("A learned flow estimator for the Optical Flow and Flow Warp nodes.",)

    @classmethod
    def INPUT_TYPES(cls):
        names = model_file_names(FLOW_MODEL_FOLDER)
        return {
            "required": {
                "model_name": (names, {"tooltip": "A RAFT-large weights file (.pth or .safetensors) in models/optical_flow."}),
                "iterations": ("INT", {"default": 12, "min": 1, "max": 64, "step": 1, "tooltip": "Refinement iterations; 12 is RAFT's default, more is slower and slightly sharper."}),
            }
        }

    def load(self, model_name, iterations):
        from ..flow.raft import RaftEstimator, load_raft

        path = model_file_path(FLOW_MODEL_FOLDER, model_name, "optical-flow model")
        return (RaftEstimator(load_raft(path, device=_compute_device()), iterations=iterations, name=model_name),)


class SteadyFrameFlowPreview:
    """Look at a computed flow: colour pictures and the pixels the flow cannot follow."""

    DESCRIPTION = (
        "Shows an Optical Flow result as colour pictures (hue = direction, saturation = speed, white = still) and "
        "as a mask of the pixels whose flow is unreliable (forward-backward mismatch, leaving the frame, or not seen "
        "in the other frame). One picture per pair of consecutive frames."
    )
    CATEGORY = category("flow")
    FUNCTION = "preview"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("flow_images", "unreliable")
    OUTPUT_TOOLTIPS = (
        "F-1 colour pictures of the flow from each frame to the next (or back, for direction = backward).",
        "F-1 masks, 1 where that flow is unreliable.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "flow": (FLOW_SOCKET_TYPE, {"tooltip": "Output of the Optical Flow node."}),
                "direction": (["forward", "backward"], {"default": "forward", "tooltip": "forward: frame t to t+1; backward: frame t+1 to t."}),
                "max_magnitude": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 4096.0, "step": 0.5, "tooltip": "Speed in pixels shown fully saturated; 0 = the fastest motion in the clip (same scale for every picture)."}),
            }
        }

    def preview(self, flow, direction, max_magnitude):
        from ..flow.occlusion import flow_confidence
        from ..flow.visualize import flow_to_rgb

        if not isinstance(flow, FlowSequence):
            raise ValueError(f"the flow input must come from the Optical Flow node (SF_FLOW), got {type(flow).__name__}")
        if direction not in ("forward", "backward"):
            raise ValueError(f"direction {direction!r} is not forward or backward")
        pairs = flow.forward.shape[0]
        if pairs == 0:
            raise ValueError("the flow input holds no frame pairs (it was computed from a single frame)")
        there, back = (flow.forward, flow.backward) if direction == "forward" else (flow.backward, flow.forward)
        scale = max_magnitude if max_magnitude > 0 else float(torch.linalg.vector_norm(there, dim=1).max().clamp_min(1e-6))
        images = torch.empty(pairs, flow.height, flow.width, 3)
        masks = torch.empty(pairs, flow.height, flow.width)
        for i in range(pairs):
            throw_if_interrupted()
            images[i] = flow_to_rgb(there[i:i + 1], scale)[0].permute(1, 2, 0)
            confidence = flow_confidence(None, None, there[i:i + 1], back[i:i + 1], photometric_threshold=None)
            masks[i] = 1.0 - confidence[0, 0]
        return (images, masks)


NODE_CLASS_MAPPINGS = {
    "SteadyFrameOpticalFlow": SteadyFrameOpticalFlow,
    "SteadyFrameFlowPreview": SteadyFrameFlowPreview,
    "SteadyFrameLoadFlowModel": SteadyFrameLoadFlowModel,
    "SteadyFrameFlowWarp": SteadyFrameFlowWarp,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFrameOpticalFlow": "Optical Flow",
    "SteadyFrameFlowWarp": "Flow Warp Keyframes",
    "SteadyFrameLoadFlowModel": "Load Optical Flow Model",
    "SteadyFrameFlowPreview": "Preview Optical Flow",
}
