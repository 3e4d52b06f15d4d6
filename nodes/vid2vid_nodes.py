"""Video-to-video nodes: per-window ControlNet, consistent noise, start/end keyframe latents."""
from ..comfy_glue.chunk_state import running_node_id, state_owner
from ..comfy_glue.control_windows import enable_per_window_control
from ..comfy_glue.keyframe_latents import blend_keyframe_latent_dicts, chunk_keyframe_latent_dicts, save_seam_anchor
from ..comfy_glue.noise import consistent_noise
from ..flow.estimate import FlowPreset
from ..motion.noise import MAX_SEED, NoiseMode
from .schema import Chunk, Flow, category, io


class SteadyFramePerWindowControl(io.ComfyNode):
    """MODEL -> MODEL: every context window gets its own frames of a per-frame ControlNet hint."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFramePerWindowControl",
            display_name="Per-Window ControlNet (Context Windows)",
            category=category("vid2vid"),
            description=(
                "Makes ControlNet and T2I-adapter hints follow context windows: with a per-frame hint (an IMAGE batch of one "
                "frame per latent frame, applied with Apply ControlNet), each window is guided by its own hint frames instead "
                "of the first window's. Works with core Context Windows (Manual) placed before or after this node; chained "
                "ControlNets included. A hint must have 1 frame or one per latent frame."
            ),
            inputs=[io.Model.Input("model", tooltip="The model that samples with context windows.")],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model) -> io.NodeOutput:
        return io.NodeOutput(enable_per_window_control(model.clone()))


class SteadyFrameNoise(io.ComfyNode):
    """NOISE for SamplerCustomAdvanced with a chosen frame-to-frame consistency."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameNoise",
            display_name="Consistent Noise",
            category=category("vid2vid"),
            description=(
                "Initial noise for SamplerCustomAdvanced with chosen frame-to-frame consistency: per-frame (ordinary), shared "
                "(one noise on every frame), mixed (shared + per-frame, still unit variance), FreeNoise (window-shuffled, as "
                "core's) or flow-warped (noise carried along the source video's optical flow, 'How I Warped Your Noise')."
            ),
            inputs=[
                io.Int.Input("noise_seed", default=0, min=0, max=MAX_SEED, control_after_generate=True,
                             tooltip="Seed of the noise; per-frame mode gives exactly core RandomNoise's noise for it."),
                io.Combo.Input("mode", options=NoiseMode, default=NoiseMode.PER_FRAME,
                               tooltip="How frames relate: independent, one shared noise, a blend, "
                                       "FreeNoise shuffling, or warped along the source video's motion."),
                io.Float.Input("strength", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="mixed: weight of the shared noise (0 = per-frame, 1 = shared). "
                                       "Neighbouring frames correlate by s^2 / (s^2 + (1-s)^2)."),
                io.Int.Input("context_length", default=16, min=1, max=256,
                             tooltip="FreeNoise: the context window length used for sampling."),
                io.Int.Input("context_overlap", default=4, min=0, max=255,
                             tooltip="FreeNoise: the context window overlap used for sampling."),
                io.Int.Input("subdivisions", default=8, min=1, max=16,
                             tooltip="flow-warped: sub-pixels per latent pixel side for the noise "
                                     "transport (more = finer sub-pixel motion, slower)."),
                Flow.Input("flow", optional=True, tooltip="flow-warped: optical flow of the source video (Optical Flow node)."),
                io.Image.Input("source_images", optional=True,
                               tooltip="flow-warped: source video frames, used when no flow is connected."),
                io.Combo.Input("flow_preset", options=FlowPreset, default=FlowPreset.BALANCED, optional=True,
                               tooltip="flow-warped: optical-flow preset for source_images."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Optional: one chunk of a long video. The latent then holds this chunk's frames and "
                                    "gets exactly the noise those frames have in the whole video (flow-warped needs "
                                    "an overlap of at least 1 frame)."),
            ],
            outputs=[io.Noise.Output("noise")],
        )

    @classmethod
    def execute(cls, noise_seed, mode, strength, context_length, context_overlap, subdivisions,
                flow=None, source_images=None, flow_preset="balanced", chunk=None) -> io.NodeOutput:
        return io.NodeOutput(consistent_noise(noise_seed, mode, strength, context_length, context_overlap, subdivisions,
                                              flow=flow, source_images=source_images, flow_preset=flow_preset,
                                              chunk=chunk, owner=state_owner("noise", running_node_id())))


