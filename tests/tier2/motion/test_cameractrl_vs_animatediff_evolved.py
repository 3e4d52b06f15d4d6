"""CameraCtrl side by side with AnimateDiff-Evolved (ADE) in the same ComfyUI process.

Issue 17 item 3: with a random v3 motion module and a random CameraCtrl adapter in the published
key layouts (``.safetensors`` and a ``.ckpt`` read with ``weights_only``), sampling with our Load
Motion Module + Apply CameraCtrl equals ADE's Load AnimateDiff+CameraCtrl Model -> Apply
AnimateDiff+CameraCtrl Model -> Use Evolved Sampling (same poses, seed, sampler, frame count) to a
relative L2 below 1e-3. The comparison can fail: the same run without the camera is far from ADE's.

Heavy (a full SD1.5 UNet with random weights, a full-size motion module and pose encoder, on CPU).
"""
import pytest
import torch

from support.animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved
from support.cameractrl_files import write_random_cameractrl
from support.motion_files import write_random_motion_module

pytestmark = pytest.mark.tier2

FRAMES = 8
STEPS = 2
REALESTATE_TEXT = """https://www.youtube.com/watch?v=test
0 0.48 0.85 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0
1 0.48 0.85 0.5 0.5 0 0 0.9950 0 0.0998 -0.05 0 1 0 0.01 -0.0998 0 0.9950 -0.10
2 0.48 0.85 0.5 0.5 0 0 0.9801 0 0.1987 -0.10 0 1 0 0.02 -0.1987 0 0.9801 -0.20
3 0.48 0.85 0.5 0.5 0 0 0.9553 0 0.2955 -0.15 0 1 0 0.03 -0.2955 0 0.9553 -0.30
4 0.48 0.85 0.5 0.5 0 0 0.9211 0 0.3894 -0.20 0 1 0 0.04 -0.3894 0 0.9211 -0.40
"""


@pytest.fixture(scope="module")
def model_folder(comfyui_root, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    path, _ = find_animatediff_evolved(comfyui_root)
    if path is not None:
        import_animatediff_evolved(path)  # ADE registers its model folders on import: before ours are added

    register_motion_folder()
    folder = tmp_path_factory.mktemp("ade_cameractrl")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    write_random_motion_module(folder / "cc_v3.safetensors", version="v3", seed=11)
    write_random_cameractrl(folder / "cc_adapter.safetensors", seed=5)
    write_random_cameractrl(folder / "cc_adapter.ckpt", seed=6)
    return folder


def _sample(model, frames=FRAMES, steps=STEPS, seed=21):
    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(3)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, 8, 8)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, 4.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)
    return out["samples"]


def _relative_l2(a, b):
    return float((a - b).norm() / b.norm())


def _ade_rows(poses):
    """Our poses as ADE's CAMERACTRL_POSES rows (pose size where RealEstate10K has its two zeros)."""
    return [[p.timestamp, p.fx, p.fy, p.cx, p.cy, p.pose_width, p.pose_height, *p.w2c] for p in poses]


def _poses(kind):
    from steadyframe.nodes.camera_nodes import SteadyFrameCameraPosePreset, SteadyFrameCameraPosesFromText

    if kind == "preset":
        (first,) = SteadyFrameCameraPosePreset.execute("pan left", 1.5, 4).result
        return SteadyFrameCameraPosePreset.execute("orbit right", 1.0, 4, prev_poses=first).result[0]
    return SteadyFrameCameraPosesFromText.execute(REALESTATE_TEXT, 1280, 720).result[0]  # 5 poses: the last repeats


@pytest.mark.parametrize("adapter,kind,strength", [("cc_adapter.safetensors", "preset", 1.0), ("cc_adapter.ckpt", "text", 1.0),
                                                   ("cc_adapter.safetensors", "text", 0.4)])
