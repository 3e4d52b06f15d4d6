"""Frame interpolation, retiming and keyframe selection nodes: declarations over ``postprocess/``."""
from ..comfy_glue.chunk_state import run_with_state, running_node_id, state_owner
from ..comfy_glue.flow import flow_options
from ..comfy_glue.runtime import progress_callback
from ..flow.estimate import FlowPreset
from ..postprocess.chunk_span import ChunkSpan
from ..postprocess.chunked_timing import interpolate_chunk, retime_chunk
from ..postprocess.keyframes import KeyframeGaps, KeyframeMethod, choose_keyframes
from ..postprocess.keyframes_chunks import KeyframeCarry, choose_keyframes_chunk
from ..postprocess.timing import ResampleMethod, RetimeMode, interpolate_clip, retime_clip
from .schema import Chunk, Flow, FlowModel, category, io


def estimator_inputs() -> list:
    """preset, max_motion: how the timing nodes estimate flow they are not given."""
    return [
        io.Combo.Input("preset", options=FlowPreset, default=FlowPreset.BALANCED,
                       tooltip="Embedded TV-L1 optical-flow preset used when no flow input is connected."),
        io.Int.Input("max_motion", default=48, min=2, max=2048, step=1,
                     tooltip="Largest motion in pixels between two frames that the flow estimator must find."),
    ]


def flow_inputs() -> list:
    """flow, flow_model: optional flow of the images, or a learned estimator for it."""
    return [
        Flow.Input("flow", optional=True, tooltip="Optical flow already computed for these same images (Optical Flow "
                                                  "node); saves estimating it again."),
        FlowModel.Input("flow_model", optional=True, tooltip="Optional learned flow estimator; replaces the embedded "
                                                             "TV-L1 for pairs not covered by the flow input."),
    ]



CHUNK_IN_TIP = ("Long videos: this run's chunk from the chunk control (images = its loaded frames). The output is only the "
                "frames this chunk owns of the whole video's output (the in-betweens of the gap before its first new "
                "frame included), so the chunks' outputs in a row equal the unchunked output.")
CHUNK_OUT_TIP = ("The chunk numbered in output frames (no lead frames): connect it to Video Combine's chunk input, and to "
                 "the chunk input of temporal nodes after this one.")


class SteadyFrameInterpolate(io.ComfyNode):
    """Insert in-between frames made by warping both neighbours along optical flow."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameInterpolate",
            display_name="Interpolate Frames",
            category=category("timing"),
            description=("Frame interpolation without model downloads: multiplies the frame count by inserting "
                         "multiplier-1 in-betweens into every gap. Each in-between warps both neighbouring frames along "
                         "bidirectional optical flow to its time and blends them, taking content that only one "
                         "neighbour shows from that neighbour. The fps output (fps x multiplier) keeps the clip's "
                         "duration."),
            inputs=[
                io.Image.Input("images", tooltip="The frames to interpolate (at least 2)."),
                io.Int.Input("multiplier", default=2, min=2, max=16, step=1,
                             tooltip="Output frames per source frame: 2 doubles the frame rate (one in-between per "
                                     "gap), 3 triples it, ..."),
                io.Boolean.Input("keep_source_frames", default=True,
                                 tooltip="On: the source frames appear unchanged (bit-exact) between the in-betweens. "
                                         "Off: output only the in-betweens."),
                io.Boolean.Input("loop", default=False,
                                 tooltip="Also interpolate from the last frame back to the first, for clips that loop; "
                                         "the first frame is not repeated at the end."),
                io.Float.Input("fps", default=12.0, min=0.01, max=1000.0, step=0.001,
                               tooltip="Frame rate of the input frames; the fps output is this times the multiplier."),
                *estimator_inputs(),
                *flow_inputs(),
                Chunk.Input("chunk", optional=True, tooltip=CHUNK_IN_TIP),
            ],
            outputs=[
                io.Image.Output("images", tooltip="Source frames with the in-betweens inserted ((F-1) x multiplier + 1 "
                                                  "frames; F x multiplier in loop mode)."),
                io.Int.Output("frame_count", tooltip="Number of output frames."),
                io.Float.Output("fps", tooltip="fps x multiplier: the frame rate that keeps the clip's duration "
                                               "(connect it to the video writer)."),
                Chunk.Output("chunk", tooltip=CHUNK_OUT_TIP),
            ],
        )

    @classmethod
    def execute(cls, images, multiplier, keep_source_frames, loop, fps, preset, max_motion, flow=None,
                flow_model=None, chunk=None) -> io.NodeOutput:
        options = flow_options(preset, max_motion, flow_model)
        if chunk is not None:
            timed, out_chunk = interpolate_chunk(images, chunk, state_owner("interpolate", running_node_id()),
                                                 multiplier, keep_source_frames, loop, fps, flow, options,
                                                 progress_callback())
            return io.NodeOutput(*timed, out_chunk)
        return io.NodeOutput(*interpolate_clip(images, multiplier, keep_source_frames, loop, fps, flow, options,
                                               progress_callback()), None)


class SteadyFrameRetime(io.ComfyNode):
    """Animate on twos/threes, or change the frame rate."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameRetime",
            display_name="Retime",
            category=category("timing"),
            description=("Retimes a clip and reports the new frame count and fps for the video output. Hold on N keeps "
                         "every Nth frame on screen for N frames (the hand-drawn 'on twos' look) at the same fps; "
                         "repeat shows each frame N times at N x the fps; keep every Nth drops the others and divides "
                         "the fps; resample changes the fps keeping the duration, by dropping/duplicating frames or by "
                         "optical-flow interpolation."),
            inputs=[
                io.Image.Input("images", tooltip="The frames to retime."),
                io.Float.Input("fps", default=24.0, min=0.01, max=1000.0, step=0.001,
                               tooltip="Frame rate of the input frames."),
                io.Combo.Input("mode", options=RetimeMode, default=RetimeMode.HOLD,
                               tooltip="How to retime (see the node description)."),
                io.Int.Input("n", default=2, min=1, max=24, step=1,
                             tooltip="N for the hold/repeat/keep modes: 2 = on twos, 3 = on threes."),
                io.Float.Input("target_fps", default=24.0, min=0.01, max=1000.0, step=0.001,
                               tooltip="Output frame rate of the resample mode."),
                io.Combo.Input("resample_method", options=ResampleMethod, default=ResampleMethod.NEAREST,
                               tooltip="Resample by showing the nearest source frame, or by synthesising in-betweens "
                                       "along optical flow."),
                *estimator_inputs(),
                *flow_inputs(),
                Chunk.Input("chunk", optional=True, tooltip=CHUNK_IN_TIP),
            ],
            outputs=[
                io.Image.Output("images", tooltip="The retimed frames."),
                io.Int.Output("frame_count", tooltip="Number of output frames."),
                io.Float.Output("fps", tooltip="Frame rate to play the output at (connect it to the video writer's "
                                               "frame rate)."),
                Chunk.Output("chunk", tooltip=CHUNK_OUT_TIP),
            ],
        )

    @classmethod
    def execute(cls, images, fps, mode, n, target_fps, resample_method, preset, max_motion, flow=None,
                flow_model=None, chunk=None) -> io.NodeOutput:
        options = flow_options(preset, max_motion, flow_model)
        if chunk is not None:
            timed, out_chunk = retime_chunk(images, chunk, state_owner("retime", running_node_id()), fps, mode, n,
                                            target_fps, resample_method, flow, options, progress_callback())
            return io.NodeOutput(*timed, out_chunk)
        return io.NodeOutput(*retime_clip(images, fps, mode, n, target_fps, resample_method, flow, options,
                                          progress_callback()), None)


