"""Motion over the sampling steps: keyframes, block weights, step ranges, chained motion models, FreeInit."""
from ..comfy_glue.freeinit import apply_freeinit
from ..comfy_glue.motion_chain import load_and_chain, set_step_control
from ..comfy_glue.motion_loader import motion_file_names
from ..motion.freeinit import FreeInitSettings, FreqFilter
from ..motion.keyframes import BlockWeight, BlockWeights, MotionControl, MotionKeyframe, add_keyframe, parse_block_weights
from ..motion.per_frame import frame_setting
from .schema import Floats, MotionBlocks, MotionKeyframes, category, io


def _optional_values(text: str, floats, name: str):
    """None when neither is given (the keyframe leaves the value to inherit), else the values."""
    if floats is None and not str(text).strip():
        return None
    return frame_setting(1.0, text, floats, name)


class SteadyFrameMotionKeyframe(io.ComfyNode):
    """One keyframe of motion scale/effect over the sampling steps; chain them into a list."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameMotionKeyframe",
            display_name="Motion Keyframe",
            category=category("motion"),
            description=("From start_percent of the sampling run on, multiplies the motion module's scale and effect by "
                         "these values (per frame allowed). Chain keyframes through prev_keyframes; connect the list to "
                         "Motion Module Steps or Chain Motion Module."),
            inputs=[
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Where the keyframe starts: 0 = first sampling step, 1 = the end."),
                io.String.Input("scale", default="", multiline=False,
                                tooltip="Motion scale factor from here on: one number, or one per frame "
                                        "('1.0, 1.2, 1.4'; the last repeats). Empty = keep the previous keyframe's."),
                io.String.Input("effect", default="", multiline=False,
                                tooltip="Effect factor from here on (0 = motion module off), one number or one per frame. "
                                        "Empty = keep the previous keyframe's."),
                io.Boolean.Input("inherit_missing", default=True,
                                 tooltip="Values this keyframe leaves empty keep the previous keyframe's; off = reset to 1."),
                io.Int.Input("guarantee_steps", default=1, min=0, max=10000,
                             tooltip="Steps this keyframe holds before a later keyframe may take over."),
                MotionKeyframes.Input("prev_keyframes", optional=True, tooltip="Keyframes to add this one to."),
                Floats.Input("scale_floats", optional=True, tooltip="Per-frame scale factors (overrides scale)."),
                Floats.Input("effect_floats", optional=True, tooltip="Per-frame effect factors (overrides effect)."),
                MotionBlocks.Input("block_weights", optional=True,
                                   tooltip="Per-block weights from here on (replace the model's block weights)."),
            ],
            outputs=[MotionKeyframes.Output("keyframes")],
        )

    @classmethod
    def execute(cls, start_percent, scale="", effect="", inherit_missing=True, guarantee_steps=1, prev_keyframes=None,
                scale_floats=None, effect_floats=None, block_weights=None) -> io.NodeOutput:
        keyframe = MotionKeyframe(start_percent=start_percent, scale=_optional_values(scale, scale_floats, "scale"),
                                  effect=_optional_values(effect, effect_floats, "effect"), blocks=block_weights,
                                  inherit_missing=inherit_missing, guarantee_steps=guarantee_steps)
        return io.NodeOutput(add_keyframe(prev_keyframes or (), keyframe))


class SteadyFrameMotionBlockWeights(io.ComfyNode):
    """Motion effect and scale per UNet block (down, mid, up; single blocks or modules by text)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        def weight(name, what, where):
            return io.Float.Input(name, default=1.0, min=0.0, max=10.0, step=0.01,
                                  tooltip=f"{what} factor for the motion modules of the {where} blocks.")

        return io.Schema(
            node_id="SteadyFrameMotionBlockWeights",
            display_name="Motion Block Weights",
            category=category("motion"),
            description=("Weights the motion module per UNet block: effect (how much of its change is kept) and scale "
                         "(temporal attention sharpness) for the down, mid and up blocks, with optional per-block or "
                         "per-module overrides as text."),
            inputs=[
                weight("effect_down", "Effect", "down (input)"), weight("effect_mid", "Effect", "middle"),
                weight("effect_up", "Effect", "up (output)"),
                weight("scale_down", "Scale", "down (input)"), weight("scale_mid", "Scale", "middle"),
                weight("scale_up", "Scale", "up (output)"),
                io.String.Input("effect_per_block", default="", multiline=False,
                                tooltip="Overrides for single blocks or modules, e.g. 'down_0: 0.5, up_3.2: 0' "
                                        "(SD1.5: down_0..3 with modules .0/.1, mid, up_0..3 with .0/.1/.2)."),
                io.String.Input("scale_per_block", default="", multiline=False,
                                tooltip="Scale overrides, same form as effect_per_block, e.g. 'up_3: 1.2'."),
            ],
            outputs=[MotionBlocks.Output("block_weights")],
        )

    @classmethod
    def execute(cls, effect_down=1.0, effect_mid=1.0, effect_up=1.0, scale_down=1.0, scale_mid=1.0, scale_up=1.0,
                effect_per_block="", scale_per_block="") -> io.NodeOutput:
        entries = [BlockWeight(block, effect=effect, scale=scale) for block, effect, scale in
                   (("down", effect_down, scale_down), ("mid", effect_mid, scale_mid), ("up", effect_up, scale_up))]
        entries += parse_block_weights(effect_per_block, "effect", "effect_per_block")
        entries += parse_block_weights(scale_per_block, "scale", "scale_per_block")
        return io.NodeOutput(BlockWeights(tuple(entries)))


