"""SparseCtrl: load the encoder as a CONTROL_NET, and make a hint on chosen frames only."""
from ..comfy_glue.folders import model_file_names, model_file_path
from ..comfy_glue.sparsectrl import CONTROLNET_FOLDER, SparseCtrlSettings, load_sparsectrl
from ..motion.sparsectrl import parse_frame_indices, sparse_hint_frames
from .schema import category, io


class SteadyFrameLoadSparseCtrl(io.ComfyNode):
    """A SparseCtrl file (RGB or scribble) -> CONTROL_NET for core's Apply ControlNet."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadSparseCtrl",
            display_name="Load SparseCtrl",
            category=category("motion"),
            description=(
                "Loads an AnimateDiff v3 SparseCtrl model (v3_sd15_sparsectrl_rgb or _scribble, .safetensors or .ckpt) "
                "from models/controlnet. Connect it to core Apply ControlNet with a hint from SparseCtrl Hint; RGB also "
                "needs the VAE on Apply ControlNet. Use it with an AnimateDiff v3 motion module on an SD1.5 model."
            ),
            inputs=[
                io.Combo.Input("sparsectrl_name", options=model_file_names(CONTROLNET_FOLDER),
                               tooltip="A SparseCtrl file from models/controlnet."),
                io.Boolean.Input("use_motion", default=True,
                                 tooltip="Run the encoder's own motion modules (off = per-frame encoder only)."),
                io.Float.Input("motion_strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="How much of the encoder's motion modules' change to keep (1 = as trained)."),
                io.Float.Input("motion_scale", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Multiplies the encoder's temporal attention keys (1 = as trained)."),
            ],
            outputs=[io.ControlNet.Output("control_net")],
        )

    @classmethod
    def execute(cls, sparsectrl_name, use_motion=True, motion_strength=1.0, motion_scale=1.0) -> io.NodeOutput:
        path = model_file_path(CONTROLNET_FOLDER, sparsectrl_name, "SparseCtrl model")
        settings = SparseCtrlSettings(use_motion=use_motion, motion_strength=motion_strength, motion_scale=motion_scale,
                                      name=sparsectrl_name)
        return io.NodeOutput(load_sparsectrl(path, settings))


class SteadyFrameSparseCtrlHint(io.ComfyNode):
    """IMAGE + frame indices -> a sparse hint: those frames' images and a mask of them, one frame per latent."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameSparseCtrlHint",
            display_name="SparseCtrl Hint",
            category=category("motion"),
            description=(
                "Places hint images on chosen frames of a clip for SparseCtrl: either one image per listed index, or the "
                "whole clip (frame_count images) of which the listed frames are used. The output is an RGBA image batch "
                "of frame_count frames whose alpha marks the hinted frames; connect it to Apply ControlNet's image."
            ),
            inputs=[
                io.Image.Input("images", tooltip="Hint images (scribbles/line art for scribble, pictures for RGB)."),
                io.String.Input("frame_indices", default="0",
                                tooltip="Comma-separated frames that get a hint, e.g. 0,8,15; -1 = the last frame."),
                io.Int.Input("frame_count", default=16, min=1, max=4096,
                             tooltip="Frames of the clip: the latent batch size."),
                io.Latent.Input("latent", optional=True,
                                tooltip="Optional: the clip's latents; when connected, frame_count is their batch size."),
            ],
            outputs=[io.Image.Output("sparse_hint", tooltip="RGBA: hint images on the chosen frames, alpha = hinted.")],
        )

    @classmethod
    def execute(cls, images, frame_indices="0", frame_count=16, latent=None) -> io.NodeOutput:
        if latent is not None:
            frame_count = int(latent["samples"].shape[0])
        indices = parse_frame_indices(frame_indices, frame_count)
        return io.NodeOutput(sparse_hint_frames(images, indices, frame_count))


NODES = [SteadyFrameLoadSparseCtrl, SteadyFrameSparseCtrlHint]
