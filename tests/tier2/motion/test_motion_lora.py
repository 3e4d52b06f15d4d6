"""MotionLoRA on a real ComfyUI SD1.5 UNet (random weights) sampled through core KSampler.

The factorized LoRA must sample like a motion module whose weights were merged by hand
(``W + strength * up @ down``). Heavy: run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import pytest
import safetensors.torch
import torch

from support.motion_files import write_random_motion_module
from support.motion_lora_files import make_motion_lora_state_dict

pytestmark = pytest.mark.tier2

FRAMES = 4


@pytest.fixture(scope="module")
def setup(comfyui_root, tmp_path_factory):
    import folder_paths

    import nodes as comfy_nodes
    from steadyframe.comfy_glue.motion_lora import LORA_FOLDER, register_motion_lora_folder
    from steadyframe.comfy_glue.motion_patch import register_motion_folder
    from support.sd15_factory import make_sd15_model_patcher

    register_motion_folder()
    register_motion_lora_folder()
    motion_dir = tmp_path_factory.mktemp("animatediff_models")
    lora_dir = tmp_path_factory.mktemp("animatediff_motion_lora")
    folder_paths.add_model_folder_path("animatediff_models", str(motion_dir))
    folder_paths.add_model_folder_path(LORA_FOLDER, str(lora_dir))
    # names unique to this module: other tier-2 modules register folders holding their own mm_v2 file
    write_random_motion_module(motion_dir / "sf_lora_test_mm_v2.safetensors", version="v2", channels_scale=1.0, seed=3)
    lora_sd = make_motion_lora_state_dict(rank=8, channels_scale=1.0, seed=5, std=0.05)
    torch.save(lora_sd, lora_dir / "sf_lora_test_pan.ckpt")
    return comfy_nodes, make_sd15_model_patcher(0), motion_dir, lora_dir


def _motion(model, name):
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    return SteadyFrameLoadMotionModule.execute(model, name).result[0]


def _lora(model, strength, schedule=""):
    from steadyframe.nodes.motion_lora_nodes import SteadyFrameApplyMotionLoRA

    return SteadyFrameApplyMotionLoRA.execute(model, "sf_lora_test_pan.ckpt", strength, schedule).result[0]


def _sample(comfy_nodes, model, steps=2):
    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(FRAMES, 4, 8, 8)}
    return comfy_nodes.KSampler().sample(model, 11, steps, 4.0, "euler", "simple", [[cond, {}]], [[uncond, {}]],
                                         latent, denoise=1.0)[0]["samples"]


def _relative(a, b):
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


@pytest.mark.parametrize("strength", [1.0, -1.5])
def test_factorized_lora_samples_like_hand_merged_weights(setup, strength):
    from steadyframe.motion.formats import load_motion_file
    from steadyframe.motion.lora import load_motion_lora, merge_into_state_dict

    comfy_nodes, base, motion_dir, lora_dir = setup
    normalized, _ = load_motion_file(motion_dir / "sf_lora_test_mm_v2.safetensors")
    lora = load_motion_lora(lora_dir / "sf_lora_test_pan.ckpt")
    merged = merge_into_state_dict({k: v.float() for k, v in normalized.items()}, lora, strength)
    merged_name = f"sf_lora_test_mm_v2_merged_{strength}.safetensors"
    safetensors.torch.save_file(merged, str(motion_dir / merged_name))

    with_lora = _sample(comfy_nodes, _lora(_motion(base, "sf_lora_test_mm_v2.safetensors"), strength))
    by_hand = _sample(comfy_nodes, _motion(base, merged_name))
    plain = _sample(comfy_nodes, _motion(base, "sf_lora_test_mm_v2.safetensors"))
    assert torch.isfinite(with_lora).all()
    assert _relative(with_lora, by_hand) < 1e-3
    assert _relative(plain, by_hand) > 1e-2  # the LoRA changes the result, so the comparison means something


def test_strength_zero_equals_no_lora_and_schedule_takes_effect(setup):
    comfy_nodes, base, _, _ = setup
    motion = _motion(base, "sf_lora_test_mm_v2.safetensors")
    plain = _sample(comfy_nodes, motion)
    assert torch.equal(_sample(comfy_nodes, _lora(motion, 0.0)), plain)
    # strength 1 on the first step only, 0 afterwards: differs from both constant settings
    faded = _sample(comfy_nodes, _lora(motion, 1.0, "0:(1.0), 0.5:(0.0)"), steps=3)
    full = _sample(comfy_nodes, _lora(motion, 1.0), steps=3)
    none = _sample(comfy_nodes, motion, steps=3)
    assert _relative(faded, full) > 1e-4 and _relative(faded, none) > 1e-4


def test_stacking_two_nodes_and_clean_model_untouched(setup):
    comfy_nodes, base, _, _ = setup
    motion = _motion(base, "sf_lora_test_mm_v2.safetensors")
    once = _lora(motion, 1.0)
    twice = _lora(once, 1.0)
    double = _lora(motion, 2.0)
    assert _relative(_sample(comfy_nodes, twice), _sample(comfy_nodes, double)) < 1e-4
    assert motion.get_attachment("SteadyFrame_motion_lora") is None  # the input MODEL is not changed


def test_model_without_motion_module_is_a_clear_error(setup):
    _, base, _, _ = setup
    with pytest.raises(ValueError, match="needs a MODEL with a motion module"):
        _lora(base, 1.0)
