"""SparseCtrl files and sparse hints, without ComfyUI.

A SparseCtrl file (``v3_sd15_sparsectrl_rgb.ckpt``, ``v3_sd15_sparsectrl_scribble.ckpt``) is an
SD1.5 ControlNet encoder in diffusers naming whose four down blocks also carry AnimateDiff motion
modules with a single temporal self-attention each::

    conv_in, time_embedding.*, down_blocks.B.{resnets,attentions,downsamplers}.*, mid_block.*
    down_blocks.B.motion_modules.M.temporal_transformer.*      (B = 0..3, M = 0..1)
    controlnet_down_blocks.N, controlnet_mid_block
    scribble: controlnet_cond_embedding.{conv_in,blocks.N,conv_out}   3 image channels + mask
    rgb:      controlnet_cond_embedding.{weight,bias}                 4 latent channels + mask

The encoder sees zeros instead of the noisy latents; its only input is the hint, given on a few
chosen frames, with a mask channel that is 1 on those frames and 0 elsewhere.

Sparse hint (what :func:`sparse_hint_frames` builds): ``(frames, H, W, 4)`` float 0..1, RGB of the
chosen frames (zeros elsewhere) plus an alpha channel that is 1 exactly on the chosen frames. It
travels through ComfyUI's Apply ControlNet as an ordinary IMAGE batch of one frame per latent
frame, so context windows can slice it like any per-frame hint.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .formats import MotionFormatError, read_state_dict, unwrap_state_dict
from .temporal import MotionLayout, sinusoidal_pe

KINDS = ("rgb", "scribble")
# channels of the hint without the mask: RGB SparseCtrl reads VAE latents, scribble reads images
HINT_CHANNELS = {"rgb": 4, "scribble": 3}
_MOTION_KEY = re.compile(r"^down_blocks\.(\d+)\.motion_modules\.(\d+)\.temporal_transformer\.(.+)$")
_ATTENTION = "transformer_blocks.0.attention_blocks.0."
_PE_KEY = _ATTENTION + "pos_encoder.pe"


class SparseCtrlFormatError(MotionFormatError):
    """The file is not a SparseCtrl model this pack can load; the message names file and finding."""


@dataclass(frozen=True)
class SparseCtrlInfo:
    """What a SparseCtrl file is. ``layout``: its motion modules (down blocks only)."""
    kind: str            # rgb | scribble
    hint_channels: int   # channels the encoder's first conv reads: hint + 1 mask
    layout: MotionLayout
    pe_in_file: bool

    @property
    def pe_length(self) -> int:
        return self.layout.pe_length

    def describe(self) -> str:
        modules = len(self.layout.injection_order())
        what = "RGB (VAE-encoded hint frames)" if self.kind == "rgb" else "scribble / image hint frames"
        return f"SparseCtrl {what}, {modules} motion modules, up to {self.pe_length} frames per call"


def _what_is_it(sd: Mapping, source: str) -> str:
    keys = list(sd)
    if any(".motion_modules." in k for k in keys) and not any(k.startswith("controlnet_") for k in keys):
        return (f"{source} is an AnimateDiff motion module, not a SparseCtrl model; load it with "
                f"Load Motion Module (AnimateDiff)")
    if any(k.startswith(("controlnet_", "control_model.", "zero_convs.", "input_hint_block.")) for k in keys):
        return (f"{source} is a ControlNet without motion modules, not a SparseCtrl model; load it with core "
                f"Load ControlNet Model")
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return f"{source} is a Stable Diffusion checkpoint, not a SparseCtrl model"
    return f"{source} has no SparseCtrl keys (first keys: {', '.join(keys[:3])})"


def expected_motion_rest_keys() -> set:
    """Keys of one SparseCtrl motion module below ``temporal_transformer.`` (one attention block)."""
    rest = {"norm.weight", "norm.bias", "proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias",
            "transformer_blocks.0.ff.net.0.proj.weight", "transformer_blocks.0.ff.net.0.proj.bias",
            "transformer_blocks.0.ff.net.2.weight", "transformer_blocks.0.ff.net.2.bias",
            "transformer_blocks.0.ff_norm.weight", "transformer_blocks.0.ff_norm.bias",
            "transformer_blocks.0.norms.0.weight", "transformer_blocks.0.norms.0.bias"}
    rest |= {_ATTENTION + name for name in ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight", "to_out.0.bias")}
    return rest


def split_sparsectrl_state_dict(sd: MutableMapping, source: str = "state dict") -> tuple:
    """``(controlnet_sd, motion_sd, info)`` of a SparseCtrl state dict (the tensors are shared, not copied).

    ``controlnet_sd`` keeps the diffusers ControlNet names; ``motion_sd`` holds the motion keys as
    ``down_blocks.B.motion_modules.M.temporal_transformer.<rest>``, with a computed positional
    table where the file has none. Raises :class:`SparseCtrlFormatError` naming ``source``.
    """
    sd = dict(sd)
    if "controlnet_cond_embedding.weight" in sd:
        kind = "rgb"
        first = sd["controlnet_cond_embedding.weight"]
    elif "controlnet_cond_embedding.conv_in.weight" in sd:
        kind = "scribble"
        first = sd["controlnet_cond_embedding.conv_in.weight"]
    else:
        raise SparseCtrlFormatError(_what_is_it(sd, source))
    if first.ndim != 4:
        raise SparseCtrlFormatError(f"{source}: the condition embedding's first conv has shape {tuple(first.shape)}, "
                                    f"expected (channels, hint channels, 3, 3)")
    hint_channels = int(first.shape[1])
    if hint_channels != HINT_CHANNELS[kind] + 1:
        raise SparseCtrlFormatError(
            f"{source}: {kind} SparseCtrl reads {hint_channels} hint channels, expected {HINT_CHANNELS[kind] + 1} "
            f"({HINT_CHANNELS[kind]} {'latent' if kind == 'rgb' else 'image'} channels + 1 mask); a SparseCtrl without "
            f"the conditioning mask is not supported")

    motion: dict = {}
    modules: dict = {}
    for key in list(sd):
        if "temporal" not in key:
            continue
        match = _MOTION_KEY.match(key)
        if match is None:
            raise SparseCtrlFormatError(f"{source}: unexpected temporal key {key} (SparseCtrl has motion modules in "
                                        f"its down blocks only: down_blocks.B.motion_modules.M.temporal_transformer.*)")
        block, index, rest = int(match.group(1)), int(match.group(2)), match.group(3)
        modules.setdefault(block, {}).setdefault(index, set()).add(rest)
        motion[key] = sd.pop(key)
    if not motion:
        raise SparseCtrlFormatError(f"{source} has a ControlNet condition embedding but no motion-module keys; it is "
                                    f"an ordinary ControlNet, load it with core Load ControlNet Model")
    if sorted(modules) != list(range(len(modules))):
        raise SparseCtrlFormatError(f"{source}: motion modules in down blocks {sorted(modules)}, expected 0..{len(modules) - 1}")

    expected = expected_motion_rest_keys()
    down = []
    pe_lengths = set()
    pe_in_file = None
    for block in sorted(modules):
        indexed = modules[block]
        if sorted(indexed) != list(range(len(indexed))):
            raise SparseCtrlFormatError(f"{source}: down_blocks.{block} has motion modules {sorted(indexed)}, "
                                        f"expected 0..{len(indexed) - 1}")
        channels = []
        for index in sorted(indexed):
            name = f"down_blocks.{block}.motion_modules.{index}"
            rests = indexed[index]
            missing = sorted(expected - rests)
            extra = sorted(rests - expected - {_PE_KEY})
            if missing or extra:
                hint = (" (this looks like a two-attention AnimateDiff module; SparseCtrl has one)"
                        if any("attention_blocks.1." in r for r in extra) else "")
                raise SparseCtrlFormatError(
                    f"{source}: motion module {name} does not have the SparseCtrl layout: missing {missing[:3]}, "
                    f"unexpected {extra[:3]}{hint}")
            c = int(motion[f"{name}.temporal_transformer.norm.weight"].shape[0])
            channels.append(c)
            has_pe = _PE_KEY in rests
            if pe_in_file is not None and pe_in_file != has_pe:
                raise SparseCtrlFormatError(f"{source}: positional tables in some motion modules and not in others ({name})")
            pe_in_file = has_pe
            if has_pe:
                pe = motion[f"{name}.temporal_transformer.{_PE_KEY}"]
                if pe.ndim != 3 or pe.shape[0] != 1 or pe.shape[2] != c:
                    raise SparseCtrlFormatError(f"{source}: {name} positional table has shape {tuple(pe.shape)}, "
                                                f"expected (1, frames, {c})")
                pe_lengths.add(int(pe.shape[1]))
        down.append(tuple(channels))
    if len(pe_lengths) > 1:
        raise SparseCtrlFormatError(f"{source}: motion modules disagree on positional length ({sorted(pe_lengths)})")
    pe_length = pe_lengths.pop() if pe_lengths else 32
    layout = MotionLayout(down=tuple(down), up=(), mid=None, pe_length=pe_length)
    if not pe_in_file:
        for key in layout.injection_order():
            c = int(motion[f"{key}.temporal_transformer.norm.weight"].shape[0])
            motion[f"{key}.temporal_transformer.{_PE_KEY}"] = sinusoidal_pe(pe_length, c)
    info = SparseCtrlInfo(kind=kind, hint_channels=hint_channels, layout=layout, pe_in_file=bool(pe_in_file))
    return sd, motion, info


def read_sparsectrl_file(path) -> dict:
    """The tensors of a ``.safetensors`` or pickle file (``torch.load(weights_only=True)``).

    Pickles may wrap the tensors in ``{"controlnet": ...}`` or ``{"state_dict": ...}``.
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors" and path.is_file() and path.stat().st_size > 0:
        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:
            loaded = None  # read_state_dict below reports why, naming the file
        if isinstance(loaded, Mapping) and isinstance(loaded.get("controlnet"), Mapping):
            return unwrap_state_dict(dict(loaded["controlnet"]), str(path))
        if isinstance(loaded, Mapping):
            return unwrap_state_dict(dict(loaded), str(path))
    try:
        return read_state_dict(path, kind="SparseCtrl model")
    except SparseCtrlFormatError:
        raise
    except MotionFormatError as exc:
        raise SparseCtrlFormatError(str(exc).replace("motion module", "SparseCtrl model")) from exc