class SteadyFrameKeyframeLatents(io.ComfyNode):
    """LATENT -> LATENT: VAE-encoded start/end images blended into a clip's initial latents."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameKeyframeLatents",
            display_name="Start/End Keyframe Latents",
            category=category("vid2vid"),
            description=(
                "Blends VAE-encoded start and/or end images into a clip's initial latents with a weight that decays away from "
                "each end: w(d) = strength * max(0, 1 - d^power / scale) at d frames from that end (A1111 AnimateDiff's latent "
                "power and scale). For img2vid (start) and looping clips (the same image at both ends); sample with denoise < 1."
            ),
            inputs=[
                io.Latent.Input("latents", tooltip="The clip's initial latents (one per frame)."),
                io.Float.Input("start_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Weight of the start latent on the first frame."),
                io.Float.Input("end_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Weight of the end latent on the last frame."),
                io.Float.Input("power", default=1.0, min=0.05, max=10.0, step=0.05,
                               tooltip="Latent power: larger falls off faster (1 = linear)."),
                io.Float.Input("scale", default=32.0, min=0.1, max=10000.0, step=0.1,
                               tooltip="Latent scale: with power 1 the weight reaches 0 this many frames from the end."),
                io.Latent.Input("start_latent", optional=True, tooltip="VAE-encoded start image (its first frame is used)."),
                io.Latent.Input("end_latent", optional=True, tooltip="VAE-encoded end image (its last frame is used)."),
                Chunk.Input("chunk", optional=True,
                            tooltip="Long videos: this run's chunk (latents = one per loaded frame). The start/end "
                                    "keyframes sit at the whole video's first/last frame; after the first chunk the "
                                    "lead frames are pinned on the previous chunk's finished latents (Chunk Seam "
                                    "Anchor) and blended across the seam."),
            ],
            outputs=[io.Latent.Output("latent")],
        )

    @classmethod
    def execute(cls, latents, start_strength, end_strength, power, scale, start_latent=None, end_latent=None,
                chunk=None) -> io.NodeOutput:
        if chunk is not None:
            return io.NodeOutput(chunk_keyframe_latent_dicts(latents, chunk, start_latent, end_latent,
                                                             start_strength=start_strength, end_strength=end_strength,
                                                             power=power, scale=scale))
        return io.NodeOutput(blend_keyframe_latent_dicts(latents, start_latent, end_latent, start_strength=start_strength,
                                                         end_strength=end_strength, power=power, scale=scale))


class SteadyFrameChunkSeamAnchor(io.ComfyNode):
    """LATENT -> LATENT: blend a chunk's overlap into the previous chunk and keep its end for the next."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameChunkSeamAnchor",
            display_name="Chunk Seam Anchor",
            category=category("vid2vid"),
            description=(
                "Long AnimateDiff videos in chunks: place it on the sampled LATENT (before VAE Decode) and connect its "
                "chunk output to Video Combine. It keeps this chunk's last overlap latents for the next chunk, whose "
                "Start/End Keyframe Latents (with the chunk connected) anchors its lead on them; here, in that next "
                "chunk, the regenerated overlap is faded from the previous chunk's frames into the new ones, and that "
                "blended overlap is what gets written (each chunk leaves its own overlap to the next). One anchor per "
                "workflow; use an overlap of 4 or more frames."
            ),
            inputs=[
                io.Latent.Input("latent", tooltip="The sampled latents of this chunk (one per loaded frame)."),
                Chunk.Input("chunk", tooltip="This run's chunk from the chunk control."),
                io.Int.Input("blend_frames", default=0, min=0, max=64, step=1,
                             tooltip="New frames of the next chunk whose initial latents also get this chunk's last "
                                     "finished latent blended in (falling linearly to 0); 0 = off."),
                io.Float.Input("blend_strength", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Weight of that blend on the first new frame."),
                io.Int.Input("settle_frames", default=0, min=0, max=1024, step=1, optional=True,
                             tooltip="Settle the look: move this chunk's overall look (colour, brightness, broad "
                                     "tones; a coarse field measured on the overlap) to the previous chunk's and "
                                     "fade that correction out over this many new frames, so a change of look "
                                     "spreads over them instead of the overlap. 0 = off; about the chunk size works "
                                     "well."),
            ],
            outputs=[
                io.Latent.Output("latent", tooltip="The latents with the overlap blended (decode these)."),
                Chunk.Output("chunk", tooltip="What Video Combine writes of this chunk: the blended overlap and the "
                                              "new frames up to the next chunk's overlap."),
            ],
        )

    @classmethod
    def execute(cls, latent, chunk, blend_frames, blend_strength, settle_frames=0) -> io.NodeOutput:
        return io.NodeOutput(*save_seam_anchor(latent, chunk, blend_frames, blend_strength, settle_frames))


NODES = [SteadyFramePerWindowControl, SteadyFrameNoise, SteadyFrameKeyframeLatents, SteadyFrameChunkSeamAnchor]
