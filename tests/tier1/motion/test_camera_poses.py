"""Camera trajectories for CameraCtrl: RealEstate10K text, presets, composition, Plücker rays."""
import math

import pytest
import torch

from steadyframe.motion.camera_poses import (
    DEFAULT_FX,
    ORBIT_DISTANCE,
    TRANSLATION_PER_PRESET,
    CameraMotion,
    CameraPose,
    CameraPoseError,
    append_poses,
    fit_length,
    format_realestate10k,
    parse_realestate10k,
    pixel_intrinsics,
    plucker_embedding,
    pose_from_matrix,
    preset_poses,
    relative_c2w,
)

IDENTITY = "1 0 0 0 0 1 0 0 0 0 1 0"
TEXT = f"""https://www.youtube.com/watch?v=abc
0 0.5 0.9 0.5 0.5 0 0 {IDENTITY}

# a comment
33366 0.5 0.9 0.5 0.5 0 0 1 0 0 -0.25 0 1 0 0 0 0 1 0
"""


def _rotation(axis, angle):
    c, s = math.cos(angle), math.sin(angle)
    m = torch.eye(3, dtype=torch.float64)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def _pose(rotation=None, translation=(0.0, 0.0, 0.0), **kw):
    w2c = torch.eye(4, dtype=torch.float64)
    if rotation is not None:
        w2c[:3, :3] = rotation
    w2c[:3, 3] = torch.tensor(translation, dtype=torch.float64)
    return pose_from_matrix(w2c, CameraPose(0.5, 0.9, 0.5, 0.5, (), **kw) if kw else None)


# ------------------------------------------------------------------------------------------------ parser

def test_realestate10k_text_parses_url_comments_and_blank_lines():
    poses = parse_realestate10k(TEXT, pose_width=640, pose_height=480)
    assert len(poses) == 2
    assert (poses[1].timestamp, poses[1].fx, poses[1].fy, poses[1].cx, poses[1].cy) == (33366, 0.5, 0.9, 0.5, 0.5)
    assert (poses[1].pose_width, poses[1].pose_height) == (640, 480)
    assert poses[1].w2c[3] == -0.25
    # w2c translation -0.25 on x: the camera centre is at +0.25
    assert torch.allclose(poses[1].centre(), torch.tensor([0.25, 0.0, 0.0], dtype=torch.float64))


def test_text_without_a_url_line_keeps_its_first_pose():
    assert len(parse_realestate10k(TEXT.split("\n", 1)[1])) == 2


@pytest.mark.parametrize("line,message", [
    (f"0 0.5 0.9 0.5 x 0 0 {IDENTITY}", "line 2, column 5: expected a number, got 'x'"),
    ("0 0.5 0.9 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 nan 0", "line 2, column 18: expected a finite number"),
    ("0 0.5 0.9 0.5 0.5 0 0 1 0 0", "line 2: expected 19 numbers"),
    (f"0 0.5 -0.9 0.5 0.5 0 0 {IDENTITY}", "line 2, column 3: focal length must be positive"),
    ("0 0.5 0.9 0.5 0.5 0 0 0 0 0 0 0 0 0 0 0 0 0 0", "line 2, columns 8-18: the 3x3 rotation"),
])
def test_bad_text_names_the_source_line_and_column(line, message):
    with pytest.raises(CameraPoseError) as err:
        parse_realestate10k(f"https://example.com/v\n{line}\n", source="poses.txt")
    assert str(err.value).startswith("poses.txt, ") and message in str(err.value)


def test_empty_text_is_refused():
    with pytest.raises(CameraPoseError, match="no pose lines"):
        parse_realestate10k("https://example.com/v\n\n")


def test_formatted_text_parses_back_to_the_same_poses():
    poses = preset_poses(CameraMotion.ORBIT_LEFT, 5)
    again = parse_realestate10k(format_realestate10k(poses))
    for a, b in zip(poses, again):
        assert (a.fx, a.fy, a.cx, a.cy) == (b.fx, b.fy, b.cx, b.cy)
        assert torch.allclose(a.w2c_matrix(), b.w2c_matrix())


# ------------------------------------------------------------------------------------------------ presets

@pytest.mark.parametrize("motion,direction", [
    ("pan left", (-1, 0, 0)), ("pan right", (1, 0, 0)), ("pan up", (0, -1, 0)), ("pan down", (0, 1, 0)),
    ("zoom in", (0, 0, 2)), ("zoom out", (0, 0, -2)), ("static", (0, 0, 0)),
])
def test_translation_presets_move_the_camera_centre_linearly(motion, direction):
    poses = preset_poses(motion, frames=9, speed=2.0)
    assert len(poses) == 9 and poses[0].w2c_matrix().equal(torch.eye(4, dtype=torch.float64))
    for i, pose in enumerate(poses):
        expected = torch.tensor(direction, dtype=torch.float64) * TRANSLATION_PER_PRESET * 2.0 * i / 16
        assert torch.allclose(pose.centre(), expected, atol=1e-12)
        assert torch.allclose(pose.w2c_matrix()[:3, :3], torch.eye(3, dtype=torch.float64))
        assert pose.fx == DEFAULT_FX


def test_negative_speed_runs_a_preset_backwards():
    forward, backward = preset_poses("pan left", 5, 1.0), preset_poses("pan left", 5, -1.0)
    assert all(torch.allclose(a.centre(), -b.centre()) for a, b in zip(forward, backward))