def load_sparsectrl_file(path) -> tuple:
    """``(controlnet_sd, motion_sd, info)`` of a ``.safetensors`` or ``.ckpt`` file (weights only)."""
    return split_sparsectrl_state_dict(read_sparsectrl_file(path), source=str(path))


def build_sparse_motion_model(motion_sd: MutableMapping, info: SparseCtrlInfo, ops=None,
                              dtype: Optional[torch.dtype] = None):
    """A :class:`~.temporal.MotionModel` with one temporal attention per module, holding ``motion_sd``.

    ``motion_sd`` is emptied (its tensors move into the model, cast to ``dtype``).
    """
    from torch import nn

    from .temporal import MotionModel

    with torch.device("meta"):  # shapes only: every tensor comes from motion_sd
        model = MotionModel(info.layout, ops=ops)
        for module in model.modules_in_order():
            block = module.temporal_transformer.transformer_blocks[0]
            block.attention_blocks = nn.ModuleList([block.attention_blocks[0]])
            block.norms = nn.ModuleList([block.norms[0]])
    expected = model.state_dict()
    missing = sorted(set(expected) - set(motion_sd))
    unexpected = sorted(set(motion_sd) - set(expected))
    if missing or unexpected:
        raise SparseCtrlFormatError(f"SparseCtrl motion keys do not match: missing {missing[:3]}, unexpected {unexpected[:3]}")
    weights = {}
    for key in list(motion_sd):
        tensor = motion_sd.pop(key)
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise SparseCtrlFormatError(f"SparseCtrl motion key {key} has shape {tuple(tensor.shape)}, "
                                        f"expected {tuple(expected[key].shape)}")
        weights[key] = tensor.to(dtype=dtype or torch.float32, memory_format=torch.contiguous_format)
    model.load_state_dict(weights, strict=True, assign=True)
    return model.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------
