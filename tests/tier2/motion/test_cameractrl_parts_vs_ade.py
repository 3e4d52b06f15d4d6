"""CameraCtrl parts side by side with AnimateDiff-Evolved (ADE): Plücker rays and the pose encoder.

Light (small channel counts, no UNet): these pin down where a whole-sampling mismatch would come
from. Skipped with a reason when ADE is not installed.
"""
import pytest
import torch

from support.cameractrl_files import make_cameractrl_state_dict

pytestmark = pytest.mark.tier2


def _adapter_module(ade):
    import importlib

    return importlib.import_module(f"{ade.__name__}.animatediff.adapter_cameractrl")


def _rows(poses):
    return [[p.timestamp, p.fx, p.fy, p.cx, p.cy, p.pose_width, p.pose_height, *p.w2c] for p in poses]


def _trajectory():
    from steadyframe.motion.camera_poses import append_poses, preset_poses

    return append_poses(append_poses(preset_poses("orbit left", 5, 1.4), preset_poses("pan up", 4)), preset_poses("zoom out", 4))


@pytest.mark.parametrize("width,height,pose_size", [(96, 64, (1280, 720)), (64, 128, (1280, 720)), (64, 64, (640, 640))])
def test_plucker_rays_equal_animatediff_evolved(ade, width, height, pose_size):
    from dataclasses import replace

    from steadyframe.motion.camera_poses import plucker_embedding

    adapter = _adapter_module(ade)
    poses = [replace(p, pose_width=pose_size[0], pose_height=pose_size[1]) for p in _trajectory()]
    theirs = adapter.prepare_pose_embedding([adapter.CameraEntry(row) for row in _rows(poses)], width, height)  # (6, F, H, W)
    ours = plucker_embedding(poses, width, height)  # (F, 6, H, W)
    assert ours.shape == (len(poses), 6, height, width)
    assert (ours.permute(1, 0, 2, 3) - theirs).abs().max() < 1e-5


@pytest.mark.parametrize("frames", [8, 16])
def test_pose_encoder_features_equal_animatediff_evolved(ade, frames):
    from steadyframe.motion.camera_encoder import build_cameractrl_model, split_cameractrl_state_dict
    from steadyframe.motion.camera_poses import plucker_embedding, preset_poses

    sd = make_cameractrl_state_dict(channels_scale=0.1, seed=4)
    encoder_sd, merges, info = split_cameractrl_state_dict(sd)
    ours_model = build_cameractrl_model(encoder_sd, merges, info)
    adapter = _adapter_module(ade)
    theirs_model = adapter.CameraPoseEncoder(channels=list(info.channels), nums_rb=2)
    theirs_model.load_state_dict(encoder_sd)
    rays = plucker_embedding(preset_poses("orbit right", frames, 2.0), 128, 128)
    with torch.no_grad():
        ours = ours_model.pose_encoder(rays)
        theirs = theirs_model(rays.permute(1, 0, 2, 3), video_length=frames, batched_number=2)
    for mine, other in zip(ours, theirs):
        f, c, h, w = mine.shape
        tokens = mine.reshape(f, c, h * w).permute(2, 0, 1).repeat(2, 1, 1)  # as the motion modules receive them
        assert float((tokens - other).norm() / other.norm()) < 1e-5
