"""Animated Sampling Preview: the sampler's preview plays every frame of the batch."""
from ..comfy_glue.sampling_preview import PreviewSettings, enable_animated_preview
from .schema import category, io


class SteadyFrameAnimatedPreview(io.ComfyNode):
    """MODEL -> MODEL: a sampler using this model previews the whole batch as an animation."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameAnimatedPreview",
            display_name="Animated Sampling Preview",
            category=category("video"),
            description=("Put between the model and the sampler: while sampling, the sampler node plays the frames of "
                         "the batch (AnimateDiff clip, image batch) as a small animation, updated as steps finish. "
                         "Uses ComfyUI's preview method (Latent2RGB or TAESD); with previews off it sends nothing. "
                         "Core's single-frame preview keeps working. Bypass the node to turn it off."),
            inputs=[
                io.Model.Input("model", tooltip="The MODEL the sampler will use (after motion module, LoRAs, ...)."),
                io.Int.Input("max_frames", default=16, min=1, max=256, step=1,
                             tooltip="Preview at most this many frames, spread evenly over the batch (first and last kept)."),
                io.Int.Input("max_size", default=256, min=8, max=2048, step=8,
                             tooltip="Longest side of a preview frame in pixels (frames are never enlarged: "
                                     "Latent2RGB frames are 1/8 of the image size)."),
                io.Float.Input("frame_rate", default=8.0, min=0.5, max=60.0, step=0.5,
                               tooltip="Playback speed of the preview in frames per second."),
                io.Float.Input("interval", default=0.5, min=0.0, max=60.0, step=0.1,
                               tooltip="Least seconds between two previews (0 = every step). The last step is always sent."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, max_frames, max_size, frame_rate, interval) -> io.NodeOutput:
        settings = PreviewSettings(frames=max_frames, size=max_size, frame_rate=frame_rate, interval=interval)
        return io.NodeOutput(enable_animated_preview(model.clone(), settings))


NODES = [SteadyFrameAnimatedPreview]