@pytest.mark.parametrize("motion,sign", [("orbit left", -1), ("orbit right", 1)])
def test_orbits_circle_a_point_ahead_and_keep_it_centred(motion, sign):
    poses = preset_poses(motion, frames=16, speed=1.5)
    pivot = torch.tensor([0.0, 0.0, ORBIT_DISTANCE, 1.0], dtype=torch.float64)
    xs = []
    for pose in poses:
        w2c = pose.w2c_matrix()
        rotation = w2c[:3, :3]
        assert torch.allclose(rotation @ rotation.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
        assert abs(float(torch.linalg.det(rotation)) - 1) < 1e-12
        in_camera = w2c @ pivot
        # the pivot stays on the optical axis, at the orbit distance
        assert abs(float(in_camera[0])) < 1e-9 and abs(float(in_camera[1])) < 1e-9
        assert abs(float(in_camera[2]) - ORBIT_DISTANCE) < 1e-9
        assert abs(float(pose.centre()[1])) < 1e-12  # stays level
        xs.append(float(pose.centre()[0]))
    steps = [b - a for a, b in zip(xs, xs[1:])]
    assert all(sign * s > 0 for s in steps)


def test_unknown_motion_is_refused():
    with pytest.raises(ValueError):
        preset_poses("dolly zoom")


def test_appended_moves_continue_from_the_last_pose():
    first = preset_poses("pan left", 4)
    both = append_poses(first, preset_poses("pan left", 4))
    assert len(both) == 8
    centres = [float(p.centre()[0]) for p in both]
    step = TRANSLATION_PER_PRESET / 16
    # the second move starts where the first ended (that pose repeats once) and carries on the same way
    assert centres == pytest.approx([-step * i for i in (0, 1, 2, 3, 3, 4, 5, 6)], abs=1e-12)
    # after an orbit, a zoom moves along the turned camera's viewing direction
    turned = append_poses(preset_poses("orbit left", 9), preset_poses("zoom in", 3))
    last, after = turned[8], turned[-1]
    forward = last.w2c_matrix()[:3, :3].T @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    moved = after.centre() - last.centre()
    assert torch.allclose(moved / moved.norm(), forward, atol=1e-12)


def test_fit_length_cuts_or_repeats_the_last_pose():
    poses = preset_poses("zoom in", 3)
    assert fit_length(poses, 2) == poses[:2]
    assert fit_length(poses, 5) == poses + (poses[-1],) * 2


# ------------------------------------------------------------------------------------------------ Plücker

def test_plucker_rays_of_an_identity_camera():
    pose = CameraPose(0.5, 0.5, 0.5, 0.5, tuple(torch.eye(4)[:3].reshape(-1).tolist()), 64, 64)
    rays = plucker_embedding([pose], 64, 64)
    assert rays.shape == (1, 6, 64, 64) and rays.dtype == torch.float32
    assert rays[0, :3].abs().max() == 0  # the camera sits at the origin: no moment
    # pixel (u=0, v=0) centre is (0.5, 0.5): direction ((0.5 - 32) / 32, (0.5 - 32) / 32, 1), normalised
    d = torch.tensor([-31.5 / 32, -31.5 / 32, 1.0])
    assert torch.allclose(rays[0, 3:, 0, 0], d / d.norm(), atol=1e-6)


def test_plucker_directions_are_unit_and_moments_orthogonal():
    poses = preset_poses("orbit left", 5) + preset_poses("pan up", 3)
    rays = plucker_embedding(poses, 32, 24).double()
    moment, direction = rays[:, :3], rays[:, 3:]
    assert torch.allclose(direction.norm(dim=1), torch.ones(1, dtype=torch.float64), atol=1e-6)
    assert (moment * direction).sum(dim=1).abs().max() < 1e-6
    # moment = centre x direction, with the centre in the first camera's frame
    centre = relative_c2w(poses)[:, :3, 3]
    expected = torch.linalg.cross(centre[:, :, None, None].expand_as(direction), direction, dim=1)
    assert torch.allclose(moment, expected, atol=1e-6)


def test_plucker_rays_are_relative_to_the_first_camera():
    poses = [_pose(_rotation(1, 0.1 * i), (0.2 * i, -0.1 * i, 0.05)) for i in range(4)]
    world = torch.eye(4, dtype=torch.float64)
    world[:3, :3] = _rotation(0, 0.7) @ _rotation(2, -0.3)
    world[:3, 3] = torch.tensor([3.0, -1.0, 2.0])
    moved = [pose_from_matrix(p.w2c_matrix() @ world, p) for p in poses]  # the same rig in another world frame
    assert torch.allclose(plucker_embedding(poses, 16, 16), plucker_embedding(moved, 16, 16), atol=1e-5)
    assert torch.allclose(relative_c2w(poses)[0], torch.eye(4, dtype=torch.float64))


def test_a_pure_translation_keeps_the_directions_and_shifts_the_moments():
    rays = plucker_embedding([_pose(), _pose(translation=(-1.0, 0.0, 0.0))], 8, 8)
    assert torch.allclose(rays[0, 3:], rays[1, 3:])
    assert rays[1, :3].abs().max() > 0.1


def test_intrinsics_follow_the_sample_aspect_ratio():
    pose = CameraPose(0.5, 0.8, 0.5, 0.5, (), pose_width=1280, pose_height=720)
    # a square sample crops the 16:9 pose frame's sides: fx grows by 16/9, fy stays
    fx, fy, cx, cy = pixel_intrinsics(pose, 512, 512)
    assert (fx, fy, cx, cy) == pytest.approx((0.5 * 16 / 9 * 512, 0.8 * 512, 256, 256))
    # a wider sample than the pose frame crops top and bottom: fy grows
    fx, fy, _, _ = pixel_intrinsics(pose, 1024, 256)
    assert (fx, fy) == pytest.approx((0.5 * 1024, 0.8 * (1024 / (16 / 9)) / 256 * 256))
