"""Start and end keyframes blended into a clip's initial latents (img2vid, looping clips).

The weight of a keyframe falls off with the distance d (in frames) from its end of the clip:

    w(d) = strength * max(0, 1 - d**power / scale)

so frame 0 gets ``start_strength`` of the start latent, and with power 1 and scale 32 the start
weight reaches 0 at frame 32. A larger ``power`` makes the weight fall off faster (power 2: 0 at
frame sqrt(scale)), a power below 1 gives a sharp drop at the keyframe and a long tail. This is the
"latent power" / "latent scale" pair of the A1111 AnimateDiff extension. The end keyframe uses
the distance from the last frame. Where both weights add up to more than 1 they are scaled down to
sum to 1. Each frame becomes

    out[i] = (1 - w_start[i] - w_end[i]) * latents[i] + w_start[i] * start + w_end[i] * end.
"""
from __future__ import annotations

from typing import Optional

import torch


def keyframe_weights(frames: int, strength: float, power: float, scale: float) -> torch.Tensor:
    """Weights ``(frames,)`` for distances 0, 1, ..., frames-1 from the keyframe."""
    if frames < 1:
        raise ValueError(f"the clip needs at least one frame, got {frames}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"keyframe strength must be between 0 and 1, got {strength}")
    if power <= 0:
        raise ValueError(f"latent power must be positive, got {power}")
    if scale <= 0:
        raise ValueError(f"latent scale must be positive, got {scale}")
    distance = torch.arange(frames, dtype=torch.float64)
    return (strength * (1.0 - distance.pow(power) / scale).clamp(min=0.0)).to(torch.float32)


def blend_weights(frames: int, start_strength: float, end_strength: float, power: float = 1.0, scale: float = 32.0,
                  end_power: Optional[float] = None, end_scale: Optional[float] = None):
    """``(w_start, w_end)``, each ``(frames,)``, normalised where their sum exceeds 1."""
    w_start = keyframe_weights(frames, start_strength, power, scale)
    w_end = keyframe_weights(frames, end_strength,
                             power if end_power is None else end_power,
                             scale if end_scale is None else end_scale).flip(0)
    total = w_start + w_end
    over = total > 1.0
    w_start = torch.where(over, w_start / total, w_start)
    w_end = torch.where(over, w_end / total, w_end)
    return w_start, w_end


def blend_keyframe_latents(latents: torch.Tensor, start: Optional[torch.Tensor] = None, end: Optional[torch.Tensor] = None,
                           start_strength: float = 1.0, end_strength: float = 1.0, power: float = 1.0, scale: float = 32.0,
                           end_power: Optional[float] = None, end_scale: Optional[float] = None,
                           first: int = 0, total: Optional[int] = None) -> torch.Tensor:
    """Blend keyframe latents into ``latents``.

    latents: (F, C, H, W); start, end: (1, C, H, W) or (C, H, W) (a batch of several frames uses
    its first frame for ``start`` and its last for ``end``). A missing keyframe has weight 0.
    first, total: for one chunk of a longer video, ``latents`` are its frames ``first ..
    first + F - 1`` of ``total``: the start keyframe sits at frame 0 and the end keyframe at frame
    ``total - 1`` of the whole video (default: the latents are the whole clip).
    Returns a new (F, C, H, W) tensor in the dtype of ``latents``.
    """
    if latents.dim() != 4:
        raise ValueError(f"latents must be (frames, channels, height, width), got shape {tuple(latents.shape)}")
    frames = latents.shape[0]
    total = frames if total is None else total
    if not (0 <= first and first + frames <= total):
        raise ValueError(f"frames {first} .. {first + frames - 1} lie outside the video's 0 .. {total - 1}")
    start_frame = _one_frame(start, latents, "start", first=True)
    end_frame = _one_frame(end, latents, "end", first=False)
    w_start, w_end = blend_weights(total, start_strength if start_frame is not None else 0.0,
                                   end_strength if end_frame is not None else 0.0, power, scale, end_power, end_scale)
    w_start, w_end = w_start[first:first + frames], w_end[first:first + frames]
    shape = (frames, 1, 1, 1)
    w_start = w_start.to(latents.device)
    w_end = w_end.to(latents.device)
    out = latents.to(torch.float32) * (1.0 - w_start - w_end).view(shape)
    if start_frame is not None:
        out = out + w_start.view(shape) * start_frame
    if end_frame is not None:
        out = out + w_end.view(shape) * end_frame
    return out.to(latents.dtype)


def _one_frame(keyframe: Optional[torch.Tensor], latents: torch.Tensor, name: str, first: bool) -> Optional[torch.Tensor]:
    if keyframe is None:
        return None
    if keyframe.dim() == 3:
        keyframe = keyframe.unsqueeze(0)
    if keyframe.dim() != 4:
        raise ValueError(f"the {name} latent must be (1, C, H, W), got shape {tuple(keyframe.shape)}")
    if keyframe.shape[1:] != latents.shape[1:]:
        raise ValueError(
            f"the {name} latent is {tuple(keyframe.shape[1:])} (channels, height, width) but the clip's latents are "
            f"{tuple(latents.shape[1:])}; encode the {name} image at the clip's size with the same VAE"
        )
    frame = keyframe[:1] if first else keyframe[-1:]
    return frame.to(device=latents.device, dtype=torch.float32)
