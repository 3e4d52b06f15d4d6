"""Image-to-video motion models: Load AnimateLCM-I2V and Load PIA (start image in, MODEL out)."""
from ..comfy_glue.image_motion import load_animatelcm_i2v, load_pia
from ..comfy_glue.motion_loader import motion_file_names
from ..motion.beta_schedules import BetaSchedule
from ..motion.pia import AffinityPreset
from ..motion.windows import DEFAULT_LENGTH, DEFAULT_OVERLAP
from .schema import Floats, category, io


def _common_inputs():
    return [
        io.Combo.Input("beta_schedule", options=BetaSchedule, default=BetaSchedule.AUTO,
                       tooltip="Noise schedule. auto = what the module was trained with."),
        io.Float.Input("motion_scale", default=1.0, min=0.0, max=10.0, step=0.01,
                       tooltip="Multiplies the temporal attention keys: >1 sharper, <1 softer motion attention."),
        io.Float.Input("effect", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="How much of the motion module's change to keep (0 = off, 1 = full)."),
        io.Int.Input("context_length", default=DEFAULT_LENGTH, min=0, max=128,
                     tooltip="Frames per context window for videos longer than this; 0 = no windows."),
        io.Int.Input("context_overlap", default=DEFAULT_OVERLAP, min=0, max=127, tooltip="Frames shared by neighbouring windows."),
    ]


class SteadyFrameLoadAnimateLCMI2V(io.ComfyNode):
    """Animate a start image with an AnimateLCM-I2V file (motion modules + reference-image encoder)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadAnimateLCMI2V",
            display_name="Load AnimateLCM-I2V (image to video)",
            category=category("motion"),
            description=("Loads an AnimateLCM-I2V motion model and attaches it to the model with a start image: KSampler then "
                         "samples the latent batch as an animation of that image. Use it with the AnimateLCM LoRA, "
                         "a low cfg (1-2) and the lcm sampler."),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 model (with the AnimateLCM LoRA for few-step sampling)."),
                io.Combo.Input("motion_module", options=motion_file_names(),
                               tooltip="The AnimateLCM-I2V file (motion modules plus img_encoder keys) from models/animatediff_models."),
                io.Image.Input("start_image", tooltip="The image to animate (the first image of a batch is used); "
                                                      "resized to the latent size with a centre crop."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE, to encode the start image."),
                io.Float.Input("ref_drift", default=0.0, min=0.0, max=10.0, step=0.001,
                               tooltip="0 = every frame holds to the start image; higher lets later frames drift away from it."),
                *_common_inputs(),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, motion_module, start_image, vae, ref_drift=0.0, beta_schedule=BetaSchedule.AUTO,
                motion_scale=1.0, effect=1.0, context_length=DEFAULT_LENGTH, context_overlap=DEFAULT_OVERLAP) -> io.NodeOutput:
        return io.NodeOutput(load_animatelcm_i2v(
            model, motion_module, start_image, vae, ref_drift=ref_drift, beta_schedule=beta_schedule, motion_scale=motion_scale,
            effect=effect, context_length=context_length, context_overlap=context_overlap))


class SteadyFrameLoadPIA(io.ComfyNode):
    """Animate a start image with a PIA file (motion modules + 9-channel conv_in), per-frame affinity."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameLoadPIA",
            display_name="Load PIA (image to video)",
            category=category("motion"),
            description=("Loads a PIA motion model and attaches it to the model with a start image and a per-frame affinity "
                         "(1 = follow the start image closely, lower = more motion). KSampler then samples the latent batch "
                         "as an animation of that image."),
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 model."),
                io.Combo.Input("motion_module", options=motion_file_names(),
                               tooltip="The PIA file (motion modules plus conv_in keys, e.g. pia.ckpt) from models/animatediff_models."),
                io.Image.Input("start_image", tooltip="The image to animate (the first image of a batch is used); "
                                                      "resized to the latent size with a centre crop."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE, to encode the start image."),
                io.Combo.Input("affinity_preset", options=AffinityPreset, default=AffinityPreset.CONSTANT,
                               tooltip="Per-frame affinity: the PIA paper's motion ranges (values move outward from "
                                       "preset_frame; Loop presets go and come back), or the affinity value for every frame."),
                io.Int.Input("preset_frame", default=0, min=-4096, max=4096,
                             tooltip="The frame the preset starts from (the start image's frame); negative counts from the end."),
                io.Float.Input("affinity", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="Multiplies the preset's values (with 'constant': the affinity of every frame)."),
                *_common_inputs(),
                Floats.Input("affinity_floats", optional=True,
                             tooltip="Optional per-frame multipliers (e.g. from Value Schedule); replace the affinity value."),
            ],
            outputs=[io.Model.Output("model")],
        )

    @classmethod
    def execute(cls, model, motion_module, start_image, vae, affinity_preset=AffinityPreset.CONSTANT, preset_frame=0,
                affinity=1.0, beta_schedule=BetaSchedule.AUTO, motion_scale=1.0, effect=1.0, context_length=DEFAULT_LENGTH,
                context_overlap=DEFAULT_OVERLAP, affinity_floats=None) -> io.NodeOutput:
        return io.NodeOutput(load_pia(
            model, motion_module, start_image, vae, affinity_preset=affinity_preset, start_frame=preset_frame, affinity=affinity,
            affinity_floats=affinity_floats, beta_schedule=beta_schedule, motion_scale=motion_scale, effect=effect,
            context_length=context_length, context_overlap=context_overlap))


NODES = [SteadyFrameLoadAnimateLCMI2V, SteadyFrameLoadPIA]
