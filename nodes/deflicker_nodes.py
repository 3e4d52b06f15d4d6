"""Deflicker and temporal-consistency metric nodes: declarations over ``postprocess/``."""
from ..comfy_glue.chunk_state import run_with_state, running_node_id, state_owner
from ..comfy_glue.flow import flow_options
from ..comfy_glue.runtime import progress_callback
from ..flow.estimate import FlowPreset
from ..flow.keyframe_warp import format_frame_indices
from ..postprocess.chunk_span import ChunkSpan
from ..postprocess.deflicker import ColorSpace, DeflickerMode, GlobalSettings, deflicker_clip
from ..postprocess.deflicker_chunks import DeflickerCarry, deflicker_chunk
from ..postprocess.metrics import FlowSource, measure_consistency
from ..postprocess.metrics_chunks import MetricsCarry, measure_chunk
from .schema import Chunk, Flow, category, io, ui


class SteadyFrameDeflicker(io.ComfyNode):
    """Remove brightness, colour and (optionally) texture flicker from a clip."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameDeflicker",
            display_name="Deflicker",
            category=category("postprocess"),
            description=("Removes frame-to-frame brightness and colour flicker: every frame's colour statistics are "
                         "matched to a Gaussian average of its neighbours (scene cuts are detected and never averaged "
                         "across). The optional texture stage also calms 'boiling' texture by blending each frame with "
                         "its flow-warped neighbours where the flow is trusted; it trades fine detail for stability."),
            inputs=[
                io.Image.Input("images", tooltip="The clip to deflicker, in frame order."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="0 leaves the clip unchanged; 1 matches every frame fully to the temporal "
                                       "average of its neighbours."),
                io.Int.Input("window", default=49, min=1, max=301, step=2,
                             tooltip="Frames in the temporal average (Gaussian, sigma = (window-1)/6). Larger removes "
                                     "slower flicker; smaller follows real lighting changes more closely. 1 disables "
                                     "the global stage."),
                io.Combo.Input("mode", options=DeflickerMode, default=DeflickerMode.GLOBAL,
                               tooltip="global: match colour mean and contrast per channel. histogram: match whole "
                                       "per-channel histograms (slower, also fixes curve-shaped flicker). '+ texture' "
                                       "adds the flow-guided texture stage."),
                io.Combo.Input("color_space", options=ColorSpace, default=ColorSpace.YCBCR,
                               tooltip="Space the statistics are matched in. ycbcr is fast; lab is perceptual and "
                                       "several times slower."),
                io.Float.Input("texture_strength", default=0.6, min=0.0, max=0.95, step=0.05,
                               tooltip="Texture stage only: how much of the flow-warped neighbour output is blended in "
                                       "where the flow is trusted."),
                io.Boolean.Input("detect_cuts", default=True,
                                 tooltip="Split the clip at scene cuts so colours are never averaged across them."),
                io.Float.Input("cut_threshold", default=0.5, min=0.05, max=2.0, step=0.05,
                               tooltip="Scene-cut sensitivity: a cut is 1 - correlation of consecutive frames' "
                                       "structure above this, or a lasting colour jump above 40x this in Lab units. "
                                       "Lower finds more cuts."),
                io.Combo.Input("flow_preset", options=FlowPreset, default=FlowPreset.BALANCED,
                               tooltip="Texture stage only, when no flow is connected: the optical-flow preset used on "
                                       "the frames."),
                Flow.Input("flow", optional=True,
                           tooltip="Optional precomputed flow of these frames (or of the source video they were made "
                                   "from); otherwise the texture stage computes it once."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Optional: one chunk of a long video (its loaded frames, overlap first). The colour "
                                    "statistics of the frames before the chunk are carried over, so the result matches "
                                    "one run over the whole video; scene_cuts are then frame numbers of the whole video."),
            ],
            outputs=[
                io.Image.Output("images", tooltip="The deflickered frames."),
                io.String.Output("scene_cuts", tooltip="Comma-separated indices of the frames that start a new scene "
                                                       "(empty when there is none)."),
            ],
        )

    @classmethod
    def execute(cls, images, strength, window, mode, color_space, texture_strength, detect_cuts, cut_threshold,
                flow_preset, flow=None, chunk=None) -> io.NodeOutput:
        mode = DeflickerMode(mode)
        settings = GlobalSettings(strength=strength, window=window, method=mode.method, color_space=color_space,
                                  detect_cuts=detect_cuts, cut_threshold=cut_threshold)
        if chunk is None:
            result = deflicker_clip(images, settings, mode.texture, texture_strength, flow, flow_options(flow_preset),
                                    progress_callback())
        else:
            result = run_with_state(chunk, state_owner("deflicker", running_node_id()), lambda loaded: deflicker_chunk(
                images, ChunkSpan.of(chunk), settings, None if loaded is None else DeflickerCarry(*loaded), mode.texture,
                texture_strength, flow, flow_options(flow_preset), progress_callback()))
        return io.NodeOutput(result.images, format_frame_indices(result.cuts))


class SteadyFrameTemporalConsistency(io.ComfyNode):
    """Measure flicker (F_Y, E_warp, PSNR) so deflicker settings can be compared."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameTemporalConsistency",
            display_name="Temporal Consistency Metrics",
            category=category("postprocess"),
            description=("Measures flicker so settings can be compared inside ComfyUI: F_Y (mean-luminance flicker, "
                         "0..255), E_warp (warping error: per-channel MSE between each frame and the flow-warped next "
                         "frame, on pixels the forward-backward check trusts; flow from the reference video when "
                         "connected) and PSNR to the reference. Pairs across scene cuts are left out. Lower F_Y and "
                         "E_warp are steadier; read E_warp next to PSNR, because blur lowers it too."),
            inputs=[
                io.Image.Input("images", tooltip="The clip to measure."),
                io.Combo.Input("flow_preset", options=FlowPreset, default=FlowPreset.FAST,
                               tooltip="Optical-flow preset for E_warp when no flow is connected."),
                io.Boolean.Input("measure_warp_error", default=True,
                                 tooltip="E_warp needs optical flow (the slow part); turn off for F_Y and PSNR only."),
                io.Combo.Input("flow_from", options=FlowSource, default=FlowSource.REFERENCE,
                               tooltip="Clip whose optical flow scores E_warp (both rows use the same flow). "
                                       "'reference' suits a clean source video; when the reference is the flickering "
                                       "input itself, choose 'images': flow estimated on flickering frames is "
                                       "unreliable."),
                io.Image.Input("reference", optional=True,
                               tooltip="The source video (same frame count and size). Its flow scores E_warp, and PSNR "
                                       "is measured against it."),
                Flow.Input("flow", optional=True,
                           tooltip="Precomputed flow (of the clip flow_from names): reused instead of estimating flow "
                                   "again."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Optional: one chunk of a long video. Each chunk adds its new frames to running totals; "
                                    "the last chunk reports the whole video (earlier chunks report the frames so far)."),
            ],
            outputs=[
                io.String.Output("report", tooltip="A plain-text report of all metrics (for the reference too when "
                                                   "connected)."),
                io.Float.Output("flicker_fy", tooltip="F_Y: mean absolute change of mean luma between consecutive "
                                                      "frames, 0..255."),
                io.Float.Output("warp_error", tooltip="E_warp x 1e-3 (per-channel MSE in 0..1 units, times 1000); -1 "
                                                      "when no pair could be scored."),
                io.Float.Output("psnr", tooltip="PSNR in dB to the reference; -1 without a reference, 1000 when "
                                                "identical."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images, flow_preset, measure_warp_error, flow_from=FlowSource.REFERENCE, reference=None,
                flow=None, chunk=None) -> io.NodeOutput:
        if chunk is None:
            result = measure_consistency(images, reference, measure_warp_error, flow_from, flow,
                                         flow_options(flow_preset), progress_callback())
        else:
            result = run_with_state(chunk, state_owner("metrics", running_node_id()), lambda loaded: measure_chunk(
                images, ChunkSpan.of(chunk), chunk.first_new, reference, measure_warp_error, flow_from, flow,
                flow_options(flow_preset), None if loaded is None else MetricsCarry(*loaded), progress_callback()))
        return io.NodeOutput(result.text, result.flicker_fy, result.warp_error, result.psnr,
                             ui=ui.PreviewText(result.text))


NODES = [SteadyFrameDeflicker, SteadyFrameTemporalConsistency]