class SteadyFrameSelectKeyframes(io.ComfyNode):
    """Pick keyframes where the picture has changed enough since the last one."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameSelectKeyframes",
            display_name="Select Keyframes",
            category=category("timing"),
            description=("Chooses keyframes for FlowWarp where the content changes rather than every N frames: a new "
                         "keyframe when the change since the last keyframe reaches the threshold (edges that appeared "
                         "or vanished, or the share of pixels the optical flow could not follow), never closer than "
                         "min_gap and never further apart than max_gap. Outputs the indices for FlowWarp's "
                         "keyframe_indices and the keyframe images to stylise."),
            inputs=[
                io.Image.Input("images", tooltip="The source video frames."),
                io.Combo.Input("method", options=KeyframeMethod, default=KeyframeMethod.EDGE_CHANGE,
                               tooltip="edge change: fast, no optical flow; occlusion: uses optical flow (connect a "
                                       "flow input to reuse it)."),
                io.Float.Input("edge_threshold", default=60.0, min=0.0, max=100.0, step=0.5,
                               tooltip="Edge change method: percent of edges that appeared or vanished since the last "
                                       "keyframe (a scene cut is about 80-100)."),
                io.Float.Input("occlusion_threshold", default=15.0, min=0.0, max=1000.0, step=0.5,
                               tooltip="Occlusion method: percent of the picture that the flow could not follow, summed "
                                       "over the frames since the last keyframe."),
                io.Int.Input("min_gap", default=4, min=1, max=10000, step=1, tooltip="Fewest frames between two keyframes."),
                io.Int.Input("max_gap", default=24, min=1, max=10000, step=1,
                             tooltip="Most frames between two keyframes: a keyframe is forced after this many."),
                io.Boolean.Input("include_last", default=True,
                                 tooltip="Also make the last frame a keyframe (unless it is closer than min_gap to the "
                                         "previous one), so every frame lies between two keyframes."),
                *estimator_inputs(),
                *flow_inputs(),
                Chunk.Input("chunk", optional=True,
                            tooltip="Optional: one chunk of a long video. Keyframes are chosen as over the whole video "
                                    "(the last keyframe is carried from the previous chunk); keyframe_indices are frame "
                                    "numbers of the whole video, among this chunk's loaded frames."),
            ],
            outputs=[
                io.String.Output("keyframe_indices", tooltip="Comma-separated frame indices of the keyframes, e.g. "
                                                             "\"0, 9, 21, 35\" (FlowWarp's keyframe_indices)."),
                io.Image.Output("keyframes", tooltip="The keyframe frames, in index order."),
                io.Int.Output("keyframe_count", tooltip="Number of keyframes."),
            ],
        )

    @classmethod
    def execute(cls, images, method, edge_threshold, occlusion_threshold, min_gap, max_gap, include_last, preset,
                max_motion, flow=None, flow_model=None, chunk=None) -> io.NodeOutput:
        gaps = KeyframeGaps(min_gap, max_gap, include_last)
        options = flow_options(preset, max_motion, flow_model)
        if chunk is None:
            return io.NodeOutput(*choose_keyframes(images, method, edge_threshold, occlusion_threshold, gaps, flow,
                                                   options, progress_callback()))
        return io.NodeOutput(*run_with_state(chunk, state_owner("keyframes", running_node_id()), lambda loaded: (
            choose_keyframes_chunk(images, ChunkSpan.of(chunk), chunk.first_new, method, edge_threshold,
                                   occlusion_threshold, gaps, flow, options,
                                   None if loaded is None else KeyframeCarry(*loaded), progress_callback()))))


NODES = [SteadyFrameInterpolate, SteadyFrameRetime, SteadyFrameSelectKeyframes]
