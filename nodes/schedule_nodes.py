"""Prompt Schedule (prompt travel) and Value Schedule: declarations only.

The syntax, expressions and blends live in ``schedule/``; the encoding with the user's CLIP in
``comfy_glue/prompt_encode.py``.
"""
from ..comfy_glue.prompt_encode import SDXL_SIZE_DEFAULTS, encode_prompt_schedule
from ..schedule import PromptInterpolation, ValueInterpolation
from ..schedule.node_inputs import (
    check_prompt_schedule_syntax,
    check_value_schedule_syntax,
    prompt_weights,
    schedule_frames,
    value_schedule_outputs,
)
from ..schedule.prompt_schedule import WEIGHT_NAMES
from .schema import Chunk, Floats, category, io

MAX_FRAMES = 100_000
MAX_RESOLUTION = 16384

DEFAULT_PROMPT_TEXT = '"0": "a cat sitting on a sofa",\n"8": "a dog sitting on a sofa",\n"15": "a fox sitting on a sofa"'
DEFAULT_VALUE_TEXT = "0:(1.0), 8:(0.5), 15:(1.0)"
CHUNK_TOOLTIP = ("Optional: one chunk of a long video. The schedule then spans the whole video (its frame count, "
                 "not max_frames) and outputs this chunk's loaded frames, numbered as in the whole video.")