# frame indices and sparse hints

class FrameIndexError(ValueError):
    """A frame-index list could not be read; the message names the entry, its column and the rule."""


def parse_frame_indices(text: str, frame_count: int) -> list:
    """``"0, 8, -1"`` -> ``[0, 8, frame_count - 1]``: comma-separated frame numbers of a clip.

    Negative numbers count from the end (-1 = the last frame). Errors name the entry and its
    column (1-based) in ``text``: not an integer, out of range, a duplicate (also when a negative
    and a positive number are the same frame), or an empty list.
    """
    if frame_count < 1:
        raise FrameIndexError(f"frame_count must be at least 1, got {frame_count}")
    indices = []
    seen: dict = {}
    column = 1
    for entry in text.split(","):
        stripped = entry.strip()
        where = column + (len(entry) - len(entry.lstrip()))
        column += len(entry) + 1
        if not stripped:
            if not text.strip():
                break
            raise FrameIndexError(f"frame indices {text!r}: empty entry at column {where}; write numbers separated "
                                  f"by commas, e.g. 0,8,15")
        try:
            value = int(stripped)
        except ValueError:
            raise FrameIndexError(f"frame indices {text!r}: {stripped!r} at column {where} is not a whole number; "
                                  f"write frame numbers separated by commas, e.g. 0,8,15 (-1 = last frame)") from None
        frame = value + frame_count if value < 0 else value
        if not 0 <= frame < frame_count:
            raise FrameIndexError(f"frame indices {text!r}: {value} at column {where} is outside the clip of {frame_count} "
                                  f"frames (allowed {-frame_count}..{frame_count - 1})")
        if frame in seen:
            raise FrameIndexError(f"frame indices {text!r}: {value} at column {where} is frame {frame} again "
                                  f"(first at column {seen[frame]}); each frame can be listed once")
        seen[frame] = where
        indices.append(frame)
    if not indices:
        raise FrameIndexError("frame indices: the list is empty; give at least one frame number, e.g. 0")
    return indices


