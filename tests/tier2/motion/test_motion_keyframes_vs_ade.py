"""Keyframes, effect, chained motion models, per-block weights and FreeInit, side by side with
AnimateDiff-Evolved (ADE) 1.5.7 in the same ComfyUI process (skipped with a reason without ADE).

Same random-weight SD1.5 UNet, same v2/v3 motion files (real key layouts and widths: ADE builds
its modules at the SD1.5 widths), same seed, sampler and settings; the latents must agree to a relative L2
below 1e-3, and each setting must change the result (so a comparison that ignores it would fail).
"""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from support.motion_files import write_random_motion_module  # noqa: E402

pytestmark = pytest.mark.tier2

FRAMES = 4
STEPS = 4
ADE_SCHEDULE = "sqrt_linear (AnimateDiff)"


@pytest.fixture(scope="module")
def small_model(comfyui_root):
    # ADE builds its motion modules at the real SD1.5 widths, so the UNet is full width too
    from support.sd15_factory import make_sd15_model_patcher

    return make_sd15_model_patcher(0)


@pytest.fixture(scope="module")
def v2_alone(small_model, files):
    """Our v2 module with default settings: the result each setting must move away from."""
    return _sample(_ours(small_model, files["v2"]))


@pytest.fixture(scope="module")
def files(ade, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    folder = tmp_path_factory.mktemp("keyframes_vs_ade")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    for version, seed in (("v2", 3), ("v3", 4)):
        write_random_motion_module(folder / f"kf_{version}.safetensors", version=version, seed=seed, dtype=torch.float16)
    return {"v2": "kf_v2.safetensors", "v3": "kf_v3.safetensors"}


def _sample(model, seed=7):
    import comfy.model_management

    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(FRAMES, 4, 8, 8)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, STEPS, 3.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)
    comfy.model_management.unload_all_models()
    return out["samples"]


def _rel(a, b):
    value = float((a - b).norm() / b.norm())
    print(f"relative L2 {value:.2e}")  # shown with pytest -s; the README quotes these
    return value


def _ours(model, name, **kwargs):
    from steadyframe.nodes.motion_nodes import SteadyFrameLoadMotionModule

    return SteadyFrameLoadMotionModule.execute(model, name, context_length=0, **kwargs).result[0]


def _ade_gen1(ade, model, name, **kwargs):
    (out,) = ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffLoaderGen1"]().load_mm_and_inject_params(model, name, ADE_SCHEDULE, **kwargs)
    return out


def _ade_keyframes(ade, *keyframes):
    node = ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffKeyframe"]()
    group = None
    for start, kwargs in keyframes:
        (group,) = node.load_keyframe(start, prev_ad_keyframes=group, **kwargs)
    return group


def test_scale_keyframe_at_half_and_effect_below_one_match_ade(ade, small_model, files):
    from steadyframe.nodes.motion_keyframe_nodes import SteadyFrameMotionKeyframe, SteadyFrameMotionSteps

    (keyframes,) = SteadyFrameMotionKeyframe.execute(0.5, scale="1.8", effect="0.5").result
    ours = _sample(SteadyFrameMotionSteps.execute(_ours(small_model, files["v2"], motion_scale=0.7, effect=0.8),
                                                  keyframes=keyframes).result[0])
    theirs = _sample(_ade_gen1(ade, small_model, files["v2"], scale_multival=0.7, effect_multival=0.8,
                               ad_keyframes=_ade_keyframes(ade, (0.5, {"scale_multival": 1.8, "effect_multival": 0.5}))))
    assert _rel(ours, theirs) < 1e-3
    no_keyframe = _sample(_ours(small_model, files["v2"], motion_scale=0.7, effect=0.8))
    assert _rel(no_keyframe, theirs) > 1e-2


