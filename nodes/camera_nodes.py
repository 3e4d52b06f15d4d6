"""CameraCtrl: camera trajectories (from RealEstate10K text or presets) and Apply CameraCtrl."""
from ..comfy_glue.camera_ctrl import apply_cameractrl
from ..comfy_glue.motion_loader import motion_file_names
from ..motion.camera_poses import (
    DEFAULT_POSE_HEIGHT,
    DEFAULT_POSE_WIDTH,
    PRESET_FRAMES,
    CameraMotion,
    append_poses,
    parse_realestate10k,
    preset_poses,
)
from .schema import CameraPoses, category, io

EXAMPLE_POSES = ("https://www.youtube.com/watch?v=example\n"
                 "0 0.474812461 0.844111024 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0\n"
                 "33366 0.474812461 0.844111024 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 -0.1\n")


class SteadyFrameCameraPosesFromText(io.ComfyNode):
    """Camera poses from RealEstate10K-style text (one line per frame)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameCameraPosesFromText",
            display_name="Camera Poses (RealEstate10K Text)",
            category=category("motion/camera"),
            description=("Reads a camera trajectory in the RealEstate10K text format: an optional URL line, then per frame "
                         "'timestamp fx fy cx cy 0 0' and the 12 numbers of the 3x4 world-to-camera matrix."),
            inputs=[
                io.String.Input("text", multiline=True, default=EXAMPLE_POSES,
                                tooltip="Paste the contents of a RealEstate10K pose file. Blank lines and # comments are skipped."),
                io.Int.Input("pose_width", default=DEFAULT_POSE_WIDTH, min=1, max=16384,
                             tooltip="Width of the video the poses were measured on (its aspect ratio matters)."),
                io.Int.Input("pose_height", default=DEFAULT_POSE_HEIGHT, min=1, max=16384,
                             tooltip="Height of the video the poses were measured on."),
            ],
            outputs=[CameraPoses.Output("poses")],
        )

    @classmethod
    def execute(cls, text, pose_width=DEFAULT_POSE_WIDTH, pose_height=DEFAULT_POSE_HEIGHT) -> io.NodeOutput:
        return io.NodeOutput(parse_realestate10k(text, "Camera Poses text", pose_width, pose_height))


class SteadyFrameCameraPosePreset(io.ComfyNode):
    """A preset camera move (pan, zoom, orbit), optionally appended to earlier poses."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameCameraPosePreset",
            display_name="Camera Pose Preset",
            category=category("motion/camera"),
            description=("A preset camera move for CameraCtrl. With prev_poses connected, the move continues from where "
                         "those poses end (chain several presets for a compound path)."),
            inputs=[
                io.Combo.Input("motion", options=CameraMotion, default=CameraMotion.PAN_LEFT,
                               tooltip="pan = sideways/vertical travel, zoom = travel forward/back, orbit = circle around "
                                       "a point ahead while looking at it."),
                io.Float.Input("speed", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="1 = the preset's distance (or angle) over 16 frames; negative runs it backwards."),
                io.Int.Input("frames", default=PRESET_FRAMES, min=1, max=4096, tooltip="Number of poses (frames) to make."),
                CameraPoses.Input("prev_poses", optional=True, tooltip="Optional poses to continue from."),
            ],
            outputs=[CameraPoses.Output("poses")],
        )

    @classmethod
    def execute(cls, motion, speed=1.0, frames=PRESET_FRAMES, prev_poses=None) -> io.NodeOutput:
        poses = preset_poses(CameraMotion.parse(motion, "camera motion"), frames, speed)
        return io.NodeOutput(append_poses(prev_poses, poses) if prev_poses else poses)


class SteadyFrameApplyCameraCtrl(io.ComfyNode):
    """Condition the motion module on a camera trajectory with a CameraCtrl adapter."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameApplyCameraCtrl",
            display_name="Apply CameraCtrl",
            category=category("motion/camera"),
            description=("Loads a CameraCtrl adapter (pose encoder + qkv_merge layers) and makes the motion module on the "
                         "model follow the camera poses. Needs the AnimateDiff v3 SD1.5 motion module from Load Motion Module."),
            inputs=[
                io.Model.Input("model", tooltip="A MODEL with a motion module attached (Load Motion Module)."),
                io.Combo.Input("cameractrl", options=motion_file_names(),
                               tooltip="The CameraCtrl adapter file in models/animatediff_models "
                                       "(e.g. CameraCtrl_pruned.safetensors)."),
                CameraPoses.Input("poses", tooltip="One pose per frame; the last pose repeats for extra frames."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="How much of the camera conditioning to apply (0 = off, 1 = as trained)."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, cameractrl, poses, strength=1.0) -> io.NodeOutput:
        return io.NodeOutput(apply_cameractrl(model, cameractrl, poses, strength))


NODES = [SteadyFrameCameraPosesFromText, SteadyFrameCameraPosePreset, SteadyFrameApplyCameraCtrl]
