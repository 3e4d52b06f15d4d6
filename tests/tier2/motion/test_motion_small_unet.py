"""Fast tier-2 checks on a real ComfyUI SD1.5-architecture UNet at 1/10 width (32..128 channels).

Same ComfyUI classes as a real SD1.5 model (``supported_models.SD15``, ``ModelPatcher``, KSampler),
only narrower, so the motion-module placement, sampling, windows and ejection are checked in
seconds with modules of ``channels_scale=0.1``. The full-width checks are in test_motion_injection.py.
"""
import pytest
import torch

from support.motion_files import write_random_motion_module
from support.motion_reference import reference_euler_sample

pytestmark = pytest.mark.tier2

CONTEXT_DIM = 768


@pytest.fixture(scope="module")
def small_model(comfyui_root):
    from support.sd15_factory import make_small_sd15_model_patcher

    return make_small_sd15_model_patcher()


@pytest.fixture(scope="module")
def folder(comfyui_root, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    path = tmp_path_factory.mktemp("small_motion")
    folder_paths.add_model_folder_path("animatediff_models", str(path))
    for version in ("v1", "v2", "v3", "animatelcm", "diffusers"):
        write_random_motion_module(path / f"small_{version}.safetensors", version=version, channels_scale=0.1, seed=2)
    return path


def _conds():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, 77, CONTEXT_DIM, generator=gen), torch.randn(1, 77, CONTEXT_DIM, generator=gen)


def _sample(model, frames=4, steps=3, cfg=3.0, seed=5, size=8):
    import nodes as comfy_nodes

    cond, uncond = _conds()
    latent = {"samples": torch.zeros(frames, 4, size, size)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, cfg, "euler", "simple", [[cond, {}]], [[uncond, {}]], latent)
    return out["samples"]


def _load(model, name, **kwargs):
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    return SteadyFrameLoadMotionModule.execute(model, name, **kwargs).result[0]


def _modules_in(model):
    from steadyframe.motion.temporal import MotionModule

    return [m for m in model.model.diffusion_model.modules() if isinstance(m, MotionModule)]


@pytest.mark.parametrize("version", ["v2", "v3", "diffusers"])
def test_small_unet_sampling_equals_reference(small_model, folder, version):
    import comfy.model_management

    from steadyframe.motion.formats import load_motion_file

    name = f"small_{version}.safetensors"
    ours = _sample(_load(small_model, name))
    comfy.model_management.unload_all_models()
    assert not _modules_in(small_model)
    motion_sd, info = load_motion_file(folder / name)
    noise = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    cond, uncond = _conds()
    with torch.no_grad():
        ref = reference_euler_sample(small_model.model.diffusion_model, noise, cond, uncond, 3.0, 3, 4, motion_sd, info.has_mid)
    rel = float((ours - ref).norm() / ref.norm())
    assert rel < 1e-3, rel
    assert float((_sample(small_model) - ours).norm() / ours.norm()) > 1e-2


def test_temporal_attention_uses_comfy_kernels():
    """The device's ComfyUI attention, with SDPA instead of CPU's chunking fallbacks for frame sequences."""
    import comfy.ldm.modules.attention as comfy_attention

    from steadyframe.comfy_glue.motion_patch import temporal_attention_kernel

    chosen = comfy_attention.optimized_attention
    on_cpu = temporal_attention_kernel(comfy_attention, torch.device("cpu"))
    if chosen in (comfy_attention.attention_sub_quad, comfy_attention.attention_split):
        assert on_cpu is comfy_attention.attention_pytorch
    else:
        assert on_cpu is chosen
    assert temporal_attention_kernel(comfy_attention, torch.device("cuda", 0)) is chosen
    q, k, v = torch.randn(3, 130, 16, 320, generator=torch.Generator().manual_seed(0)).unbind(0)
    from steadyframe.motion.temporal import sdpa_attention

    assert torch.allclose(on_cpu(q, k, v, 8), sdpa_attention(q, k, v, 8), atol=1e-5)
    assert torch.allclose(comfy_attention.attention_sub_quad(q, k, v, 8), sdpa_attention(q, k, v, 8), atol=1e-5)


def test_injection_places_21_modules_and_ejection_restores(small_model, folder):
    import comfy.model_management

    before = _sample(small_model, steps=2)
    keys = list(small_model.model.state_dict())
    model = _load(small_model, "small_v2.safetensors", motion_scale=1.2, effect=0.7)
    _sample(model, steps=2)
    modules = _modules_in(small_model)  # still loaded and injected after sampling, as ComfyUI keeps it
    assert len(modules) == 21
    unet = small_model.model.diffusion_model
    from steadyframe.motion.temporal import MotionModule

    assert isinstance(unet.middle_block[2], MotionModule) and len(unet.middle_block) == 4
    assert isinstance(unet.output_blocks[2][1], MotionModule)  # before the Upsample
    assert type(unet.output_blocks[2][2]).__name__ == "Upsample"
    assert isinstance(unet.input_blocks[1][2], MotionModule) and len(unet.input_blocks[3]) == 1
    assert torch.equal(_sample(small_model, steps=2), before)
    assert not _modules_in(small_model)
    assert list(small_model.model.state_dict()) == keys
    comfy.model_management.unload_all_models()