def _ade_chain(ade, model, parts):
    """ADE Gen2: Load + Apply (with start/end percent) for each (file, start, end), then Use Evolved Sampling."""
    load = ade.NODE_CLASS_MAPPINGS["ADE_LoadAnimateDiffModel"]()
    apply = ade.NODE_CLASS_MAPPINGS["ADE_ApplyAnimateDiffModel"]()
    group = None
    for name, start, end, extra in parts:
        (motion,) = load.load_motion_model(name)
        (group,) = apply.apply_motion_model(motion, start, end, prev_m_models=group, **extra)
    (out,) = ade.NODE_CLASS_MAPPINGS["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, ADE_SCHEDULE, m_models=group)
    return out


@pytest.mark.parametrize("split", [(0.5, 0.5), (0.7, 0.3)], ids=["at_half", "overlapping"])
def test_two_chained_motion_models_match_ade(ade, small_model, files, v2_alone, split):
    from steadyframe.nodes.motion_keyframe_nodes import SteadyFrameChainMotionModule, SteadyFrameMotionSteps

    first_end, second_start = split
    (ours,) = SteadyFrameMotionSteps.execute(_ours(small_model, files["v2"]), 0.0, first_end).result
    (ours,) = SteadyFrameChainMotionModule.execute(ours, files["v3"], second_start, 1.0).result
    ours_latents = _sample(ours)
    theirs = _sample(_ade_chain(ade, small_model, [(files["v2"], 0.0, first_end, {}), (files["v3"], second_start, 1.0, {})]))
    assert _rel(ours_latents, theirs) < 1e-3
    # each model matters: v2 alone over the whole run is far from the chain
    assert _rel(v2_alone, theirs) > 1e-2


def test_per_block_weights_match_ade(ade, small_model, files, v2_alone):
    from steadyframe.nodes.motion_keyframe_nodes import SteadyFrameMotionBlockWeights, SteadyFrameMotionSteps

    (weights,) = SteadyFrameMotionBlockWeights.execute(effect_down=0.5, scale_up=1.6, effect_mid=0.0).result
    ours = _sample(SteadyFrameMotionSteps.execute(_ours(small_model, files["v2"]), block_weights=weights).result[0])
    combo = ade.NODE_CLASS_MAPPINGS["ADE_ADBlockCombo"]()
    (down,) = combo.block_control(effect=0.5)
    (mid,) = combo.block_control(effect=0.0)
    (up,) = combo.block_control(scale=1.6)
    (per_block,) = ade.NODE_CLASS_MAPPINGS["ADE_PerBlockHighLevel"]().create_per_block(down=down, mid=mid, up=up)
    theirs = _sample(_ade_gen1(ade, small_model, files["v2"], per_block=per_block))
    assert _rel(ours, theirs) < 1e-3
    assert _rel(v2_alone, theirs) > 1e-2


def _ade_freeinit(ade, iterations, filter_name, d_s, d_t, order):
    (opts,) = ade.NODE_CLASS_MAPPINGS["ADE_IterationOptsFreeInit"]().create_iter_opts(
        iterations, filter_name, d_s, d_t, order, 999, False, "FreeInit [sampler sigma]")
    (settings,) = ade.NODE_CLASS_MAPPINGS["ADE_AnimateDiffSamplingSettings"]().create_settings(
        0, "default", "comfy", 0, iteration_opts=opts)
    return settings


@pytest.mark.parametrize("filter_name,iterations", [("butterworth", 2)])
def test_freeinit_matches_ade(ade, small_model, files, v2_alone, filter_name, iterations):
    from steadyframe.nodes.motion_keyframe_nodes import SteadyFrameFreeInit

    (ours,) = SteadyFrameFreeInit.execute(_ours(small_model, files["v2"]), iterations, filter_name, 0.3, 0.2, 3).result
    ours_latents = _sample(ours)
    theirs = _sample(_ade_gen1(ade, small_model, files["v2"],
                               sample_settings=_ade_freeinit(ade, iterations, filter_name, 0.3, 0.2, 3)))
    assert _rel(ours_latents, theirs) < 1e-3
    assert _rel(v2_alone, theirs) > 1e-2


@pytest.mark.parametrize("filter_name", ["gaussian", "butterworth", "ideal", "box"])
def test_freeinit_filter_and_renoise_equal_ade_functions(ade, filter_name):
    import importlib

    from steadyframe.motion.freeinit import frequency_mix, low_pass_filter

    theirs = importlib.import_module(ade.__name__ + ".animatediff.freeinit")
    shape = (8, 4, 6, 10)
    ref = theirs.get_freq_filter(shape, device="cpu", filter_type=filter_name, n=3, d_s=0.3, d_t=0.2)
    ours = low_pass_filter(8, 6, 10, filter_name, 0.3, 0.2, 3)
    assert torch.allclose(ours.expand(shape), ref, atol=1e-6)
    gen = torch.Generator().manual_seed(2)
    x, noise = torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
    assert torch.allclose(frequency_mix(x, noise, ours), theirs.freq_mix_3d(x, noise, ref), atol=1e-5)
