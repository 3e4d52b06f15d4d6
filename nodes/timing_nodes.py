"""Frame interpolation, retiming and keyframe selection nodes: thin adapters over ``flow/``."""
from __future__ import annotations

import torch

from ..comfy_glue.common import category, comfy_progress_bar, throw_if_interrupted
from ..flow.estimate import PRESETS
from ..flow.sequence import FLOW_SOCKET_TYPE, FlowSequence, compute_flow_sequence
from ..postprocess.interpolate import PairFlowSource, inbetween_positions, render_positions
from ..postprocess.keyframes import edge_change, edge_maps, format_indices, keyframes_by_occlusion, occlusion_fractions, select_keyframes
from ..postprocess.retime import hold_plan, resample_plan, take_frames

# Socket type of the learned estimator made by the FlowWarp area's model loader.
FLOW_MODEL_SOCKET_TYPE = "SF_FLOW_MODEL"

RETIME_MODES = {
    "hold on N (same fps)": "hold",
    "repeat each frame N times (fps x N)": "repeat",
    "keep every Nth frame (fps / N)": "decimate",
    "resample to target fps": "resample",
}
RESAMPLE_METHODS = {"drop/duplicate": "nearest", "interpolate (optical flow)": "interpolate"}
KEYFRAME_METHODS = {"edge change": "edge_change", "occlusion": "occlusion_change"}


def _compute_device() -> torch.device:
    """ComfyUI's compute device (GPU when there is one); the CPU outside ComfyUI."""
    try:
        import comfy.model_management
    except ImportError:
        return torch.device("cpu")
    return comfy.model_management.get_torch_device()


def _progress(total: int):
    """A progress callback(done, total) that also honours Cancel."""
    bar = comfy_progress_bar(max(total, 1))

    def report(done: int, _total: int) -> None:
        bar.update_absolute(done, max(total, 1))
        throw_if_interrupted()

    return report


def _check_images(images, node: str, minimum: int = 1) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[-1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{node}: images must be an IMAGE batch (frames, height, width, 3), got {shape}")
    if images.shape[0] < minimum:
        raise ValueError(f"{node}: needs at least {minimum} frame(s), got {images.shape[0]}")


def _check_flow(flow, images, node: str):
    if flow is None:
        return None
    if not isinstance(flow, FlowSequence):
        raise ValueError(f"{node}: the flow input must come from the Optical Flow node (SF_FLOW), got {type(flow).__name__}")
    flow.check_frames(images.shape[0], images.shape[1], images.shape[2], "the images")
    return flow


def _flow_inputs():
    return {
        "flow": (FLOW_SOCKET_TYPE, {"tooltip": "Optical flow already computed for these same images (Optical Flow node); saves estimating it again."}),
        "flow_model": (FLOW_MODEL_SOCKET_TYPE, {"tooltip": "Optional learned flow estimator; replaces the embedded TV-L1 for pairs not covered by the flow input."}),
    }


def _estimator_inputs():
    return {
        "preset": (list(PRESETS), {"default": "balanced", "tooltip": "Embedded TV-L1 optical-flow preset used when no flow input is connected."}),
        "max_motion": ("INT", {"default": 48, "min": 2, "max": 2048, "step": 1, "tooltip": "Largest motion in pixels between two frames that the flow estimator must find."}),
    }


class SteadyFrameInterpolate:
    """Insert in-between frames made by warping both neighbours along optical flow."""

    DESCRIPTION = (
        "Frame interpolation without model downloads: multiplies the frame count by inserting multiplier-1 "
        "in-betweens into every gap. Each in-between warps both neighbouring frames along bidirectional optical flow "
        "to its time and blends them, taking content that only one neighbour shows from that neighbour. The fps output "
        "(fps x multiplier) keeps the clip's duration."
    )
    CATEGORY = category("timing")
    FUNCTION = "interpolate"
    RETURN_TYPES = ("IMAGE", "INT", "FLOAT")
    RETURN_NAMES = ("images", "frame_count", "fps")
    OUTPUT_TOOLTIPS = (
        "Source frames with the in-betweens inserted ((F-1) x multiplier + 1 frames; F x multiplier in loop mode).",
        "Number of output frames.",
        "fps x multiplier: the frame rate that keeps the clip's duration (connect it to the video writer).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The frames to interpolate (at least 2)."}),
                "multiplier": ("INT", {"default": 2, "min": 2, "max": 16, "step": 1, "tooltip": "Output frames per source frame: 2 doubles the frame rate (one in-between per gap), 3 triples it, ..."}),
                "keep_source_frames": ("BOOLEAN", {"default": True, "tooltip": "On: the source frames appear unchanged (bit-exact) between the in-betweens. Off: output only the in-betweens."}),
                "loop": ("BOOLEAN", {"default": False, "tooltip": "Also interpolate from the last frame back to the first, for clips that loop; the first frame is not repeated at the end."}),
                "fps": ("FLOAT", {"default": 12.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": "Frame rate of the input frames; the fps output is this times the multiplier."}),
                **_estimator_inputs(),
            },
            "optional": _flow_inputs(),
        }

    def interpolate(self, images, multiplier, keep_source_frames, loop, fps, preset, max_motion, flow=None,
                    flow_model=None):
        node = "Interpolate Frames"
        _check_images(images, node, minimum=2)
        if multiplier < 1:
            raise ValueError(f"{node}: multiplier must be at least 1, got {multiplier}")
        flow = _check_flow(flow, images, node)
        positions = inbetween_positions(images.shape[0], int(multiplier), bool(loop), bool(keep_source_frames))
        pairs = PairFlowSource(images, flow, preset=preset, max_motion=float(max_motion), estimator=flow_model,
                               device=_compute_device())
        throw_if_interrupted()
        out = render_positions(images, positions, pairs, loop=bool(loop), progress=_progress(len(positions)),
                               device=_compute_device())
        return (out, out.shape[0], float(fps) * int(multiplier))


