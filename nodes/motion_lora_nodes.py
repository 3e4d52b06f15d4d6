"""Apply MotionLoRA: camera moves on an attached motion module, factorized, stackable, scheduled."""
from ..comfy_glue.folders import model_file_names, model_file_path
from ..comfy_glue.motion_lora import LORA_FOLDER, PACK_LORA_DIR, apply_motion_lora
from ..motion.lora import StrengthSchedule, load_motion_lora, parse_strength_schedule
from .schema import category, io


class SteadyFrameApplyMotionLoRA(io.ComfyNode):
    """Stack a MotionLoRA (camera move) on the motion module of a MODEL."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameApplyMotionLoRA",
            display_name="Apply MotionLoRA",
            category=category("motion"),
            description=("Adds a MotionLoRA (e.g. the official v2 camera moves: pan, zoom, tilt, roll) to the motion module "
                         "attached by Load Motion Module. Chain several to stack them. The LoRA stays factorized (no dense "
                         "weight copies); an optional schedule fades it over the sampling steps."),
            inputs=[
                io.Model.Input("model", tooltip="A MODEL with a motion module (output of Load Motion Module)."),
                io.Combo.Input("lora_name", options=model_file_names(LORA_FOLDER, PACK_LORA_DIR),
                               tooltip=f"A MotionLoRA from models/{LORA_FOLDER}."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="Multiplies the LoRA: W + strength * up @ down. 0 = off."),
                io.String.Input("strength_schedule", default="", multiline=False, optional=True,
                                tooltip="Optional strength over sampling progress 0..1, multiplied by strength, "
                                        "e.g. '0:(1.0), 0.5:(0.2)' fades the move to 20% by half-way. Empty = constant."),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def execute(cls, model, lora_name, strength, strength_schedule="") -> io.NodeOutput:
        path = model_file_path(LORA_FOLDER, lora_name, "MotionLoRA", PACK_LORA_DIR)
        schedule = (parse_strength_schedule(strength_schedule) if strength_schedule.strip()
                    else StrengthSchedule.constant(1.0)).scaled(strength)
        return io.NodeOutput(apply_motion_lora(model, load_motion_lora(path), schedule))


NODES = [SteadyFrameApplyMotionLoRA]
