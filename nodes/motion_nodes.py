"""Load Motion Module: attach an AnimateDiff-family motion module to a MODEL."""
from ..comfy_glue.motion_loader import load_motion_module, motion_file_names
from ..motion.beta_schedules import BetaSchedule
from ..motion.windows import DEFAULT_LENGTH, DEFAULT_OVERLAP, ContextSchedule, FuseMethod
from .schema import Floats, category, io


class SteadyFrameLoadMotionModule(io.ComfyNode):
    """Load a motion module and return a MODEL clone that samples a latent batch as one animation."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadMotionModule",
            display_name="Load Motion Module",
            category=category("motion"),
            description=("Loads an AnimateDiff-family motion module and attaches it to the model: KSampler then samples the "
                         "latent batch as one animation. Longer videos than the context length use sliding context windows."),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 (or SDXL, for SDXL motion modules) model."),
                io.Combo.Input("motion_module", options=motion_file_names(),
                               tooltip="A file from models/animatediff_models (or the pack's models/): "
                                       "AnimateDiff v1/v2/v3, SDXL, HotshotXL, AnimateLCM, Lightning."),
                io.Combo.Input("beta_schedule", options=BetaSchedule, default=BetaSchedule.AUTO,
                               tooltip="Noise schedule. auto = what the module was trained with."),
                io.Float.Input("motion_scale", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Multiplies the temporal attention keys: >1 sharper, <1 softer motion attention."),
                io.Float.Input("effect", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="How much of the motion module's change to keep (0 = off, 1 = full)."),
                io.Int.Input("context_length", default=DEFAULT_LENGTH, min=0, max=128,
                             tooltip="Frames per context window for videos longer than this; 0 = no windows."),
                io.Int.Input("context_overlap", default=DEFAULT_OVERLAP, min=0, max=127,
                             tooltip="Frames shared by neighbouring windows."),
                io.Combo.Input("context_schedule", options=ContextSchedule, default=ContextSchedule.STANDARD_STATIC),
                io.Combo.Input("fuse_method", options=FuseMethod, default=FuseMethod.PYRAMID,
                               tooltip="How overlapping windows are blended."),
                io.Boolean.Input("closed_loop", default=False, tooltip="Make the animation loop (uses looped_uniform windows)."),
                # multiline=None: the widget these saved workflows were made with declared no multiline flag
                io.String.Input("motion_scale_per_frame", default="", multiline=None, optional=True,
                                tooltip="Optional: comma-separated per-frame motion scales; overrides motion_scale. "
                                        "The last value repeats."),
                io.String.Input("effect_per_frame", default="", multiline=None, optional=True,
                                tooltip="Optional: comma-separated per-frame effect values."),
                Floats.Input("motion_scale_floats", optional=True,
                             tooltip="Optional per-frame motion scales, e.g. from Value Schedule; "
                                     "overrides motion_scale and motion_scale_per_frame."),
                Floats.Input("effect_floats", optional=True,
                             tooltip="Optional per-frame effect values, e.g. from Value Schedule; "
                                     "overrides effect and effect_per_frame."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, motion_module, beta_schedule=BetaSchedule.AUTO, motion_scale=1.0, effect=1.0,
                context_length=DEFAULT_LENGTH, context_overlap=DEFAULT_OVERLAP, context_schedule=ContextSchedule.STANDARD_STATIC,
                fuse_method=FuseMethod.PYRAMID, closed_loop=False, motion_scale_per_frame="", effect_per_frame="",
                motion_scale_floats=None, effect_floats=None) -> io.NodeOutput:
        return io.NodeOutput(load_motion_module(
            model, motion_module, beta_schedule=beta_schedule, motion_scale=motion_scale, effect=effect,
            context_length=context_length, context_overlap=context_overlap, context_schedule=context_schedule,
            fuse_method=fuse_method, closed_loop=closed_loop, motion_scale_per_frame=motion_scale_per_frame,
            effect_per_frame=effect_per_frame, motion_scale_floats=motion_scale_floats, effect_floats=effect_floats))


NODES = [SteadyFrameLoadMotionModule]