def test_animatelcm_and_v1_run(small_model, folder):
    lcm = _load(small_model, "small_animatelcm.safetensors")
    assert type(lcm.get_model_object("model_sampling")).__name__ == "AnimateLCMSampling"
    assert torch.isfinite(_sample(lcm, frames=40, steps=1, cfg=1.0)).all()  # 40 frames > 16: windows
    v1 = _load(small_model, "small_v1.safetensors", context_length=0)
    assert torch.isfinite(_sample(v1, frames=3, steps=1)).all()
    with pytest.raises(ValueError, match="25 frames .* 24 positions"):
        _sample(v1, frames=25, steps=1, cfg=1.0)


def test_per_frame_effect_zero_frames_match_between_runs(small_model, folder):
    """Per-frame lists reach the module: effect 0 everywhere equals effect_per_frame '0'."""
    off = _sample(_load(small_model, "small_v2.safetensors", effect=0.0), steps=1)
    off_list = _sample(_load(small_model, "small_v2.safetensors", effect_per_frame="0, 0, 0"), steps=1)
    on = _sample(_load(small_model, "small_v2.safetensors", effect_per_frame="1, 1"), steps=1)
    assert torch.allclose(off, off_list, atol=1e-6)
    assert not torch.allclose(off, on, atol=1e-4)


def test_value_schedule_floats_drive_per_frame_effect(small_model, folder):
    """A FLOATS list (what the Value Schedule node outputs) overrides the effect widget per frame."""
    from steadyframe.schedule.value_schedule import parse_value_schedule

    floats = list(parse_value_schedule("0:(0), 3:(0)").evaluate(4).values)
    assert list(floats) == [0.0] * 4
    off = _sample(_load(small_model, "small_v2.safetensors", effect=0.0), steps=1)
    scheduled = _sample(_load(small_model, "small_v2.safetensors", effect=1.0, effect_floats=floats), steps=1)
    on = _sample(_load(small_model, "small_v2.safetensors", effect=1.0), steps=1)
    assert torch.allclose(off, scheduled, atol=1e-6)
    assert not torch.allclose(on, scheduled, atol=1e-4)


SDXL_NARROW_CONFIG = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4, "model_channels": 32,
    "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 2, 2, 2, 2], "channel_mult": [1, 2, 4],
    "transformer_depth_middle": 2, "use_linear_in_transformer": True, "context_dim": 2048, "num_head_channels": 64,
    "transformer_depth_output": [0, 0, 0, 2, 2, 2, 2, 2, 2], "use_temporal_attention": False, "use_temporal_resblock": False,
}


@pytest.mark.parametrize("version,schedule", [("sdxl", "linear (AnimateDiff-SDXL)"), ("hotshotxl", "linear (HotshotXL/default)")])
def test_sdxl_formats_inject_into_an_sdxl_unet(comfyui_root, folder, version, schedule):
    """A narrow SDXL-architecture UNet (real ComfyUI SDXL class): 6 down + 9 up modules, no mid."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    import nodes as comfy_nodes
    from support.sd15_factory import init_random_weights_

    model_config = comfy.supported_models.SDXL(dict(SDXL_NARROW_CONFIG, dtype=torch.float32))
    model_config.set_inference_dtype(torch.float32, None)
    base = model_config.get_model({}, "", device=torch.device("cpu"))
    init_random_weights_(base.diffusion_model, 9)
    patcher = comfy.model_patcher.ModelPatcher(base, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    name = f"small_{version}.safetensors"
    write_random_motion_module(folder / name, version=version, channels_scale=0.1, seed=4)
    gen = torch.Generator().manual_seed(1)
    cond = [[torch.randn(1, 77, 2048, generator=gen), {"pooled_output": torch.randn(1, 1280, generator=gen)}]]
    latent = {"samples": torch.zeros(3, 4, 8, 8)}

    def sample(model):
        return comfy_nodes.KSampler().sample(model, 1, 1, 1.0, "euler", "simple", cond, cond, latent)[0]["samples"]

    before = sample(patcher)
    model = _load(patcher, name)
    assert type(model.get_model_object("model_sampling")).__name__ == "MotionSampling"
    want_end = 0.020 if version == "sdxl" else 0.012
    betas = torch.linspace(0.00085 ** 0.5, want_end ** 0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - betas, 0)
    assert torch.allclose(model.get_model_object("model_sampling").sigmas, ((1 - ac) / ac).sqrt().float(), rtol=1e-5)
    assert schedule  # the auto choice named in the test id
    animated = sample(model)
    assert len(_modules_in(patcher)) == 15
    assert torch.isfinite(animated).all() and not torch.allclose(animated, before, atol=1e-4)
    assert torch.equal(sample(patcher), before)
    assert not _modules_in(patcher)
    comfy.model_management.unload_all_models()
