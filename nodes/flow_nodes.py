"""Optical flow and FlowWarp nodes: declarations over ``flow/`` and ``comfy_glue/flow.py``."""
from ..comfy_glue.chunk_state import running_node_id, state_owner
from ..comfy_glue.flow import flow_model_names, flow_options, load_flow_model
from ..comfy_glue.runtime import progress_callback
from ..flow.chunk_warp import flow_warp_chunk
from ..flow.chunked import chunk_flow
from ..flow.estimate import FlowPreset, Resolution
from ..flow.keyframe_warp import Sampling, SizeMismatch, flow_warp
from ..flow.provider import flow_for
from ..flow.visualize import FlowDirection, preview_flow
from .schema import Chunk, Flow, FlowModel, category, io

PRESET_TIP = ("Embedded TV-L1 estimator: fast (fewer warps and iterations), balanced, or quality (more warps, 5x5 "
              "median). Ignored when a flow_model is connected.")
RESOLUTION_TIP = ("Estimate flow at full or half resolution (half is about 4x faster, with softer motion edges: a "
                  "draft mode).")

CHUNK_FLOW_TIP = ("Long videos: this run's chunk from the chunk control. The flow covers the chunk's loaded frames; "
                  "without overlap the pair across the boundary (previous chunk's last frame to this chunk's first) "
                  "is estimated too, so Interpolate sees across it.")


def estimator_inputs(max_motion_default: int, max_motion_tip: str) -> list:
    """preset, resolution, max_motion: how Optical Flow and Flow Warp estimate flow."""
    return [
        io.Combo.Input("preset", options=FlowPreset, default=FlowPreset.BALANCED, tooltip=PRESET_TIP),
        io.Combo.Input("resolution", options=Resolution, default=Resolution.FULL, tooltip=RESOLUTION_TIP),
        io.Int.Input("max_motion", default=max_motion_default, min=2, max=2048, step=1, tooltip=max_motion_tip),
    ]


class SteadyFrameOpticalFlow(io.ComfyNode):
    """Compute optical flow once for a clip so that FlowWarp and Deflicker can share it."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameOpticalFlow",
            display_name="Optical Flow",
            category=category("flow"),
            description=("Estimates forward and backward optical flow between every pair of consecutive frames with the "
                         "embedded TV-L1 estimator (no model download) or a RAFT model. Connect the flow output to "
                         "FlowWarp or Deflicker to compute it only once."),
            inputs=[
                io.Image.Input("frames", tooltip="The source video frames."),
                *estimator_inputs(48, "Largest displacement in pixels between two consecutive frames; with the image "
                                      "size it sets the pyramid depth. Raise it for fast motion."),
                FlowModel.Input("flow_model", optional=True,
                                tooltip="Optional learned estimator from Load Optical Flow Model; replaces TV-L1."),
                Chunk.Input("chunk", optional=True, tooltip=CHUNK_FLOW_TIP),
            ],
            outputs=[Flow.Output("flow", tooltip="Forward and backward flow between consecutive frames (4 MB per frame "
                                                 "at 512x512, held in CPU memory).")],
        )

    @classmethod
    def execute(cls, frames, preset, resolution, max_motion, flow_model=None, chunk=None) -> io.NodeOutput:
        options = flow_options(preset, max_motion, flow_model, resolution)
        if chunk is not None:
            return io.NodeOutput(chunk_flow(frames, chunk, state_owner("optical-flow", running_node_id()), options,
                                            progress_callback()))
        return io.NodeOutput(flow_for(frames, options=options, progress=progress_callback(), minimum=2))


class SteadyFrameFlowWarp(io.ComfyNode):
    """Propagate stylised keyframes along the source video's flow; mask what cannot be carried."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameFlowWarp",
            display_name="Flow Warp Keyframes",
            category=category("flow"),
            description=("Carries stylised keyframes to the other frames along the optical flow of the source video. "
                         "Each frame is warped once from its previous and next keyframe and the two are blended; "
                         "keyframes come out unchanged at their indices. The mask is 1 where neither keyframe can "
                         "explain the pixel (disocclusions, frame edges): inpaint there."),
            inputs=[
                io.Image.Input("frames", tooltip="The source video (F frames); flow is measured on these."),
                io.Image.Input("keyframes", tooltip="K stylised keyframes, one per index in keyframe_indices."),
                io.String.Input("keyframe_indices", default="0", multiline=False,
                                tooltip="Source frame index of each keyframe, comma-separated, e.g. \"0, 12, 24\". "
                                        "Negative counts from the end (-1 = last frame)."),
                *estimator_inputs(96, "Largest displacement in pixels between a frame and its keyframe (flow is "
                                      "estimated directly between them when no flow input is connected); with the "
                                      "image size it sets the pyramid depth."),
                io.Int.Input("mask_dilation", default=4, min=0, max=256, step=1,
                             tooltip="Grow the unreliable mask by this many pixels so inpainting covers the seams."),
                io.Float.Input("consistency_tolerance", default=0.5, min=0.0, max=20.0, step=0.05,
                               tooltip="Forward-backward check: pixels whose round trip misses by more than this many "
                                       "pixels (plus 1% of the motion) are unreliable."),
                io.Float.Input("color_tolerance", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Photometric check on the source frames: mean colour difference (0..1) above "
                                       "which a warped pixel is unreliable. 1 = off."),
                io.Combo.Input("interpolation", options=Sampling, default=Sampling.BICUBIC,
                               tooltip="How keyframes are sampled; bicubic keeps more detail."),
                io.Combo.Input("on_size_mismatch", options=SizeMismatch, default=SizeMismatch.ERROR,
                               tooltip="Keyframes of another size than the frames: stop with an error, or resize the "
                                       "keyframes to the frames' size."),
                Flow.Input("flow", optional=True,
                           tooltip="Precomputed flow of these frames (Optical Flow node). Without it, flow is estimated "
                                   "directly between each frame and its keyframes."),
                FlowModel.Input("flow_model", optional=True, tooltip="Optional learned estimator (direct mode only)."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Long videos: this run's chunk (frames = its loaded frames). keyframe_indices are "
                                    "then frame numbers of the whole video and keyframes holds every keyframe; the "
                                    "previous keyframe is carried from chunk to chunk. Frames whose next keyframe lies "
                                    "in a later chunk are warped from the previous keyframe only."),
            ],
            outputs=[
                io.Image.Output("images", tooltip="One frame per source frame: the keyframes at their indices, warped "
                                                  "keyframes elsewhere."),
                io.Mask.Output("mask", tooltip="1 where the warped result is unreliable and should be inpainted "
                                               "(dilated); 0 on keyframes."),
            ],
        )

    @classmethod
    def execute(cls, frames, keyframes, keyframe_indices, preset, resolution, max_motion, mask_dilation,
                consistency_tolerance, color_tolerance, interpolation, on_size_mismatch, flow=None,
                flow_model=None, chunk=None) -> io.NodeOutput:
        if chunk is not None:
            images, masks = flow_warp_chunk(
                frames, keyframes, keyframe_indices, chunk, state_owner("flow-warp", running_node_id()),
                consistency_tolerance=consistency_tolerance, color_tolerance=color_tolerance,
                mask_dilation=mask_dilation, interpolation=interpolation, on_size_mismatch=on_size_mismatch, flow=flow,
                options=flow_options(preset, max_motion, flow_model, resolution), progress=progress_callback())
            return io.NodeOutput(images, masks)
        images, masks = flow_warp(
            frames, keyframes, keyframe_indices, consistency_tolerance=consistency_tolerance,
            color_tolerance=color_tolerance, mask_dilation=mask_dilation, interpolation=interpolation,
            on_size_mismatch=on_size_mismatch, flow=flow, options=flow_options(preset, max_motion, flow_model, resolution),
            progress=progress_callback())
        return io.NodeOutput(images, masks)