class SteadyFrameRetime:
    """Animate on twos/threes, or change the frame rate."""

    DESCRIPTION = (
        "Retimes a clip and reports the new frame count and fps for the video output. Hold on N keeps every Nth frame "
        "on screen for N frames (the hand-drawn 'on twos' look) at the same fps; repeat shows each frame N times at N x "
        "the fps; keep every Nth drops the others and divides the fps; resample changes the fps keeping the duration, "
        "by dropping/duplicating frames or by optical-flow interpolation."
    )
    CATEGORY = category("timing")
    FUNCTION = "retime"
    RETURN_TYPES = ("IMAGE", "INT", "FLOAT")
    RETURN_NAMES = ("images", "frame_count", "fps")
    OUTPUT_TOOLTIPS = (
        "The retimed frames.",
        "Number of output frames.",
        "Frame rate to play the output at (connect it to the video writer's frame rate).",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The frames to retime."}),
                "fps": ("FLOAT", {"default": 24.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": "Frame rate of the input frames."}),
                "mode": (list(RETIME_MODES), {"default": "hold on N (same fps)", "tooltip": "How to retime (see the node description)."}),
                "n": ("INT", {"default": 2, "min": 1, "max": 24, "step": 1, "tooltip": "N for the hold/repeat/keep modes: 2 = on twos, 3 = on threes."}),
                "target_fps": ("FLOAT", {"default": 24.0, "min": 0.01, "max": 1000.0, "step": 0.001, "tooltip": "Output frame rate of the resample mode."}),
                "resample_method": (list(RESAMPLE_METHODS), {"default": "drop/duplicate", "tooltip": "Resample by showing the nearest source frame, or by synthesising in-betweens along optical flow."}),
                **_estimator_inputs(),
            },
            "optional": _flow_inputs(),
        }

    def retime(self, images, fps, mode, n, target_fps, resample_method, preset, max_motion, flow=None, flow_model=None):
        node = "Retime"
        _check_images(images, node)
        if mode not in RETIME_MODES:
            raise ValueError(f"{node}: mode {mode!r} is not one of {', '.join(RETIME_MODES)}")
        if resample_method not in RESAMPLE_METHODS:
            raise ValueError(f"{node}: resample_method {resample_method!r} is not one of {', '.join(RESAMPLE_METHODS)}")
        kind = RETIME_MODES[mode]
        if kind == "resample":
            plan = resample_plan(images.shape[0], float(fps), float(target_fps), RESAMPLE_METHODS[resample_method])
        else:
            plan = hold_plan(images.shape[0], float(fps), int(n), kind)
        if plan.is_integral:
            out = take_frames(images, plan.positions)
        else:
            flow = _check_flow(flow, images, node)
            pairs = PairFlowSource(images, flow, preset=preset, max_motion=float(max_motion), estimator=flow_model,
                                   device=_compute_device())
            throw_if_interrupted()
            out = render_positions(images, plan.positions, pairs, progress=_progress(plan.frame_count),
                                   device=_compute_device())
        return (out, out.shape[0], plan.fps)


class SteadyFrameSelectKeyframes:
    """Pick keyframes where the picture has changed enough since the last one."""

    DESCRIPTION = (
        "Chooses keyframes for FlowWarp where the content changes rather than every N frames: a new keyframe when the "
        "change since the last keyframe reaches the threshold (edges that appeared or vanished, or the share of "
        "pixels the optical flow could not follow), never closer than min_gap and never further apart than max_gap. "
        "Outputs the indices for FlowWarp's keyframe_indices and the keyframe images to stylise."
    )
    CATEGORY = category("timing")
    FUNCTION = "select"
    RETURN_TYPES = ("STRING", "IMAGE", "INT")
    RETURN_NAMES = ("keyframe_indices", "keyframes", "keyframe_count")
    OUTPUT_TOOLTIPS = (
        "Comma-separated frame indices of the keyframes, e.g. \"0, 9, 21, 35\" (FlowWarp's keyframe_indices).",
        "The keyframe frames, in index order.",
        "Number of keyframes.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The source video frames."}),
                "method": (list(KEYFRAME_METHODS), {"default": "edge change", "tooltip": "edge change: fast, no optical flow; occlusion: uses optical flow (connect a flow input to reuse it)."}),
                "edge_threshold": ("FLOAT", {"default": 60.0, "min": 0.0, "max": 100.0, "step": 0.5, "tooltip": "Edge change method: percent of edges that appeared or vanished since the last keyframe (a scene cut is about 80-100)."}),
                "occlusion_threshold": ("FLOAT", {"default": 15.0, "min": 0.0, "max": 1000.0, "step": 0.5, "tooltip": "Occlusion method: percent of the picture that the flow could not follow, summed over the frames since the last keyframe."}),
                "min_gap": ("INT", {"default": 4, "min": 1, "max": 10000, "step": 1, "tooltip": "Fewest frames between two keyframes."}),
                "max_gap": ("INT", {"default": 24, "min": 1, "max": 10000, "step": 1, "tooltip": "Most frames between two keyframes: a keyframe is forced after this many."}),
                "include_last": ("BOOLEAN", {"default": True, "tooltip": "Also make the last frame a keyframe (unless it is closer than min_gap to the previous one), so every frame lies between two keyframes."}),
                **_estimator_inputs(),
            },
            "optional": _flow_inputs(),
        }

    def select(self, images, method, edge_threshold, occlusion_threshold, min_gap, max_gap, include_last, preset,
               max_motion, flow=None, flow_model=None):
        node = "Select Keyframes"
        _check_images(images, node)
        if method not in KEYFRAME_METHODS:
            raise ValueError(f"{node}: method {method!r} is not one of {', '.join(KEYFRAME_METHODS)}")
        if max_gap < min_gap:
            raise ValueError(f"{node}: max_gap ({max_gap}) must not be smaller than min_gap ({min_gap})")
        throw_if_interrupted()
        if KEYFRAME_METHODS[method] == "edge_change":
            edges = edge_maps(images, progress=_progress(images.shape[0]))
            indices = select_keyframes(images.shape[0], lambda key, i: edge_change(edges, key, i), float(edge_threshold),
                                       int(min_gap), int(max_gap), bool(include_last))
        else:
            flow = _check_flow(flow, images, node)
            if flow is None and images.shape[0] > 1:
                flow = compute_flow_sequence(images, preset=preset, progress=_progress(images.shape[0] - 1),
                                             max_motion=float(max_motion), estimator=flow_model,
                                             device=_compute_device())
            fractions = occlusion_fractions(flow.forward, flow.backward) if flow is not None else []
            indices = keyframes_by_occlusion(fractions, float(occlusion_threshold), int(min_gap), int(max_gap),
                                             bool(include_last))
        keyframes = images[torch.tensor(indices, dtype=torch.long, device=images.device)]
        return (format_indices(indices), keyframes, len(indices))


NODE_CLASS_MAPPINGS = {
    "SteadyFrameInterpolate": SteadyFrameInterpolate,
    "SteadyFrameRetime": SteadyFrameRetime,
    "SteadyFrameSelectKeyframes": SteadyFrameSelectKeyframes,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "SteadyFrameInterpolate": "Interpolate Frames",
    "SteadyFrameRetime": "Retime",
    "SteadyFrameSelectKeyframes": "Select Keyframes",
}