class SteadyFramePromptSchedule(io.ComfyNode):
    """Prompt travel: one conditioning per frame, blended between keyframe prompts."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFramePromptSchedule",
            display_name="Prompt Schedule (prompt travel)",
            category=category("schedule"),
            description=("Prompt travel: encodes each keyframe prompt once and blends the token embeddings and pooled "
                         "output between keyframes, giving one conditioning per frame. Accepts FizzNodes, A1111 prompt "
                         "travel and Deforum-style keys."),
            inputs=[
                io.Clip.Input("clip", tooltip="The CLIP from your checkpoint (SD1.5 or SDXL)."),
                io.String.Input("text", multiline=True, default=DEFAULT_PROMPT_TEXT,
                                tooltip='Keyframes: FizzNodes style "frame": "prompt" (commas between, braces '
                                        'optional) or A1111 lines frame: prompt with optional head and tail lines. '
                                        'Frames: 12, -1 (last), +8 (after the previous key), 50%, 0..11 (hold a range), '
                                        '12! (hold until the next key). "--neg" starts the negative part; '
                                        '`expressions` in t, max_f, pw_a..pw_d are evaluated per frame.'),
                io.Int.Input("max_frames", default=16, min=1, max=MAX_FRAMES,
                             tooltip="Number of frames (ignored when a latent is connected: its batch size counts)."),
                io.Latent.Input("latent", optional=True, tooltip="Optional: the frame count is this latent's batch size."),
                # multiline=None: the V1 node declared no multiline flag; the entry stays identical
                io.String.Input("pre_text", default="", multiline=None, optional=True,
                                tooltip="Put before every prompt (may hold --neg and `expressions`)."),
                io.String.Input("app_text", default="", multiline=None, optional=True,
                                tooltip="Put after every prompt (may hold --neg and `expressions`)."),
                io.Combo.Input("interpolation", options=PromptInterpolation, default=PromptInterpolation.LINEAR,
                               optional=True,
                               tooltip="How frames between keys blend: linear, slerp (spherical), ease_in/ease_out/"
                                       "ease_in_out (eased linear), none (hold each prompt until the next key)."),
                # "FLOAT,FLOATS", socket only (forceInput, as before): a number or a Value Schedule's values
                *(io.MultiType.Input(name, types=[io.Float, Floats], optional=True, extra_dict={"forceInput": True},
                                     tooltip=f"`{name}` in expressions: a number, or one number per frame "
                                             "(the values of a Value Schedule).")
                  for name in WEIGHT_NAMES),
                io.Boolean.Input("loop", default=False, optional=True,
                                 tooltip="After the last key, travel back to the first (a seamless loop)."),
                io.String.Input("text_l", multiline=True, default="", optional=True,
                                tooltip="SDXL only: a separate schedule for the CLIP-L encoder (same syntax). "
                                        "Empty: G and L both encode text."),
                *(io.Int.Input(name, default=default, min=0, max=MAX_RESOLUTION, step=8, optional=True,
                               tooltip=f"SDXL size conditioning {name} (ignored by SD1.5 CLIPs).")
                  for name, default in SDXL_SIZE_DEFAULTS.items()),
                Chunk.Input("chunk", optional=True, tooltip=CHUNK_TOOLTIP),
            ],
            outputs=[
                io.Conditioning.Output("positive", tooltip="One conditioning per frame (cond and pooled output batched "
                                                           "by frame) for AnimateDiff sampling."),
                io.Conditioning.Output("negative", tooltip="The --neg parts, one per frame (an empty prompt where "
                                                           "there are none)."),
                io.String.Output("frame_prompts", tooltip="The prompt and blend of every frame, one line each."),
            ],
        )

    @classmethod
    def validate_inputs(cls, text=None, text_l=None) -> bool | str:
        """Syntax errors show up when the prompt is queued, before anything runs."""
        return check_prompt_schedule_syntax(text=text, text_l=text_l)

    @classmethod
    def execute(cls, clip, text, max_frames, latent=None, pre_text="", app_text="", interpolation="linear",
                pw_a=None, pw_b=None, pw_c=None, pw_d=None, loop=False, text_l="", chunk=None,
                **sdxl_size) -> io.NodeOutput:
        frame_count, first, end = schedule_frames(max_frames, latent, chunk)
        positive, negative, frame_prompts = encode_prompt_schedule(
            clip, text, frame_count, pre_text=pre_text, app_text=app_text,
            interpolation=interpolation, loop=loop, text_l=text_l, size=sdxl_size,
            weights=prompt_weights({"pw_a": pw_a, "pw_b": pw_b, "pw_c": pw_c, "pw_d": pw_d}), first=first, end=end)
        return io.NodeOutput(positive, negative, frame_prompts)


class SteadyFrameValueSchedule(io.ComfyNode):
    """A keyframed value (Deforum ``0:(1.0), 10:(0.5)``) as one float per frame."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SteadyFrameValueSchedule",
            display_name="Value Schedule",
            category=category("schedule"),
            description=("Turns a keyframe string such as 0:(1.0), 10:(0.5), 20:(0.5+0.25*sin(t/4)) into one value per "
                         "frame, plus the value at current_frame."),
            inputs=[
                io.String.Input("text", multiline=True, default=DEFAULT_VALUE_TEXT,
                                tooltip="frame:(value) pairs separated by commas or new lines; a value may be an "
                                        "expression in t (frame) and max_f (last frame), e.g. 0.5+0.5*sin(t/4)."),
                io.Int.Input("max_frames", default=16, min=1, max=MAX_FRAMES,
                             tooltip="Number of frames (ignored when a latent is connected)."),
                io.Int.Input("current_frame", default=0, min=0, max=MAX_FRAMES * 10,
                             tooltip="Frame whose value the FLOAT and INT outputs give (wraps around)."),
                io.Combo.Input("interpolation", options=ValueInterpolation, default=ValueInterpolation.LINEAR,
                               tooltip="Between numeric keys: linear, eased, or none (hold until the next key)."),
                io.Latent.Input("latent", optional=True, tooltip="Optional: the frame count is this latent's batch size."),
                Chunk.Input("chunk", optional=True, tooltip=CHUNK_TOOLTIP + " current_frame is a frame of the whole video."),
            ],
            outputs=[
                Floats.Output("values", tooltip="One value per frame (a list), for pw_a..pw_d and other per-frame inputs."),
                io.Float.Output("value", tooltip="The value at current_frame."),
                io.Int.Output("int_value", tooltip="The value at current_frame, rounded to the nearest whole number."),
            ],
        )

    @classmethod
    def validate_inputs(cls, text=None) -> bool | str:
        """Syntax errors show up when the prompt is queued, before anything runs."""
        return check_value_schedule_syntax(text)

    @classmethod
    def execute(cls, text, max_frames, current_frame, interpolation="linear", latent=None, chunk=None) -> io.NodeOutput:
        frame_count, first, end = schedule_frames(max_frames, latent, chunk)
        values, value, int_value = value_schedule_outputs(text, frame_count, current_frame, interpolation, first, end)
        return io.NodeOutput(values, value, int_value)


NODES = [SteadyFramePromptSchedule, SteadyFrameValueSchedule]
