"""Keyframe selection: a new keyframe wherever the picture has changed enough since the last one.

Two change measures, both in percent:

- ``edge_change``: the share of edges that appeared or vanished between a frame and the last
  keyframe (Canny on the HSV value channel, thresholds tied to the frame's median brightness,
  a few pixels of tolerance for motion). Slow exposure drift and small motion score near 0, new
  shapes (scene cuts, objects entering, large camera moves) score high; a cut scores 80-100.
- ``occlusion_change``: the share of pixels whose optical flow to the next frame fails the
  forward-backward check (or leaves the frame), summed over the frames since the last keyframe:
  roughly how much of the picture had to be invented since the keyframe.

:func:`select_keyframes` turns either measure into indices with hard minimum and maximum gaps.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from ..flow.keyframe_warp import format_frame_indices
from ..flow.provider import DEFAULT_FLOW_OPTIONS, ClipFlow, FlowOptions, ProgressFn, check_clip
from ..flow.sequence import FlowSequence


class KeyframeMethod(str, Enum):
    """The change measure that places keyframes (the strings saved workflows hold)."""

    EDGE_CHANGE = "edge change"
    OCCLUSION = "occlusion"

# Edge maps are found on frames scaled so their longer side is at most this, which keeps Canny's
# hysteresis loop cheap on a CPU and makes the threshold independent of the resolution.
EDGE_ANALYSIS_SIDE = 256


def _analysis_size(height: int, width: int, max_side: int) -> tuple:
    scale = min(1.0, max_side / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


@dataclass(frozen=True)
class EdgeMaps:
    """Canny edges of a clip at the analysis size.

    thin: (F, h, w) bool, the edges themselves; near: (F, h, w) bool, the edges dilated by the
    motion tolerance (every pixel within ``tolerance`` pixels of an edge).
    """

    thin: torch.Tensor
    near: torch.Tensor
    tolerance: int


def edge_maps(images: torch.Tensor, max_side: int = EDGE_ANALYSIS_SIDE, chunk: int = 16,
              progress: ProgressFn = None) -> EdgeMaps:
    """Edge maps for change detection.

    images: (F, H, W, 3) float 0..1. Edges are found on the HSV value channel at the analysis size
    (longer side ``max_side``), with hysteresis thresholds at 2/3 and 4/3 of the frame's median
    value, so dark and bright frames yield similar edge densities. The motion tolerance is about
    1/128 of the analysis frame's diagonal, at least 2 pixels. progress(done, total) is called
    after each chunk of frames; it may raise to cancel.
    """
    import kornia

    frames, height, width, _ = images.shape
    h, w = _analysis_size(height, width, max_side)
    tolerance = max(2, round(math.sqrt(h * w) / 128))
    kernel = torch.ones(2 * tolerance + 1, 2 * tolerance + 1, device=images.device)
    thin, near = [], []
    for start in range(0, frames, chunk):
        value = images[start : start + chunk].to(torch.float32).amax(dim=-1, keepdim=True)  # HSV value
        value = value.permute(0, 3, 1, 2)
        if (h, w) != (height, width):
            value = F.interpolate(value, size=(h, w), mode="area")
        for frame in value:
            median = float(frame.median())
            low = max(median * (2.0 / 3.0), 1e-3)
            high = max(median * (4.0 / 3.0), low)
            _, edges = kornia.filters.canny(frame[None], low_threshold=low, high_threshold=high)
            thin.append(edges[0, 0] > 0.5)
            near.append(kornia.morphology.dilation(edges, kernel)[0, 0] > 0.5)
        if progress is not None:
            progress(len(thin), frames)
    return EdgeMaps(torch.stack(thin), torch.stack(near), tolerance)


def edge_change(edges: EdgeMaps, a: int, b: int) -> float:
    """Percent of edges that appeared or vanished between frames ``a`` and ``b``.

    An edge pixel of b with no edge of a within the tolerance has appeared; one of a with no edge of
    b nearby has vanished. The change is the larger of the two shares (the edge change ratio of
    Zabih, Miller and Mai, 1995): about 0 for small motion, near 100 for a cut. Two frames without
    any edges have not changed; edges appearing in a blank frame are a 100 percent change.
    """
    entering = _share_outside(edges.thin[b], edges.near[a])
    exiting = _share_outside(edges.thin[a], edges.near[b])
    return 100.0 * max(entering, exiting)


def _share_outside(thin: torch.Tensor, near: torch.Tensor) -> float:
    count = int(thin.sum())
    if count == 0:
        return 0.0
    return int((thin & ~near).sum()) / count


def occlusion_fractions(forward: torch.Tensor, backward: torch.Tensor, chunk: int = 8) -> list[float]:
    """Percent of each frame's pixels that cannot be followed to the next frame.

    forward, backward: (F-1, 2, H, W) flows of a FlowSequence. Entry i is for the pair (i, i+1):
    pixels of frame i that fail the forward-backward check or whose flow leaves the frame.
    """
    from ..flow.occlusion import forward_backward_confidence
    from ..flow.warp import out_of_frame_mask

    out = []
    for start in range(0, forward.shape[0], chunk):
        fwd = forward[start : start + chunk].to(torch.float32)
        bwd = backward[start : start + chunk].to(torch.float32)
        visible = forward_backward_confidence(fwd, bwd) * (1.0 - out_of_frame_mask(fwd))
        out.extend((100.0 * (1.0 - visible).clamp(0, 1).mean(dim=(1, 2, 3))).tolist())
    return out


@dataclass(frozen=True)
class KeyframeGaps:
    """How far apart keyframes may be, checked when made.

    min_gap: fewest frames between two keyframes (>= 1); max_gap: most frames between two
    keyframes (>= min_gap): a keyframe is forced after this many; include_last: also make the last
    frame a keyframe (unless it is closer than min_gap to the previous one).
    """

    min_gap: int = 4
    max_gap: int = 30
    include_last: bool = True

    def __post_init__(self) -> None:
        if self.min_gap < 1:
            raise ValueError(f"min_gap must be at least 1 frame, got {self.min_gap}")
        if self.max_gap < self.min_gap:
            raise ValueError(f"max_gap ({self.max_gap}) must not be smaller than min_gap ({self.min_gap})")


def select_keyframes(num_frames: int, change_since: Callable[[int, int], float], threshold: float,
                     gaps: KeyframeGaps = KeyframeGaps()) -> list[int]:
    """Indices of keyframes of a ``num_frames`` clip (>= 1), always starting with frame 0.

    change_since(key, i): accumulated change (percent) between keyframe ``key`` and frame ``i``.
    Frame i becomes a keyframe when at least ``min_gap`` frames have passed since the last key and
    the change reaches ``threshold``, or when ``max_gap`` frames have passed whatever the change.
    ``include_last`` adds the final frame (so every frame lies between two keyframes) unless that
    would leave a gap shorter than ``min_gap``. No gap between keyframes, or after the last one,
    exceeds ``max_gap``.
    """
    keys = [0]
    for i in range(1, num_frames):
        gap = i - keys[-1]
        if gap >= gaps.max_gap or (gap >= gaps.min_gap and change_since(keys[-1], i) >= threshold):
            keys.append(i)
    last = num_frames - 1
    if gaps.include_last and keys[-1] != last and last - keys[-1] >= gaps.min_gap:
        keys.append(last)
    return keys


def keyframes_by_edges(images: torch.Tensor, threshold: float = 10.0, gaps: KeyframeGaps = KeyframeGaps(),
                       progress: ProgressFn = None) -> list[int]:
    """Keyframes where the edge map changed by ``threshold`` percent since the last keyframe.

    images: (F, H, W, 3) float 0..1; progress(done, total) while the edge maps are found.
    """
    edges = edge_maps(images, progress=progress)
    return select_keyframes(images.shape[0], lambda key, i: edge_change(edges, key, i), threshold, gaps)


def keyframes_by_occlusion(fractions: Sequence[float], threshold: float = 10.0,
                           gaps: KeyframeGaps = KeyframeGaps()) -> list[int]:
    """Keyframes where the occluded share accumulated since the last keyframe reaches ``threshold``.

    fractions: per-pair occlusion percentages from :func:`occlusion_fractions` (F-1 values).
    """
    prefix = [0.0]
    for value in fractions:
        prefix.append(prefix[-1] + float(value))
    return select_keyframes(len(fractions) + 1, lambda key, i: prefix[i] - prefix[key], threshold, gaps)


class KeyframeChoice(NamedTuple):
    """indices: e.g. "0, 9, 21" (Flow Warp's keyframe_indices); keyframes: (K, H, W, 3); keyframe_count: K."""

    indices: str
    keyframes: torch.Tensor
    keyframe_count: int


def choose_keyframes(images: torch.Tensor, method: str = KeyframeMethod.EDGE_CHANGE, edge_threshold: float = 60.0,
                     occlusion_threshold: float = 15.0, gaps: KeyframeGaps = KeyframeGaps(),
                     flow: Optional[FlowSequence] = None, options: FlowOptions = DEFAULT_FLOW_OPTIONS,
                     progress: ProgressFn = None) -> KeyframeChoice:
    """The Select Keyframes node: keyframes of ``images`` (F, H, W, 3) by a :class:`KeyframeMethod`.

    The occlusion method uses the clip's optical flow: ``flow`` (a FlowSequence of ``images``) or
    estimated with ``options``. progress(done, total) while edges or flows are found.
    """
    check_clip(images)
    if KeyframeMethod(method) is KeyframeMethod.EDGE_CHANGE:
        indices = keyframes_by_edges(images, float(edge_threshold), gaps, progress)
    else:
        sequence = ClipFlow(images, flow, options).sequence(progress)
        indices = keyframes_by_occlusion(occlusion_fractions(sequence.forward, sequence.backward),
                                         float(occlusion_threshold), gaps)
    keyframes = images[torch.tensor(indices, dtype=torch.long, device=images.device)]
    return KeyframeChoice(format_frame_indices(indices), keyframes, len(indices))