def test_cameractrl_latents_equal_animatediff_evolved(ade, model_folder, base_model, adapter, kind, strength):
    import comfy.model_management

    from steadyframe.nodes.camera_nodes import SteadyFrameApplyCameraCtrl
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    poses = _poses(kind)
    with_motion = SteadyFrameLoadMotionModule.execute(base_model, "cc_v3.safetensors").result[0]
    ours = _sample(SteadyFrameApplyCameraCtrl.execute(with_motion, adapter, poses, strength).result[0])
    comfy.model_management.unload_all_models()
    no_camera = _sample(with_motion)
    comfy.model_management.unload_all_models()

    nodes = ade.NODE_CLASS_MAPPINGS
    (motion_model,) = nodes["ADE_LoadAnimateDiffModelWithCameraCtrl"]().load_camera_ctrl("cc_v3.safetensors", adapter)
    (m_models,) = nodes["ADE_ApplyAnimateDiffModelWithCameraCtrl"]().apply_motion_model(
        motion_model, _ade_rows(poses), cameractrl_multival=None if strength == 1.0 else strength)
    (ade_model,) = nodes["ADE_UseEvolvedSampling"]().use_evolved_sampling(base_model, "sqrt_linear (AnimateDiff)", m_models)
    theirs = _sample(ade_model)
    comfy.model_management.unload_all_models()

    assert _relative_l2(ours, theirs) < 1e-3
    # the comparison can fail: the camera changes the result by far more than the tolerance
    assert _relative_l2(no_camera, theirs) > 1e-2


ADE_MOTIONS = {"static": "Static", "pan left": "Pan Left", "pan right": "Pan Right", "pan up": "Pan Up",
               "pan down": "Pan Down", "zoom in": "Zoom In", "zoom out": "Zoom Out"}


def _assert_rows_equal(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a[1:5] == pytest.approx(b[1:5], abs=1e-9)  # intrinsics
        assert a[7:] == pytest.approx(b[7:], abs=1e-9)    # world-to-camera matrix


@pytest.mark.parametrize("motion", sorted(ADE_MOTIONS))
def test_presets_and_appending_equal_animatediff_evolved(ade, motion):
    from steadyframe.motion.camera_poses import append_poses, preset_poses

    basic = ade.NODE_CLASS_MAPPINGS["ADE_CameraPoseBasic"]()
    ours = preset_poses(motion, 12, -0.7)
    (theirs,) = basic.camera_pose_basic(ADE_MOTIONS[motion], -0.7, 12)
    _assert_rows_equal(_ade_rows(ours), theirs)
    # appending a zoom after this move, in both packs
    zoom = preset_poses("zoom in", 5, 1.3)
    (theirs_appended,) = basic.camera_pose_basic("Zoom In", 1.3, 5, prev_poses=theirs)
    _assert_rows_equal(_ade_rows(append_poses(ours, zoom)), theirs_appended)


def test_realestate10k_text_reads_as_animatediff_evolved_reads_it(ade, tmp_path):
    from steadyframe.motion.camera_poses import parse_realestate10k

    path = tmp_path / "poses.txt"
    path.write_text(REALESTATE_TEXT)
    (theirs,) = ade.NODE_CLASS_MAPPINGS["ADE_LoadCameraPosesFromPath"]().load_camera_poses(str(path))
    _assert_rows_equal(_ade_rows(parse_realestate10k(REALESTATE_TEXT)), theirs)


def test_apply_adds_only_the_adapter_weights_and_keeps_the_input_model(model_folder, base_model):
    import safetensors.torch

    from steadyframe.comfy_glue.camera_ctrl import CAMERA_PATCH_KEY
    from steadyframe.comfy_glue.motion_patch import PATCH_KEY
    from steadyframe.nodes.camera_nodes import SteadyFrameApplyCameraCtrl
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    with_motion = SteadyFrameLoadMotionModule.execute(base_model, "cc_v3.safetensors").result[0]
    (camera_model,) = SteadyFrameApplyCameraCtrl.execute(with_motion, "cc_adapter.safetensors", _poses("preset")).result
    assert with_motion.get_additional_models_with_key(CAMERA_PATCH_KEY) == []  # the input MODEL is unchanged
    # a clone's additional ModelPatchers are clones too, around the same motion weights (not a copy)
    motion = [patcher.model for patcher in with_motion.get_additional_models_with_key(PATCH_KEY)]
    kept = [patcher.model for patcher in camera_model.get_additional_models_with_key(PATCH_KEY)]
    assert len(kept) == len(motion) == 1 and kept[0] is motion[0]
    (adapter,) = camera_model.get_additional_models_with_key(CAMERA_PATCH_KEY)
    held = sum(t.numel() for t in list(adapter.model.parameters()) + list(adapter.model.buffers()))
    in_file = sum(t.numel() for t in safetensors.torch.load_file(str(model_folder / "cc_adapter.safetensors")).values())
    assert held == in_file


def test_apply_without_a_motion_module_says_what_is_missing(model_folder, base_model):
    from steadyframe.nodes.camera_nodes import SteadyFrameApplyCameraCtrl

    with pytest.raises(ValueError, match="needs a MODEL with a motion module"):
        SteadyFrameApplyCameraCtrl.execute(base_model, "cc_adapter.safetensors", _poses("preset"))