def sparse_hint_frames(images: torch.Tensor, indices: Sequence[int], frame_count: int) -> torch.Tensor:
    """The sparse hint ``(frame_count, H, W, 4)`` (see the module doc) from hint images.

    ``images: (K, H, W, C)`` float 0..1 (C = 3, or 4 whose alpha is ignored). Either one image per
    index (image i goes on frame ``indices[i]``), or a whole clip of ``frame_count`` images, of
    which the listed frames are used.
    """
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"hint images must be an IMAGE batch (frames, height, width, 3), got shape {tuple(images.shape)}")
    count = int(images.shape[0])
    if count == frame_count:
        picked = images[list(indices)]
    elif count == len(indices):
        picked = images
    else:
        raise ValueError(
            f"{count} hint image(s) for {len(indices)} frame index(es) in a clip of {frame_count} frames: give one image "
            f"per index, or the whole clip ({frame_count} images) to take the listed frames from it")
    _, h, w, _ = images.shape
    hint = torch.zeros(frame_count, h, w, 4, dtype=torch.float32)
    index = torch.as_tensor(list(indices), dtype=torch.long)
    hint[index, :, :, :3] = picked[..., :3].to(torch.float32)
    hint[index, :, :, 3] = 1.0
    return hint


def hinted_frames(hint: torch.Tensor) -> list:
    """Frames of a sparse hint ``(frames, 4, H, W)`` (channels first) whose mask channel is set."""
    if hint.ndim != 4 or hint.shape[1] != 4:
        raise ValueError(
            f"a SparseCtrl hint has 4 channels (RGB + a mask of the hinted frames), got shape {tuple(hint.shape)} "
            f"(frames, channels, height, width); make it with the SparseCtrl Hint node")
    return [int(i) for i in torch.nonzero(hint[:, 3].flatten(1).amax(dim=1) > 0.5).flatten()]
