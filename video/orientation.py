"""Display orientation: the rotation and flips a file's display matrix asks for, applied as FFmpeg does.

Phones store portrait video as landscape frames plus a display matrix (the ``rotate``
tag of older tools) that players apply; ``ffmpeg`` applies it by default (autorotate).
The matrix is FFmpeg's 3×3 ``AV_FRAME_DATA_DISPLAYMATRIX`` (nine int32, 16.16 fixed
point for the first two columns), which decoders attach to every frame.

Only right angles are honoured (every phone writes those); any other angle is ignored.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

try:
    from av.sidedata.sidedata import Type as _SideDataType
    _DISPLAYMATRIX: Optional[Any] = _SideDataType.DISPLAYMATRIX
except (ImportError, AttributeError):  # a PyAV without frame side data: nothing to honour
    _DISPLAYMATRIX = None


@dataclass(frozen=True)
class DisplayTransform:
    """How stored frames are turned to be shown upright.

    ``turn``: quarter turns clockwise (0..3), applied first; then ``mirror`` flips
    left-right. Those two express all eight orientations of a display matrix.
    """

    turn: int = 0
    mirror: bool = False

    @property
    def identity(self) -> bool:
        return self.turn == 0 and not self.mirror

    @property
    def swaps_size(self) -> bool:
        """True for 90° and 270°: the shown frame is the stored one's height by its width."""
        return self.turn % 2 == 1

    def displayed_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) shown for a stored (w, h)."""
        return (height, width) if self.swaps_size else (width, height)

    def stored_size(self, width: int, height: int) -> tuple[int, int]:
        """(w, h) to scale a stored frame to, so that it shows as (w, h) once turned."""
        return (height, width) if self.swaps_size else (width, height)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb``: (H, W, C) stored frame -> (H', W', C) upright frame (contiguous)."""
        if self.identity:
            return rgb
        # np.rot90 turns counter-clockwise for positive k, so clockwise turns are negative.
        out = np.rot90(rgb, k=-self.turn, axes=(0, 1))
        if self.mirror:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


NO_TRANSFORM = DisplayTransform()


def transform_from_matrix(matrix) -> DisplayTransform:
    """The upright transform for a display matrix (nine ints), with FFmpeg's autorotate semantics.

    FFmpeg takes the clockwise angle ``theta = round(atan2(m[1], m[0]))`` (degrees, taken
    modulo 360) and then: 90 -> transpose ``clock`` (or ``cclock_flip``, a plain transpose,
    when ``m[3] > 0``); 180 -> hflip if ``m[0] < 0`` and vflip if ``m[4] < 0``; 270 ->
    ``cclock`` (or ``clock_flip`` when ``m[3] < 0``); 0 -> vflip if ``m[4] < 0``.
    Other angles: the identity (see the module note).
    """
    m = [int(v) for v in matrix]
    if len(m) != 9 or (m[0] == 0 and m[3] == 0) or (m[1] == 0 and m[4] == 0):
        return NO_TRANSFORM  # degenerate: FFmpeg gets NaN and rotates nothing
    theta = round(math.degrees(math.atan2(m[1], m[0])))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        # transpose = clockwise quarter turn, then mirrored left-right
        return DisplayTransform(1, mirror=True) if m[3] > 0 else DisplayTransform(1)
    if abs(theta - 270) < 1:
        # anti-transpose = clockwise quarter turn, then upside down = counter-clockwise turn, mirrored
        return DisplayTransform(3, mirror=True) if m[3] < 0 else DisplayTransform(3)
    if abs(theta - 180) < 1:
        hflip, vflip = m[0] < 0, m[4] < 0
        if hflip and vflip:
            return DisplayTransform(2)
        if vflip:  # upside down alone = half turn, mirrored
            return DisplayTransform(2, mirror=True)
        return DisplayTransform(0, mirror=hflip)
    if abs(theta) < 1 and m[4] < 0:
        return DisplayTransform(2, mirror=True)  # vflip
    return NO_TRANSFORM


def frame_transform(frame) -> DisplayTransform:
    """The upright transform of a decoded PyAV video frame (identity when it has no display matrix)."""
    if _DISPLAYMATRIX is None:
        return NO_TRANSFORM
    data: Optional[Any] = frame.side_data.get(_DISPLAYMATRIX)
    if data is None:
        return NO_TRANSFORM
    raw = bytes(data)
    if len(raw) < 36:
        return NO_TRANSFORM
    return transform_from_matrix(struct.unpack("=9i", raw[:36]))