def step_range_inputs() -> list:
    """start_percent / end_percent: the part of the sampling run a motion module acts in."""
    return [
        io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                       tooltip="The module acts from here (0 = first step)."),
        io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                       tooltip="... up to here (1 = last step)."),
    ]


class SteadyFrameMotionSteps(io.ComfyNode):
    """Limit the last-attached motion module to a range of sampling steps, with keyframes and block weights."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameMotionSteps",
            display_name="Motion Module Steps",
            category=category("motion"),
            description=("Sets when the motion module last attached to the model acts (start/end percent of the sampling "
                         "run; outside the range its effect is 0), its keyframes and its per-block weights."),
            inputs=[
                io.Model.Input("model", tooltip="A MODEL with a motion module (Load Motion Module or Chain Motion Module)."),
                *step_range_inputs(),
                MotionKeyframes.Input("keyframes", optional=True, tooltip="Scale/effect keyframes (Motion Keyframe)."),
                MotionBlocks.Input("block_weights", optional=True, tooltip="Per-block weights (Motion Block Weights)."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, start_percent=0.0, end_percent=1.0, keyframes=None, block_weights=None) -> io.NodeOutput:
        return io.NodeOutput(set_step_control(model, start_percent=start_percent, end_percent=end_percent,
                                              keyframes=tuple(keyframes or ()), blocks=block_weights))


class SteadyFrameChainMotionModule(io.ComfyNode):
    """Add a second (third...) motion module to a MODEL, acting over its own range of steps."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameChainMotionModule",
            display_name="Chain Motion Module",
            category=category("motion"),
            description=("Adds another motion module to a MODEL that already has one (Load Motion Module). It runs after "
                         "the others at every place in the UNet, only between start_percent and end_percent of the "
                         "sampling run, e.g. model A for the first half (Motion Module Steps 0..0.5), model B after."),
            inputs=[
                io.Model.Input("model", tooltip="A MODEL with a motion module."),
                io.Combo.Input("motion_module", options=motion_file_names(),
                               tooltip="A file from models/animatediff_models for the same base model (SD1.5 or SDXL)."),
                *step_range_inputs(),
                io.Float.Input("motion_scale", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Multiplies this module's temporal attention keys."),
                io.Float.Input("effect", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="How much of this module's change to keep."),
                MotionKeyframes.Input("keyframes", optional=True, tooltip="Scale/effect keyframes for this module."),
                MotionBlocks.Input("block_weights", optional=True, tooltip="Per-block weights for this module."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, motion_module, start_percent=0.0, end_percent=1.0, motion_scale=1.0, effect=1.0,
                keyframes=None, block_weights=None) -> io.NodeOutput:
        control = MotionControl(scale=motion_scale, effect=effect, blocks=block_weights, keyframes=tuple(keyframes or ()),
                                start_percent=start_percent, end_percent=end_percent)
        return io.NodeOutput(load_and_chain(model, motion_module, control))


class SteadyFrameFreeInit(io.ComfyNode):
    """Sample several times, re-using the low frequencies of each result (FreeInit)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameFreeInit",
            display_name="FreeInit",
            category=category("motion"),
            description=("FreeInit: the sampler runs `iterations` times. Between runs the result is noised back to the "
                         "first step and its low spatio-temporal frequencies are kept, with fresh noise for the high "
                         "ones; this improves temporal consistency at the cost of iterations x the sampling time."),
            inputs=[
                io.Model.Input("model", tooltip="A MODEL (usually with a motion module)."),
                io.Int.Input("iterations", default=2, min=1, max=20,
                             tooltip="Sampling runs in total; each costs a full sampling. 1 = off."),
                io.Combo.Input("filter", options=FreqFilter, default=FreqFilter.GAUSSIAN,
                               tooltip="Low-pass filter shape; butterworth with a high order approaches ideal."),
                io.Float.Input("spatial_stop", default=0.25, min=0.0, max=1.0, step=0.001,
                               tooltip="Normalised spatial stop frequency (d_s): higher keeps more detail of each run."),
                io.Float.Input("temporal_stop", default=0.25, min=0.0, max=1.0, step=0.001,
                               tooltip="Normalised temporal stop frequency (d_t): higher keeps faster changes."),
                io.Int.Input("butterworth_order", default=4, min=1, max=100, tooltip="Order of the butterworth filter."),
                io.Int.Input("sigma_step", default=999, min=1, max=999,
                             tooltip="Training step whose sigma the result is noised to (999 = pure noise level)."),
                io.Boolean.Input("apply_to_first", default=False,
                                 tooltip="Also filter the first run's noise against the input latent."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, iterations=2, filter=FreqFilter.GAUSSIAN, spatial_stop=0.25, temporal_stop=0.25,
                butterworth_order=4, sigma_step=999, apply_to_first=False) -> io.NodeOutput:
        settings = FreeInitSettings(iterations=iterations, filter=FreqFilter.parse(filter, "FreeInit filter"),
                                    d_s=spatial_stop, d_t=temporal_stop, order=butterworth_order,
                                    sigma_step=sigma_step, apply_to_first=apply_to_first)
        return io.NodeOutput(apply_freeinit(model, settings))


NODES = [SteadyFrameMotionKeyframe, SteadyFrameMotionBlockWeights, SteadyFrameMotionSteps, SteadyFrameChainMotionModule,
         SteadyFrameFreeInit]
