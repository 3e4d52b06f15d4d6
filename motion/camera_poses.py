"""Camera trajectories for CameraCtrl: parsing, presets, composition and the Plücker embedding.

A trajectory is a tuple of :class:`CameraPose`, one per frame. Conventions are those of
RealEstate10K and CameraCtrl (OpenCV camera axes: x right, y down, z forward):

- intrinsics ``fx fy cx cy`` are fractions of the image width (``fx``, ``cx``) and height
  (``fy``, ``cy``);
- ``w2c`` is the 3x4 world-to-camera matrix ``[R | t]``; the camera centre is ``-R^T t``;
- ``pose_width``/``pose_height`` is the frame size the intrinsics were measured on (its aspect
  ratio matters when the sampled video has another one).

RealEstate10K text: the first line is the source video's URL; each further line is
``timestamp fx fy cx cy 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3`` (19 numbers).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

import torch

from .choices import Choice

# Intrinsics and frame size that CameraCtrl's presets (and AnimateDiff-Evolved's) assume: a 16:9
# RealEstate10K-like camera.
DEFAULT_FX = 0.474812461
DEFAULT_FY = 0.844111024
DEFAULT_CX = 0.5
DEFAULT_CY = 0.5
DEFAULT_POSE_WIDTH = 1280
DEFAULT_POSE_HEIGHT = 720

# Preset speeds: at speed 1, over 16 frames, a translation preset moves the camera 1.5 scene units
# (2x that for zooms) and a rotation preset turns it 60 degrees (the scales AnimateDiff-Evolved's
# presets use, so trajectories carry over). Orbits turn 30 degrees around a point ORBIT_DISTANCE ahead.
PRESET_FRAMES = 16
TRANSLATION_PER_PRESET = 1.5
ROTATION_PER_PRESET = math.pi / 3
ORBIT_PER_PRESET = math.pi / 6
ORBIT_DISTANCE = 4.0

COLUMNS = 19


class CameraPoseError(ValueError):
    """Bad camera-pose input; the message names the source, line and column."""


@dataclass(frozen=True)
class CameraPose:
    """One frame's camera. ``w2c``: 12 floats, row-major 3x4 ``[R | t]``."""
    fx: float
    fy: float
    cx: float
    cy: float
    w2c: tuple
    pose_width: int = DEFAULT_POSE_WIDTH
    pose_height: int = DEFAULT_POSE_HEIGHT
    timestamp: float = 0.0

    def w2c_matrix(self) -> torch.Tensor:
        """``(4, 4)`` float64 world-to-camera matrix."""
        m = torch.eye(4, dtype=torch.float64)
        m[:3, :] = torch.tensor(self.w2c, dtype=torch.float64).reshape(3, 4)
        return m

    def centre(self) -> torch.Tensor:
        """Camera centre in world coordinates, ``(3,)`` float64."""
        m = self.w2c_matrix()
        return -m[:3, :3].T @ m[:3, 3]


def pose_from_matrix(w2c: torch.Tensor, like: Optional[CameraPose] = None) -> CameraPose:
    """A pose with the given ``(3|4, 4)`` world-to-camera matrix and ``like``'s intrinsics (defaults otherwise)."""
    rows = tuple(float(v) for v in w2c[:3, :].reshape(-1).tolist())
    if like is None:
        return CameraPose(DEFAULT_FX, DEFAULT_FY, DEFAULT_CX, DEFAULT_CY, rows)
    return replace(like, w2c=rows)


# ------------------------------------------------------------------------------------------------
# text

