"""Motion-module files that animate a start image: AnimateLCM-I2V and PIA.

Both are ordinary AnimateDiff-family files plus a few non-temporal keys:

==================  ==========================================  =================================
kind                extra keys                                  motion modules
==================  ==========================================  =================================
animatelcm_i2v      ``img_encoder.*`` (see image_encoder.py)    AnimateLCM (no PE, 64 frames, mid)
pia                 ``conv_in.weight (320, 9, 3, 3)``,          SD1.5 AnimateDiff (PIA ships v3-like
                    ``conv_in.bias (320)``                      modules: PE 32, no mid)
==================  ==========================================  =================================

The plain loader (:func:`.formats.normalize_motion_state_dict`) keeps only the temporal keys,
so these files also load there as their base format, without the image input.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import torch

from .formats import MotionFormatError, MotionModuleInfo, normalize_motion_state_dict, read_state_dict
from .image_encoder import expected_encoder_shapes
from .pia import split_conv_in

ANIMATELCM_I2V = "animatelcm_i2v"
PIA = "pia"
KIND_NAMES = {ANIMATELCM_I2V: "AnimateLCM-I2V", PIA: "PIA"}
ENCODER_PREFIX = "img_encoder."
PIA_KEYS = ("conv_in.weight", "conv_in.bias")


@dataclass
class ImageMotionFile:
    """A loaded AnimateLCM-I2V or PIA file."""
    kind: str                           # animatelcm_i2v | pia
    motion: dict                        # normalised motion-module state dict
    info: MotionModuleInfo
    encoder: Optional[dict] = None      # img_encoder.* without the prefix (AnimateLCM-I2V)
    encoder_channels: Optional[tuple] = None
    pia_extra_weight: Optional[torch.Tensor] = None  # (C, 5, 3, 3): conv_in kernel of the extra channels (PIA)

    def describe(self) -> str:
        extra = (f"image encoder {'/'.join(map(str, self.encoder_channels or ()))}" if self.kind == ANIMATELCM_I2V
                 else f"conv_in +{0 if self.pia_extra_weight is None else self.pia_extra_weight.shape[1]} channels")
        return f"{KIND_NAMES[self.kind]}: {self.info.describe()}, {extra}"


def _outer_key(key: str) -> str:
    """``module.conv_in.weight`` -> ``conv_in.weight``: drop wrapper prefixes before a known key."""
    for known in (ENCODER_PREFIX,) + PIA_KEYS:
        at = key.find(known)
        if at >= 0 and (at == 0 or key[at - 1] == "."):
            return key[at:]
    return key


def split_image_keys(sd: Mapping) -> tuple:
    """``(motion keys, encoder keys without prefix, pia conv_in keys)`` of a raw state dict."""
    motion, encoder, conv = {}, {}, {}
    for key, value in sd.items():
        outer = _outer_key(key)
        if outer.startswith(ENCODER_PREFIX):
            encoder[outer[len(ENCODER_PREFIX):]] = value
        elif outer in PIA_KEYS:
            conv[outer] = value
        else:
            motion[key] = value
    return motion, encoder, conv


def image_motion_kind(sd: Mapping) -> Optional[str]:
    """``animatelcm_i2v``, ``pia`` or ``None`` (a plain motion module or something else)."""
    _, encoder, conv = split_image_keys(sd)
    if encoder:
        return ANIMATELCM_I2V
    if all(k in conv for k in PIA_KEYS):
        return PIA
    return None


def normalize_image_motion_state_dict(sd: Mapping, expected: str, source: str = "state dict") -> ImageMotionFile:
    """Check and split a raw state dict that must be of kind ``expected``; errors name ``source``."""
    if expected not in KIND_NAMES:
        raise ValueError(f"unknown image motion kind {expected!r}; one of {sorted(KIND_NAMES)}")
    motion_sd, encoder, conv = split_image_keys(sd)
    kind = image_motion_kind(sd)
    wanted = KIND_NAMES[expected]
    if kind != expected:
        try:
            _, info = normalize_motion_state_dict(motion_sd, source=source)
            found = info.describe()
        except MotionFormatError as exc:
            found = f"not a motion module ({exc})"
        if kind is not None:
            article = "an" if KIND_NAMES[kind][0] in "AEIOU" else "a"
            found = f"{article} {KIND_NAMES[kind]} file ({found})"
        what = ("img_encoder.* keys (the reference-image encoder)" if expected == ANIMATELCM_I2V
                else "conv_in.weight and conv_in.bias (the 9-channel input convolution)")
        raise MotionFormatError(f"{source} is {found}, not {wanted}: it has no {what}. "
                                f"Pick the {wanted} file (e.g. {'AnimateLCM-I2V.ckpt' if expected == ANIMATELCM_I2V else 'pia.ckpt'}) "
                                f"or load this one with Load Motion Module")
    if expected == PIA and conv and not all(k in conv for k in PIA_KEYS):
        raise MotionFormatError(f"{source}: PIA conv_in is incomplete (found {sorted(conv)}, expected {list(PIA_KEYS)})")
    normalized, info = normalize_motion_state_dict(motion_sd, source=source)
    if expected == ANIMATELCM_I2V:
        if info.version != "animatelcm":
            raise MotionFormatError(f"{source} has img_encoder.* keys but its motion modules are {info.describe()}; "
                                    f"AnimateLCM-I2V files carry AnimateLCM modules (no positional-encoding keys)")
        channels = tuple(block[0] for block in info.layout.down)
        expected_shapes = expected_encoder_shapes(channels)
        missing = sorted(set(expected_shapes) - set(encoder))
        unexpected = sorted(set(encoder) - set(expected_shapes))
        if missing or unexpected:
            raise MotionFormatError(f"{source}: the image encoder does not match the AnimateLCM-I2V layout for stage widths "
                                    f"{channels}: missing {['img_encoder.' + k for k in missing[:3]]}, "
                                    f"unexpected {['img_encoder.' + k for k in unexpected[:3]]}")
        for key, shape in expected_shapes.items():
            if tuple(encoder[key].shape) != shape:
                raise MotionFormatError(f"{source}: img_encoder.{key} has shape {tuple(encoder[key].shape)}, expected {shape}")
        return ImageMotionFile(ANIMATELCM_I2V, normalized, info, encoder=encoder, encoder_channels=channels)
    if info.family != "sd15":
        raise MotionFormatError(f"{source}: PIA conv_in keys on {info.describe()}; PIA is an SD1.5 model")
    try:
        extra = split_conv_in(conv["conv_in.weight"], source)
    except ValueError as exc:
        raise MotionFormatError(str(exc)) from None
    width = info.layout.down[0][0]
    if extra.shape[0] != width or tuple(conv["conv_in.bias"].shape) != (width,):
        raise MotionFormatError(f"{source}: conv_in has {extra.shape[0]} output channels (bias {tuple(conv['conv_in.bias'].shape)}), "
                                f"expected {width} like the first motion modules")
    return ImageMotionFile(PIA, normalized, info, pia_extra_weight=extra)


def load_image_motion_file(path, expected: str) -> ImageMotionFile:
    """Read ``path`` (safetensors, or a pickle through ``torch.load(weights_only=True)``) as ``expected``."""
    return normalize_image_motion_state_dict(read_state_dict(path), expected, source=str(path))