class SteadyFrameLoadFlowModel(io.ComfyNode):
    """Load RAFT weights the user placed in models/optical_flow."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadFlowModel",
            display_name="Load Optical Flow Model",
            category=category("flow"),
            description=("Loads a RAFT-large optical-flow model from ComfyUI's models/optical_flow folder (torchvision "
                         "raft_large weights or the original raft-things / raft-sintel checkpoints; nothing is "
                         "downloaded). Connect it to Optical Flow or Flow Warp to use it instead of the embedded TV-L1 "
                         "estimator."),
            inputs=[
                io.Combo.Input("model_name", options=flow_model_names(),
                               tooltip="A RAFT-large weights file (.pth or .safetensors) in models/optical_flow."),
                io.Int.Input("iterations", default=12, min=1, max=64, step=1,
                             tooltip="Refinement iterations; 12 is RAFT's default, more is slower and slightly sharper."),
            ],
            outputs=[FlowModel.Output("flow_model", tooltip="A learned flow estimator for the Optical Flow and Flow "
                                                            "Warp nodes.")],
        )

    @classmethod
    def execute(cls, model_name, iterations) -> io.NodeOutput:
        return io.NodeOutput(load_flow_model(model_name, iterations))


class SteadyFrameFlowPreview(io.ComfyNode):
    """Look at a computed flow: colour pictures and the pixels the flow cannot follow."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameFlowPreview",
            display_name="Preview Optical Flow",
            category=category("flow"),
            description=("Shows an Optical Flow result as colour pictures (hue = direction, saturation = speed, white = "
                         "still) and as a mask of the pixels whose flow is unreliable (forward-backward mismatch, "
                         "leaving the frame, or not seen in the other frame). One picture per pair of consecutive "
                         "frames."),
            inputs=[
                Flow.Input("flow", tooltip="Output of the Optical Flow node."),
                io.Combo.Input("direction", options=FlowDirection, default=FlowDirection.FORWARD,
                               tooltip="forward: frame t to t+1; backward: frame t+1 to t."),
                io.Float.Input("max_magnitude", default=0.0, min=0.0, max=4096.0, step=0.5,
                               tooltip="Speed in pixels shown fully saturated; 0 = the fastest motion in the clip "
                                       "(same scale for every picture)."),
            ],
            outputs=[
                io.Image.Output("flow_images", tooltip="F-1 colour pictures of the flow from each frame to the next (or "
                                                       "back, for direction = backward)."),
                io.Mask.Output("unreliable", tooltip="F-1 masks, 1 where that flow is unreliable."),
            ],
        )

    @classmethod
    def execute(cls, flow, direction, max_magnitude) -> io.NodeOutput:
        return io.NodeOutput(*preview_flow(flow, direction, max_magnitude, progress_callback()))


NODES = [SteadyFrameOpticalFlow, SteadyFrameFlowPreview, SteadyFrameLoadFlowModel, SteadyFrameFlowWarp]
