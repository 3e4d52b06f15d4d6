"""Motion modules in a real ComfyUI SD1.5 UNet (random weights), sampled through core KSampler.

Heavy (a full SD1.5 UNet plus a full-size motion module on CPU): run under
``flock /tmp/steadyframe-heavy.lock`` on shared machines.
"""
import math

import pytest
import torch

from support.motion_files import write_random_motion_module
from support.motion_reference import reference_euler_sample, sqrt_linear_sigmas

pytestmark = pytest.mark.tier2

FRAMES = 4
LATENT = 8  # 8x8 latents = 64x64 pixels


@pytest.fixture(scope="module")
def comfy(comfyui_root):
    import folder_paths

    import nodes as comfy_nodes

    return comfy_nodes, folder_paths


@pytest.fixture(scope="module")
def motion_folder(comfy, tmp_path_factory):
    _, folder_paths = comfy
    folder = tmp_path_factory.mktemp("animatediff_models")
    # register like a user's extra_model_paths.yaml would: append, never replace
    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    before = folder_paths.get_folder_paths("animatediff_models")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    assert folder_paths.get_folder_paths("animatediff_models")[: len(before)] == before
    return folder


def _conds(seed=0):
    gen = torch.Generator().manual_seed(seed)
    cond = torch.randn(1, 77, 768, generator=gen)
    uncond = torch.randn(1, 77, 768, generator=gen)
    return cond, uncond


def _ksample(comfy_nodes, model, frames=FRAMES, steps=2, cfg=3.0, seed=7):
    cond, uncond = _conds()
    latent = {"samples": torch.zeros(frames, 4, LATENT, LATENT)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, steps, cfg, "euler", "simple", [[cond, {}]], [[uncond, {}]], latent, denoise=1.0)
    return out["samples"]


def _load(folder, version, name=None, seed=0):
    name = name or f"mm_{version}.safetensors"
    path = folder / name
    if not path.exists():
        write_random_motion_module(path, version=version, channels_scale=1.0, seed=seed, dtype=torch.float16)
    return name


def _load_motion(*args, **kwargs):
    """Load Motion Module as ComfyUI runs it (the V3 node's execute); its outputs, one MODEL."""
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    return SteadyFrameLoadMotionModule.execute(*args, **kwargs).result


def _unet_motion_modules(model):
    from steadyframe.motion.temporal import MotionModule

    return [m for m in model.model.diffusion_model.modules() if isinstance(m, MotionModule)]


def test_motion_files_in_the_folder_are_listed(comfy, motion_folder):
    name = _load(motion_folder, "v2")
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    # the server asks for the node definition on every /object_info: new files show up there
    choices = SteadyFrameLoadMotionModule.GET_NODE_INFO_V1()["input"]["required"]["motion_module"][1]["options"]
    assert name in choices


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_sampling_equals_the_reference_animatediff_formulation(comfy, motion_folder, base_model, version):
    """KSampler + our node vs. an Euler loop over a hand-walked inflated UNet on sqrt_linear sigmas."""
    comfy_nodes, _ = comfy
    from steadyframe.motion.formats import load_motion_file

    name = _load(motion_folder, version)
    (model,) = _load_motion(base_model, name)  # defaults: auto beta schedule, scale 1, effect 1
    ours = _ksample(comfy_nodes, model, steps=2)
    # ComfyUI keeps the last model patched; unloading it must take the modules out of the UNet
    import comfy.model_management

    assert _unet_motion_modules(base_model)
    comfy.model_management.unload_all_models()
    assert not _unet_motion_modules(base_model)

    motion_sd, info = load_motion_file(motion_folder / name)
    motion_sd = {k: v.float() for k, v in motion_sd.items()}
    noise = torch.randn(FRAMES, 4, LATENT, LATENT, generator=torch.Generator().manual_seed(7))
    cond, uncond = _conds()
    with torch.no_grad():
        ref = reference_euler_sample(base_model.model.diffusion_model, noise, cond, uncond, 3.0, 2, FRAMES, motion_sd, info.has_mid)
    rel = (ours - ref).norm() / ref.norm()
    assert rel < 1e-3, f"relative L2 difference {rel:.2e}"

    # and the module matters: the plain model gives a clearly different result
    plain = _ksample(comfy_nodes, base_model, steps=2)
    assert (plain - ours).norm() / ours.norm() > 1e-2


