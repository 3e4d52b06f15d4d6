"""CameraCtrl in pure torch: the camera-pose encoder and the per-attention ``qkv_merge`` layers.

A CameraCtrl file (AnimateDiff-Evolved's ``CameraCtrl_pruned.safetensors``, or a ``.ckpt`` read
with ``weights_only``) holds two groups of keys, added on top of an AnimateDiff v3 motion module:

- ``encoder_*``: the pose encoder. Plücker rays ``(F, 6, 8h, 8w)`` are pixel-unshuffled by 8 to
  ``(F, 384, h, w)``, then::

      encoder_conv_in                                   Conv2d(384, C0, 3, padding=1)
      encoder_down_conv_blocks.L.{0,1}                  residual conv blocks of level L:
          in_conv                                       Conv2d(C_{L-1}, C_L, 1), only where channels change
          block1, block2                                Conv2d(C_L, C_L, 3, padding=1), Conv2d(C_L, C_L, 1)
      encoder_down_attention_blocks.L.{0,1}             a temporal transformer block with ONE attention:
          attention_blocks.0.{to_q,to_k,to_v,to_out.0,pos_encoder.pe}, norms.0, ff.net.{0.proj,2}, ff_norm

  Levels 1.. start with a 2x2 average pool. The output of level L (after its second block) is the
  feature of the UNet level with the same resolution and channels ``C_L``.
- ``<motion module key>.transformer_blocks.0.attention_blocks.0.processor.qkv_merge.{weight,bias}``:
  a Linear(C, C) per motion module of the down and up blocks. In that attention, after its
  positional encoding: ``h = effect * (qkv_merge(h + feature) + h) + (1 - effect) * h``.

Down block ``L`` uses feature ``L``; up block ``U`` of ``N`` uses feature ``N - 1 - U``; the mid
block none. The encoder's temporal attention sees at most its positional length of frames at
once; longer clips go through windows (stride half that length, pyramid weights).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional, cast

import torch
import torch.nn.functional as F
from torch import nn

from .temporal import AttentionFn, FeedForward, TemporalAttention, sdpa_attention

MERGE_SUFFIX = ".processor.qkv_merge"
UNSHUFFLE = 8
PLUCKER_CHANNELS = 6
_MERGE_KEY = re.compile(r"((?:down_blocks|up_blocks|mid_block)\.[\w.]*?\.attention_blocks\.\d+)\.processor\.qkv_merge\.(weight|bias)$")
_LEVEL_KEY = re.compile(r"^encoder_down_conv_blocks\.(\d+)\.(\d+)\.block1\.weight$")


class CameraCtrlFormatError(ValueError):
    """The file is not a CameraCtrl adapter this pack can load; the message names file and finding."""


@dataclass(frozen=True)
class CameraCtrlInfo:
    channels: tuple        # encoder level channels, e.g. (320, 640, 1280, 1280)
    blocks_per_level: int
    pe_length: int         # frames the encoder's temporal attention sees at once
    merge_keys: tuple      # attention keys that get a qkv_merge, file order

    def describe(self) -> str:
        return (f"CameraCtrl adapter: pose encoder with levels {list(self.channels)}, {self.pe_length}-frame attention, "
                f"{len(self.merge_keys)} qkv_merge layers")


# ------------------------------------------------------------------------------------------------
# modules

class PoseResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, down: bool, ops=None):
        super().__init__()
        ops = ops or nn
        self.down = down
        self.in_conv = ops.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.block1 = ops.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.block2 = ops.Conv2d(out_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        if self.in_conv is not None:
            x = self.in_conv(x)
        return x + self.block2(F.relu(self.block1(x)))


class PoseTemporalBlock(nn.Module):
    """One temporal attention (with positional encoding) and a GEGLU feed-forward, over frames."""

    def __init__(self, channels: int, pe_length: int, key: str = "", ops=None):
        super().__init__()
        ops = ops or nn
        self.attention_blocks = nn.ModuleList([TemporalAttention(channels, pe_length, f"{key}.attention_blocks.0", ops.Linear)])
        self.norms = nn.ModuleList([ops.LayerNorm(channels)])
        self.ff = FeedForward(channels, ops.Linear)
        self.ff_norm = ops.LayerNorm(channels)

    @property
    def pe_length(self) -> int:
        attention = self.attention_blocks[0]
        assert isinstance(attention, TemporalAttention)
        return attention.pos_encoder.length

    def forward(self, x: torch.Tensor, attention: AttentionFn = sdpa_attention) -> torch.Tensor:
        """``x: (F, C, H, W)`` -> same shape."""
        f, c, h, w = x.shape
        tokens = x.reshape(f, c, h * w).permute(2, 0, 1)  # (HW, F, C)
        windows = encoder_windows(f, self.pe_length)
        if len(windows) == 1:
            tokens = self.attention_blocks[0](self.norms[0](tokens), residual=tokens, attention=attention)
        else:
            total = torch.zeros_like(tokens)
            weight_sum = torch.zeros(f, dtype=tokens.dtype, device=tokens.device)
            for window in windows:
                index = torch.tensor(window, device=tokens.device)
                part = tokens[:, index]
                part = self.attention_blocks[0](self.norms[0](part), residual=part, attention=attention)
                weights = pyramid_weights(len(window)).to(device=tokens.device, dtype=tokens.dtype)
                total[:, index] += part * weights[None, :, None]
                weight_sum[index] += weights
            tokens = total / weight_sum[None, :, None]
        tokens = self.ff(self.ff_norm(tokens), residual=tokens)
        return tokens.permute(1, 2, 0).reshape(f, c, h, w)


def encoder_windows(frames: int, length: int) -> list:
    """Frame windows of the encoder: all frames when they fit, else ``length``-frame windows every
    ``length - length // 2`` frames, the last one moved back to end at the last frame."""
    if frames <= length:
        return [list(range(frames))]
    step = max(1, length - length // 2)
    windows = []
    for start in range(0, frames, step):
        if start + length >= frames:
            windows.append(list(range(frames - length, frames)))
            break
        windows.append(list(range(start, start + length)))
    return windows


def pyramid_weights(length: int) -> torch.Tensor:
    """1, 2, ..., peak, ..., 2, 1: frames near a window's middle count most."""
    half = (length + 1) // 2
    rising = list(range(1, half + 1))
    falling = rising[::-1] if length % 2 == 0 else rising[-2::-1]
    return torch.tensor(rising + falling, dtype=torch.float32)


class CameraPoseEncoder(nn.Module):
    """Plücker rays ``(F, 6, 8h, 8w)`` -> one feature ``(F, C_L, h / 2^L, w / 2^L)`` per level."""

    def __init__(self, channels, pe_length: int, blocks_per_level: int = 2, ops=None):
        super().__init__()
        ops = ops or nn
        channels = tuple(int(c) for c in channels)
        self.channels = channels
        self.encoder_conv_in = ops.Conv2d(PLUCKER_CHANNELS * UNSHUFFLE * UNSHUFFLE, channels[0], 3, 1, 1)
        self.encoder_down_conv_blocks = nn.ModuleList()
        self.encoder_down_attention_blocks = nn.ModuleList()
        for level, c in enumerate(channels):
            convs, attentions = nn.ModuleList(), nn.ModuleList()
            for index in range(blocks_per_level):
                in_channels = channels[max(level - 1, 0)] if index == 0 else c
                convs.append(PoseResBlock(in_channels, c, down=(index == 0 and level > 0), ops=ops))
                attentions.append(PoseTemporalBlock(c, pe_length, f"encoder_down_attention_blocks.{level}.{index}", ops))
            self.encoder_down_conv_blocks.append(convs)
            self.encoder_down_attention_blocks.append(attentions)

    def forward(self, plucker: torch.Tensor, attention: AttentionFn = sdpa_attention) -> list:
        if plucker.ndim != 4 or plucker.shape[1] != PLUCKER_CHANNELS:
            raise ValueError(f"CameraCtrl pose encoder: expected Plücker rays (frames, 6, H, W), got {tuple(plucker.shape)}")
        if plucker.shape[2] % UNSHUFFLE or plucker.shape[3] % UNSHUFFLE:
            raise ValueError(f"CameraCtrl pose encoder: image size {plucker.shape[3]}x{plucker.shape[2]} is not a multiple of 8")
        weight = self.encoder_conv_in.weight
        x = F.pixel_unshuffle(plucker.to(device=weight.device, dtype=weight.dtype), UNSHUFFLE)
        x = self.encoder_conv_in(x)
        features = []
        for level in range(len(self.channels)):
            convs = cast(nn.ModuleList, self.encoder_down_conv_blocks[level])
            attentions = cast(nn.ModuleList, self.encoder_down_attention_blocks[level])
            for conv, temporal in zip(convs, attentions):
                x = temporal(conv(x), attention=attention)
            features.append(x)
        return features


class CameraCtrlModel(nn.Module):
    """The pose encoder plus the ``qkv_merge`` Linear of every camera-aware attention."""

    def __init__(self, info: CameraCtrlInfo, ops=None):
        super().__init__()
        ops = ops or nn
        self.info = info
        self.pose_encoder = CameraPoseEncoder(info.channels, info.pe_length, info.blocks_per_level, ops)
        self.merges = nn.ModuleList()
        self.merge_keys = tuple(info.merge_keys)

    def add_merge(self, channels: int, ops=None) -> None:
        """Append the square ``qkv_merge`` Linear of the next key in ``merge_keys``."""
        ops = ops or nn
        self.merges.append(ops.Linear(channels, channels))

    def merge_for(self, key: str) -> Optional[nn.Module]:
        try:
            return self.merges[self.merge_keys.index(key)]
        except ValueError:
            return None


def features_for_module(features: list, module_key: str) -> Optional[torch.Tensor]:
    """The encoder feature a motion module at ``module_key`` uses (``None`` for the mid block)."""
    match = re.match(r"(down_blocks|up_blocks)\.(\d+)\.", module_key)
    if match is None:
        return None
    index = int(match.group(2))
    level = index if match.group(1) == "down_blocks" else len(features) - 1 - index
    if not 0 <= level < len(features):
        return None
    return features[level]


def apply_camera_merge(hidden: torch.Tensor, merge: nn.Module, feature: torch.Tensor, effect: float) -> torch.Tensor:
    """``hidden, feature: (B, F, C)``: the camera-conditioned input of a temporal attention."""
    merged = merge(hidden + feature.to(dtype=hidden.dtype)) + hidden
    if effect == 1.0:
        return merged
    return merged * effect + hidden * (1.0 - effect)


# ------------------------------------------------------------------------------------------------
# files

def split_cameractrl_state_dict(sd: Mapping, source: str = "CameraCtrl file") -> tuple:
    """``(encoder state dict, {attention key: (weight, bias)}, CameraCtrlInfo)``.

    Accepts the flat layout (``encoder_*`` + ``...qkv_merge.*``) and CameraCtrl's release layout
    wrapped as ``{"pose_encoder_state_dict": ..., "attention_processor_state_dict": ...}``.
    """
    if "pose_encoder_state_dict" in sd or "attention_processor_state_dict" in sd:
        flat: dict = {}
        for part in ("pose_encoder_state_dict", "attention_processor_state_dict"):
            inner = sd.get(part)
            if isinstance(inner, Mapping):
                flat.update(inner)
        sd = flat
    encoder: dict = {}
    for key, value in sd.items():
        for root in _ENCODER_ROOTS:
            # a wrapper prefix ("module.", "pose_encoder.") may come before the encoder's own names
            at = key.find(root + ".")
            if isinstance(value, torch.Tensor) and (at == 0 or (at > 0 and key[at - 1] == ".")):
                encoder[key[at:]] = value
    merges: dict = {}
    for key, value in sd.items():
        match = _MERGE_KEY.search(key)
        if match and isinstance(value, torch.Tensor):
            merges.setdefault(match.group(1), {})[match.group(2)] = value
    if not encoder:
        raise CameraCtrlFormatError(
            f"{source} has no camera-pose encoder keys (encoder_conv_in..., encoder_down_*); it is not a CameraCtrl adapter "
            f"(keys start: {', '.join(list(sd)[:3])})")
    if not merges:
        raise CameraCtrlFormatError(f"{source} has pose-encoder keys but no '...attention_blocks.0.processor.qkv_merge' keys; "
                                    f"a CameraCtrl adapter needs both")
    for key, parts in merges.items():
        if set(parts) != {"weight", "bias"}:
            raise CameraCtrlFormatError(f"{source}: {key}.processor.qkv_merge has {sorted(parts)}; expected weight and bias")
        weight, bias = parts["weight"], parts["bias"]
        if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or bias.shape != weight.shape[:1]:
            raise CameraCtrlFormatError(f"{source}: {key}.processor.qkv_merge is {tuple(weight.shape)} + {tuple(bias.shape)}; "
                                        f"expected a square Linear (C, C) + (C,)")
    if "encoder_conv_in.weight" not in encoder:
        raise CameraCtrlFormatError(f"{source}: the pose encoder has no encoder_conv_in.weight")
    conv_in = encoder["encoder_conv_in.weight"]
    expected_in = PLUCKER_CHANNELS * UNSHUFFLE * UNSHUFFLE
    if conv_in.ndim != 4 or conv_in.shape[1] != expected_in:
        raise CameraCtrlFormatError(f"{source}: encoder_conv_in.weight is {tuple(conv_in.shape)}; expected (C, {expected_in}, 3, 3) "
                                    f"for 6 Plücker channels unshuffled by 8")
    levels: dict = {}
    for key, value in encoder.items():
        match = _LEVEL_KEY.match(key)
        if match:
            levels.setdefault(int(match.group(1)), {})[int(match.group(2))] = int(value.shape[0])
    if not levels or sorted(levels) != list(range(len(levels))):
        raise CameraCtrlFormatError(f"{source}: pose-encoder levels {sorted(levels)} are not 0..N-1")
    blocks = {len(v) for v in levels.values()}
    if len(blocks) != 1:
        raise CameraCtrlFormatError(f"{source}: pose-encoder levels have different block counts {sorted(blocks)}")
    channels = tuple(levels[i][0] for i in range(len(levels)))
    pe_keys = [k for k in encoder if k.endswith("pos_encoder.pe")]
    if not pe_keys:
        raise CameraCtrlFormatError(f"{source}: the pose encoder has no pos_encoder.pe; cannot tell its frame length")
    pe_length = int(encoder[pe_keys[0]].shape[1])
    weights = {key: (parts["weight"], parts["bias"]) for key, parts in merges.items()}
    info = CameraCtrlInfo(channels, blocks.pop(), pe_length, tuple(merges))
    return encoder, weights, info


_ENCODER_ROOTS = ("encoder_conv_in", "encoder_down_conv_blocks", "encoder_down_attention_blocks")


def build_cameractrl_model(encoder_sd: dict, merges: dict, info: CameraCtrlInfo, ops=None,
                           dtype: Optional[torch.dtype] = None, source: str = "CameraCtrl file") -> CameraCtrlModel:
    """A :class:`CameraCtrlModel` holding the file's tensors (loaded with ``assign``: no second copy)."""
    model = CameraCtrlModel(info, ops)
    for key in info.merge_keys:
        model.add_merge(int(merges[key][0].shape[0]), ops)
    expected = set(model.pose_encoder.state_dict())
    missing, unexpected = sorted(expected - set(encoder_sd)), sorted(set(encoder_sd) - expected)
    if missing or unexpected:
        raise CameraCtrlFormatError(f"{source}: the pose encoder does not match the CameraCtrl layout: "
                                    f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    full = {f"pose_encoder.{k}": v for k, v in encoder_sd.items()}
    for index, key in enumerate(info.merge_keys):
        full[f"merges.{index}.weight"], full[f"merges.{index}.bias"] = merges[key]
    if dtype is not None:
        full = {k: v.to(dtype) for k, v in full.items()}
    try:
        model.load_state_dict(full, strict=True, assign=True)
    except RuntimeError as exc:
        raise CameraCtrlFormatError(f"{source}: tensor shapes do not match the CameraCtrl layout ({str(exc).splitlines()[-1]})") from exc
    return model.eval()


def read_cameractrl_file(path) -> dict:
    """The tensors of a CameraCtrl ``.safetensors`` or ``.ckpt``/``.pt`` (``weights_only``: no pickled code runs)."""
    import pickle
    import zipfile
    from pathlib import Path

    from .formats import MotionFormatError, read_state_dict

    path = Path(path)
    if path.suffix.lower() == ".safetensors" or not path.is_file() or path.stat().st_size == 0:
        try:
            return read_state_dict(path, kind="CameraCtrl adapter")
        except MotionFormatError as exc:
            raise CameraCtrlFormatError(str(exc)) from exc
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CameraCtrlFormatError(
            f"refusing to load {path}: the pickle wants to run code or build objects that are not plain tensors "
            f"(torch.load with weights_only=True said: {str(exc).splitlines()[0]}). Nothing from it was executed") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CameraCtrlFormatError(f"cannot read {path} ({type(exc).__name__}); the file is truncated or not a torch checkpoint") from exc
    if not isinstance(loaded, Mapping):
        raise CameraCtrlFormatError(f"{path} holds a {type(loaded).__name__}, not a state dict of tensors")
    if "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]
    return dict(loaded)


def load_cameractrl_file(path, ops=None, dtype: Optional[torch.dtype] = None) -> tuple:
    """``(CameraCtrlModel, CameraCtrlInfo)`` of a CameraCtrl file; errors name the file."""
    encoder, merges, info = split_cameractrl_state_dict(read_cameractrl_file(path), source=str(path))
    return build_cameractrl_model(encoder, merges, info, ops=ops, dtype=dtype, source=str(path)), info