def parse_realestate10k(text: str, source: str = "pose text", pose_width: int = DEFAULT_POSE_WIDTH,
                        pose_height: int = DEFAULT_POSE_HEIGHT) -> tuple:
    """Poses from RealEstate10K-style text (see the module docstring).

    The URL line, blank lines and ``#`` comments are skipped. Raises :class:`CameraPoseError`
    naming ``source``, the 1-based line and column of the first bad value.
    """
    if pose_width < 1 or pose_height < 1:
        raise CameraPoseError(f"{source}: pose size must be positive, got {pose_width}x{pose_height}")
    poses: list = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not poses and stripped.lower().startswith(("http://", "https://", "www.")):
            continue  # the source-video URL that heads every RealEstate10K file
        tokens = stripped.replace(",", " ").split()
        values = []
        for column, token in enumerate(tokens, start=1):
            try:
                value = float(token)
            except ValueError:
                raise CameraPoseError(f"{source}, line {line_no}, column {column}: expected a number, got {token!r}") from None
            if not math.isfinite(value):
                raise CameraPoseError(f"{source}, line {line_no}, column {column}: expected a finite number, got {token!r}")
            values.append(value)
        if len(values) != COLUMNS:
            raise CameraPoseError(
                f"{source}, line {line_no}: expected {COLUMNS} numbers (timestamp, fx fy cx cy, 0 0, the 12 numbers of the "
                f"3x4 world-to-camera matrix), got {len(values)}")
        for column in (2, 3):
            if values[column - 1] <= 0:
                raise CameraPoseError(f"{source}, line {line_no}, column {column}: focal length must be positive, "
                                      f"got {values[column - 1]}")
        rotation = torch.tensor(values[7:], dtype=torch.float64).reshape(3, 4)[:, :3]
        if abs(float(torch.linalg.det(rotation))) < 1e-6:
            raise CameraPoseError(f"{source}, line {line_no}, columns 8-18: the 3x3 rotation of the world-to-camera matrix "
                                  f"is singular")
        poses.append(CameraPose(values[1], values[2], values[3], values[4], tuple(values[7:]),
                                int(pose_width), int(pose_height), values[0]))
    if not poses:
        raise CameraPoseError(f"{source}: no pose lines found; expected one line of {COLUMNS} numbers per frame")
    return tuple(poses)