def test_on_cpu_comfyui_loads_the_module_so_its_linear_layers_run_fused(comfy, motion_folder, base_model):
    """The speed of ``motion/fused_linear.py`` depends on ComfyUI neither casting nor patching the layers."""
    from comfy import model_management  # not `import comfy...`: that would shadow the fixture

    from steadyframe.motion import fused_linear

    if model_management.get_torch_device().type != "cpu":
        pytest.skip("the fused linear layers are a CPU path; this ComfyUI samples on a GPU")
    if fused_linear.onednn_linear() is None:
        pytest.skip("this torch build has no oneDNN linear primitive (torch.ops.mkldnn)")
    comfy_nodes, _ = comfy
    (model,) = _load_motion(base_model, _load(motion_folder, "v2"))
    _ksample(comfy_nodes, model, steps=1)
    linears = [layer for module in _unet_motion_modules(base_model) for layer in module.modules()
               if isinstance(layer, torch.nn.Linear)]
    assert len(linears) == 21 * 12  # 21 modules of v2: proj_in/out, 2 x (q, k, v, out), 2 feed-forward layers
    with torch.inference_mode():
        assert all(fused_linear.fusable(layer, torch.zeros(1, layer.in_features)) for layer in linears)


def test_ejection_leaves_the_plain_model_exactly_as_before(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    name = _load(motion_folder, "v2")
    sampling_before = base_model.get_model_object("model_sampling")
    keys_before = list(base_model.model.state_dict().keys())
    plain_before = _ksample(comfy_nodes, base_model, steps=1, seed=11)

    (model,) = _load_motion(base_model, name, motion_scale=1.3, effect=0.8)
    animated = _ksample(comfy_nodes, model, steps=1, seed=11)
    assert torch.isfinite(animated).all()

    plain_after = _ksample(comfy_nodes, base_model, steps=1, seed=11)
    assert torch.equal(plain_before, plain_after)
    assert not _unet_motion_modules(base_model)
    assert base_model.get_model_object("model_sampling") is sampling_before
    assert list(base_model.model.state_dict().keys()) == keys_before


def test_effect_zero_samples_like_the_plain_model_with_the_same_schedule(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    name = _load(motion_folder, "v2")
    (off,) = _load_motion(base_model, name, effect=0.0, beta_schedule="use existing")
    assert torch.allclose(_ksample(comfy_nodes, off, steps=1, cfg=1.0), _ksample(comfy_nodes, base_model, steps=1, cfg=1.0), rtol=1e-5, atol=1e-5)


def _frames_seen(model):
    """Record the sequence lengths our temporal attention sees, through core's attention override hook."""
    seen = []

    def override(func, q, k, v, heads, *args, **kwargs):
        seen.append(q.shape[1])
        return func(q, k, v, heads, *args, **kwargs)

    model.model_options["transformer_options"]["optimized_attention_override"] = override
    return seen


def test_long_videos_run_in_context_windows(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    name = _load(motion_folder, "v2")
    # 7 frames, windows of 3 (an attention length no spatial attention at 8x8 latents has)
    (model,) = _load_motion(base_model, name, context_length=3, context_overlap=1)
    seen = _frames_seen(model)
    out = _ksample(comfy_nodes, model, frames=7, steps=1, cfg=1.0)
    assert out.shape[0] == 7 and torch.isfinite(out).all()
    assert 3 in seen and 7 not in seen

    (no_windows,) = _load_motion(base_model, name, context_length=0)
    seen = _frames_seen(no_windows)
    _ksample(comfy_nodes, no_windows, frames=7, steps=1, cfg=1.0)
    assert 7 in seen and 3 not in seen


def test_core_context_windows_node_works_with_our_module(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    name = _load(motion_folder, "v2")
    (model,) = _load_motion(base_model, name, context_length=0)
    windowed = ContextWindowsManualNode.execute(model, 3, 1, "standard_static", 1, False, "pyramid", 0, False).result[0]
    seen = _frames_seen(windowed)
    out = _ksample(comfy_nodes, windowed, frames=7, steps=1, cfg=1.0)
    assert torch.isfinite(out).all() and 3 in seen and 7 not in seen


def test_too_many_frames_without_windows_is_a_clear_error(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    name = _load(motion_folder, "v2")
    (model,) = _load_motion(base_model, name, context_length=0)
    with pytest.raises(ValueError, match=r"33 frames .* 32 positions.*context windows"):
        _ksample(comfy_nodes, model, frames=33, steps=1, cfg=1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        _ksample(comfy_nodes, model, frames=1, steps=1, cfg=1.0)


def test_a_module_for_another_model_is_refused_before_sampling(comfy, motion_folder, base_model):
    write_random_motion_module(motion_folder / "mm_sdxl_small.safetensors", version="sdxl", channels_scale=0.1)
    with pytest.raises(ValueError, match="SD1.5 motion modules need an SD1.5 checkpoint"):
        _load_motion(base_model, "mm_sdxl_small.safetensors")
    write_random_motion_module(motion_folder / "mm_v2_small.safetensors", version="v2", channels_scale=0.1)
    with pytest.raises(ValueError, match="32 channels but the UNet block there has 320"):
        _load_motion(base_model, "mm_v2_small.safetensors")
    (motion_folder / "not_motion.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="not_motion.safetensors"):
        _load_motion(base_model, "not_motion.safetensors")


@pytest.mark.parametrize("choice,formula", [
    ("sqrt_linear (AnimateDiff)", lambda: sqrt_linear_sigmas()),
    ("linear (HotshotXL/default)", lambda: _scaled_linear_sigmas(0.012)),
    ("linear (AnimateDiff-SDXL)", lambda: _scaled_linear_sigmas(0.020)),
])
def test_beta_schedules_match_their_formulas(comfy, base_model, choice, formula):
    from steadyframe.comfy_glue.motion_patch import make_model_sampling

    sampling = make_model_sampling(choice, base_model)
    want = formula().float()
    assert torch.allclose(sampling.sigmas, want, rtol=1e-5)


def _scaled_linear_sigmas(end):
    betas = torch.linspace(0.00085 ** 0.5, end ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod).sqrt()


def test_auto_schedule_per_format(comfy, base_model):
    from steadyframe.comfy_glue.motion_patch import make_model_sampling
    from steadyframe.motion.beta_schedules import resolve_beta_schedule
    from steadyframe.motion.formats import normalize_motion_state_dict
    from support.motion_files import make_motion_state_dict

    picks = {}
    for version in ("v1", "v2", "v3", "animatelcm", "sdxl", "hotshotxl"):
        _, info = normalize_motion_state_dict(make_motion_state_dict(version, channels_scale=0.1))
        picks[version] = resolve_beta_schedule("auto", info.auto_beta_schedule)
    assert picks == {"v1": "sqrt_linear (AnimateDiff)", "v2": "sqrt_linear (AnimateDiff)", "v3": "sqrt_linear (AnimateDiff)",
                     "animatelcm": "lcm (AnimateLCM)", "sdxl": "linear (AnimateDiff-SDXL)", "hotshotxl": "linear (HotshotXL/default)"}
    lcm = make_model_sampling("lcm (AnimateLCM)", base_model)
    assert len(lcm.sigmas) == 50  # LCM-distilled: 50 original timesteps
    assert math.isclose(float(lcm.sigmas[-1]), float(_scaled_linear_sigmas(0.012)[-1]), rel_tol=1e-5)


def test_v1_normalises_resblocks_across_frames_only_in_its_own_clone(comfy, motion_folder, base_model):
    comfy_nodes, _ = comfy
    name = _load(motion_folder, "v1")
    plain_before = _ksample(comfy_nodes, base_model, frames=2, steps=1, cfg=1.0, seed=3)
    (model,) = _load_motion(base_model, name)
    path = "diffusion_model.input_blocks.1.0.in_layers.0"
    patched = model.object_patches[path]
    original = base_model.get_model_object(path)
    assert type(patched).__name__.startswith("CrossFrame") and patched.weight is original.weight
    assert "diffusion_model.out.0" in model.object_patches
    animated = _ksample(comfy_nodes, model, frames=2, steps=1, cfg=1.0, seed=3)
    assert torch.isfinite(animated).all()
    # the clone's GroupNorms really differ from per-frame ones: same module, v3-style clone (no GN copies)
    (v3_like,) = _load_motion(base_model, name)
    v3_like.object_patches = {k: v for k, v in v3_like.object_patches.items() if k == "model_sampling"}
    v3_like.remove_wrappers_with_key("diffusion_model", "SteadyFrame_motion")
    per_frame = _ksample(comfy_nodes, v3_like, frames=2, steps=1, cfg=1.0, seed=3)
    assert (animated - per_frame).norm() / per_frame.norm() > 1e-4
    assert torch.equal(_ksample(comfy_nodes, base_model, frames=2, steps=1, cfg=1.0, seed=3), plain_before)
    assert type(base_model.get_model_object(path)).__name__ == type(original).__name__
