"""Retiming plans: which source frame (or fractional source position) each output frame shows.

Everything here is index arithmetic on frame counts and rates; the frames themselves are only
touched by :func:`take_frames`. Fractional positions are rendered by ``postprocess.interpolate``
(``postprocess.timing`` puts the two together for the Retime node).

Conventions: source frame ``i`` is shown from time ``i / fps`` to ``(i + 1) / fps``; an output
frame ``j`` at rate ``target_fps`` shows the source content at time ``j / target_fps``, i.e. at
source position ``j * fps / target_fps``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import torch

HOLD_MODES = ("hold", "repeat", "decimate")

# Frame rates arrive as floats (29.97, 23.976); exact fractions keep 30 -> 24 from drifting.
_FPS_DENOMINATOR_LIMIT = 1001 * 1000


@dataclass(frozen=True)
class RetimePlan:
    """Where each output frame comes from.

    positions: one source position per output frame; integral values are exact source frames,
        fractional ones lie between two source frames.
    fps: the output frame rate.
    """

    positions: list[float]
    fps: float

    @property
    def frame_count(self) -> int:
        return len(self.positions)

    @property
    def is_integral(self) -> bool:
        return all(float(p).is_integer() for p in self.positions)


def _check_count(num_frames: int) -> None:
    if num_frames < 1:
        raise ValueError(f"retime needs at least one frame, got {num_frames}")


def _check_fps(name: str, fps: float) -> Fraction:
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"{name} must be a positive frame rate, got {fps!r}")
    return Fraction(fps).limit_denominator(_FPS_DENOMINATOR_LIMIT)


def hold_plan(num_frames: int, fps: float, every: int, mode: str = "hold") -> RetimePlan:
    """Animate "on twos/threes".

    mode:
      - ``"hold"``: same frame count and rate; every ``every``-th frame is held for ``every``
        frames (0,0,2,2,4,4,... on twos). The animated look at the original rate.
      - ``"repeat"``: each frame is repeated ``every`` times and the rate multiplied by
        ``every``, so the duration is unchanged (12 fps generated -> 24 fps on twos).
      - ``"decimate"``: keep every ``every``-th frame and divide the rate by ``every``
        (24 fps -> 12 fps); played back it looks like ``"hold"`` with fewer frames.
    """
    _check_count(num_frames)
    _check_fps("fps", fps)
    if every < 1:
        raise ValueError(f"hold length must be at least 1 frame, got {every}")
    if mode == "hold":
        indices = [(i // every) * every for i in range(num_frames)]
        out_fps = fps
    elif mode == "repeat":
        indices = [i for i in range(num_frames) for _ in range(every)]
        out_fps = fps * every
    elif mode == "decimate":
        indices = list(range(0, num_frames, every))
        out_fps = fps / every
    else:
        raise ValueError(f"unknown hold mode {mode!r}; expected one of {', '.join(HOLD_MODES)}")
    return RetimePlan([float(i) for i in indices], float(out_fps))


def resample_plan(num_frames: int, fps: float, target_fps: float, method: str = "nearest") -> RetimePlan:
    """Change the frame rate while keeping the clip's duration.

    The output has ``ceil(num_frames * target_fps / fps)`` frames (every output instant that falls
    inside the source clip's duration). ``method="nearest"`` drops or duplicates source frames
    (each output instant shows the nearest source frame, ties to the later one);
    ``method="interpolate"`` keeps the fractional positions for in-between synthesis, clamped
    to the last source frame at the end of the clip.
    """
    _check_count(num_frames)
    src = _check_fps("fps", fps)
    dst = _check_fps("target_fps", target_fps)
    step = src / dst  # source frames advanced per output frame
    count = math.ceil(Fraction(num_frames) / step)
    exact = [j * step for j in range(count)]
    last = num_frames - 1
    if method == "nearest":
        positions = [float(min(math.floor(p + Fraction(1, 2)), last)) for p in exact]
    elif method == "interpolate":
        positions = [float(min(p, Fraction(last))) for p in exact]
    else:
        raise ValueError(f"unknown resample method {method!r}; expected 'nearest' or 'interpolate'")
    return RetimePlan(positions, float(dst))


def take_frames(images: torch.Tensor, positions: Sequence[float]) -> torch.Tensor:
    """Gather whole source frames. images: (F, H, W, C); positions must be integral."""
    indices = []
    for j, p in enumerate(positions):
        if not float(p).is_integer():
            raise ValueError(f"output frame {j}: position {p} lies between source frames; interpolate it instead")
        i = int(p)
        if not 0 <= i < images.shape[0]:
            raise ValueError(f"output frame {j}: source frame {i} is outside the batch of {images.shape[0]} frames")
        indices.append(i)
    return images[torch.tensor(indices, dtype=torch.long, device=images.device)]