def format_realestate10k(poses: Sequence[CameraPose], url: str = "https://example.invalid/steadyframe") -> str:
    """The inverse of :func:`parse_realestate10k` (pose size is not stored in the text)."""
    lines = [url]
    for pose in poses:
        numbers = [pose.timestamp, pose.fx, pose.fy, pose.cx, pose.cy, 0, 0, *pose.w2c]
        lines.append(" ".join(repr(float(v)) if i else str(int(v)) for i, v in enumerate(numbers)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# presets

class CameraMotion(Choice):
    STATIC = "static"
    PAN_LEFT = "pan left"
    PAN_RIGHT = "pan right"
    PAN_UP = "pan up"
    PAN_DOWN = "pan down"
    ZOOM_IN = "zoom in"
    ZOOM_OUT = "zoom out"
    ORBIT_LEFT = "orbit left"
    ORBIT_RIGHT = "orbit right"


# world-to-camera translation direction per unit of progress (the camera centre moves the other way)
_TRANSLATIONS = {
    CameraMotion.STATIC: (0.0, 0.0, 0.0),
    CameraMotion.PAN_LEFT: (1.0, 0.0, 0.0),    # centre moves to -x: left
    CameraMotion.PAN_RIGHT: (-1.0, 0.0, 0.0),
    CameraMotion.PAN_UP: (0.0, 1.0, 0.0),      # centre moves to -y: up (y points down)
    CameraMotion.PAN_DOWN: (0.0, -1.0, 0.0),
    CameraMotion.ZOOM_IN: (0.0, 0.0, -2.0),    # centre moves to +z: forward
    CameraMotion.ZOOM_OUT: (0.0, 0.0, 2.0),
}


def _rotation_y(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)


def preset_poses(motion: str, frames: int = PRESET_FRAMES, speed: float = 1.0) -> tuple:
    """``frames`` poses of a preset camera move, starting at the identity pose.

    Progress is linear: frame ``i`` is ``i / 16 * speed`` of the move described at the top of this
    module; a negative speed runs the move backwards. Orbits keep the point ``ORBIT_DISTANCE``
    ahead of the first camera at the image centre.
    """
    motion = CameraMotion(motion)
    if frames < 1:
        raise CameraPoseError(f"camera preset {motion.value!r}: frames must be at least 1, got {frames}")
    poses = []
    for i in range(frames):
        progress = i / PRESET_FRAMES * speed
        w2c = torch.eye(4, dtype=torch.float64)
        if motion in (CameraMotion.ORBIT_LEFT, CameraMotion.ORBIT_RIGHT):
            angle = progress * ORBIT_PER_PRESET * (1.0 if motion == CameraMotion.ORBIT_LEFT else -1.0)
            c2w_rotation = _rotation_y(angle)  # camera looks along R e_z = (sin, 0, cos): towards the pivot
            centre = torch.tensor([0.0, 0.0, ORBIT_DISTANCE], dtype=torch.float64) - ORBIT_DISTANCE * c2w_rotation[:, 2]
            w2c[:3, :3] = c2w_rotation.T
            w2c[:3, 3] = -c2w_rotation.T @ centre
        else:
            w2c[:3, 3] = torch.tensor(_TRANSLATIONS[motion], dtype=torch.float64) * progress * TRANSLATION_PER_PRESET
        poses.append(pose_from_matrix(w2c))
    return tuple(poses)


def append_poses(first: Sequence[CameraPose], then: Sequence[CameraPose]) -> tuple:
    """``first`` followed by ``then`` continued from where ``first`` ends.

    ``then``'s moves are taken relative to its own start: frame ``i`` becomes
    ``w2c_then[i] @ w2c_first[-1]``, so an identity-started preset carries on from ``first``'s
    last camera (whose pose is then repeated once, as in AnimateDiff-Evolved).
    """
    if not first:
        return tuple(then)
    last = first[-1].w2c_matrix()
    return tuple(first) + tuple(replace(pose, w2c=pose_from_matrix(pose.w2c_matrix() @ last).w2c) for pose in then)


def fit_length(poses: Sequence[CameraPose], frames: int) -> tuple:
    """Exactly ``frames`` poses: cut, or the last pose repeated."""
    if not poses:
        raise CameraPoseError("no camera poses")
    poses = tuple(poses[:frames])
    return poses + (poses[-1],) * (frames - len(poses))


# ------------------------------------------------------------------------------------------------
# Plücker embedding

def relative_c2w(poses: Sequence[CameraPose]) -> torch.Tensor:
    """``(F, 4, 4)`` camera-to-world matrices in the first camera's frame (the first is the identity)."""
    w2c = torch.stack([p.w2c_matrix() for p in poses])
    c2w = torch.linalg.inv(w2c)
    return w2c[0] @ c2w


def pixel_intrinsics(pose: CameraPose, width: int, height: int) -> tuple:
    """``(fx, fy, cx, cy)`` in pixels of a ``width x height`` sample.

    When the sample's aspect ratio differs from the pose's, the pose frame is taken as scaled to
    cover the sample (centre crop): the focal length of the cropped axis grows accordingly.
    """
    fx, fy = pose.fx, pose.fy
    pose_ratio = pose.pose_width / pose.pose_height
    sample_ratio = width / height
    if pose_ratio > sample_ratio:
        fx = fx * (height * pose_ratio) / width
    else:
        fy = fy * (width / pose_ratio) / height
    return fx * width, fy * height, pose.cx * width, pose.cy * height


def plucker_embedding(poses: Sequence[CameraPose], width: int, height: int) -> torch.Tensor:
    """``(F, 6, height, width)`` float32 Plücker rays ``(o x d, d)`` of every pixel centre.

    ``d`` is the unit ray direction in the first camera's frame, ``o`` the camera centre there.
    """
    if width < 1 or height < 1:
        raise CameraPoseError(f"Plücker embedding: size must be positive, got {width}x{height}")
    c2w = relative_c2w(poses)
    intrinsics = torch.tensor([pixel_intrinsics(p, width, height) for p in poses], dtype=torch.float64)
    fx, fy, cx, cy = (intrinsics[:, k, None, None] for k in range(4))
    v, u = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                          torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    directions = torch.stack([(u - cx) / fx, (v - cy) / fy, torch.ones_like(u - cx)], dim=-1)  # (F, H, W, 3)
    directions = directions / directions.norm(dim=-1, keepdim=True)
    rays_d = torch.einsum("fij,fhwj->fhwi", c2w[:, :3, :3], directions)
    rays_o = c2w[:, None, None, :3, 3].expand_as(rays_d)
    moment = torch.linalg.cross(rays_o, rays_d, dim=-1)
    return torch.cat([moment, rays_d], dim=-1).permute(0, 3, 1, 2).float().contiguous()
