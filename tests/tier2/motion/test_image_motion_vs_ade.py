"""AnimateLCM-I2V and PIA side by side with AnimateDiff-Evolved (ADE) 1.5.7 in the same ComfyUI
process (skipped with a reason without ADE).

Same random-weight SD1.5 UNet and VAE, the same random-weight files in the published key layouts
(full SD1.5 widths: ADE builds its modules at those widths), same start image, seed, sampler and
settings; the sampled latents must agree to a relative L2 below 1e-3. Each comparison also shows
that the start image matters (another image is far from ADE's result), so a comparison that
ignored the image input would fail.

ADE's graphs: AnimateLCM-I2V = Load AnimateLCM-I2V Model -> Scale Ref Image and VAE Encode
(bilinear, center) -> Apply AnimateLCM-I2V Model -> Use Evolved Sampling (autoselect);
PIA = Load AnimateDiff Model -> PIA Input (paper preset) -> Apply AnimateDiff-PIA Model -> Use
Evolved Sampling (autoselect).

Heavy: run under ``flock /tmp/steadyframe-heavy.lock``.
"""
import pytest
import torch

from support.comfy_location import skip_module_without_comfyui

skip_module_without_comfyui()

from support.image_motion_files import write_image_motion_file  # noqa: E402

pytestmark = pytest.mark.tier2

FRAMES = 4
STEPS = 3
SIZE = 64  # pixels; latents 8x8


@pytest.fixture(scope="module")
def files(ade, tmp_path_factory):
    import folder_paths

    from steadyframe.comfy_glue.motion_patch import register_motion_folder

    register_motion_folder()
    folder = tmp_path_factory.mktemp("image_motion_vs_ade")
    folder_paths.add_model_folder_path("animatediff_models", str(folder))
    # a strong encoder input convolution: the start image outweighs ref_drift's positional term
    write_image_motion_file(folder / "cmp_animatelcm_i2v.safetensors", "animatelcm_i2v", seed=5, dtype=torch.float16,
                            encoder_conv_in_std=0.5)
    write_image_motion_file(folder / "cmp_pia.ckpt", "pia", seed=6, dtype=torch.float16)
    return {"i2v": "cmp_animatelcm_i2v.safetensors", "pia": "cmp_pia.ckpt"}


def _image(seed):
    gen = torch.Generator().manual_seed(seed)
    # smooth colour fields: a VAE-like input, not white noise
    coarse = torch.rand(1, 3, 4, 4, generator=gen)
    return torch.nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear").movedim(1, -1).contiguous()


def _sample(model, seed=9):
    import comfy.model_management

    import nodes as comfy_nodes

    gen = torch.Generator().manual_seed(1)
    cond, uncond = torch.randn(1, 77, 768, generator=gen), torch.randn(1, 77, 768, generator=gen)
    latent = {"samples": torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, STEPS, 2.0, "euler", "normal", [[cond, {}]], [[uncond, {}]], latent)
    comfy.model_management.unload_all_models()
    return out["samples"]


def _rel(a, b):
    value = float((a - b).norm() / b.norm())
    print(f"relative L2 {value:.2e}")  # shown with pytest -s; the README quotes these
    return value


def _ade_i2v(ade, model, name, image, vae, ref_drift, effect=1.0):
    (motion, _encoder_only) = ade.NODE_CLASS_MAPPINGS["ADE_LoadAnimateLCMI2VModel"]().load_motion_model(name)
    latent = {"samples": torch.zeros(FRAMES, 4, SIZE // 8, SIZE // 8)}
    (ref,) = ade.NODE_CLASS_MAPPINGS["ADE_UpscaleAndVAEEncode"]().preprocess_images(image, vae, latent, "bilinear", "center")
    extra = {} if effect == 1.0 else {"effect_multival": effect}
    (m_models,) = ade.NODE_CLASS_MAPPINGS["ADE_ApplyAnimateLCMI2VModel"]().apply_motion_model(motion, ref, ref_drift=ref_drift, **extra)
    (out,) = ade.NODE_CLASS_MAPPINGS["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, "autoselect", m_models=m_models)
    return out


def _ade_pia(ade, model, name, image, vae, preset, index):
    (motion,) = ade.NODE_CLASS_MAPPINGS["ADE_LoadAnimateDiffModel"]().load_motion_model(name)
    (pia_input,) = ade.NODE_CLASS_MAPPINGS["ADE_InputPIA_PaperPresets"]().create_pia_input(preset, index)
    (m_models,) = ade.NODE_CLASS_MAPPINGS["ADE_ApplyAnimateDiffModelWithPIA"]().apply_motion_model(
        motion, image, vae, 0.0, 1.0, pia_input=pia_input)
    (out,) = ade.NODE_CLASS_MAPPINGS["ADE_UseEvolvedSampling"]().use_evolved_sampling(model, "autoselect", m_models=m_models)
    return out


@pytest.mark.parametrize("ref_drift,effect", [(0.0, 1.0), (0.5, 1.0), (0.0, 0.6)])
def test_animatelcm_i2v_matches_ade(ade, base_model, vae, files, ref_drift, effect):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadAnimateLCMI2V

    image = _image(0)
    theirs = _sample(_ade_i2v(ade, base_model, files["i2v"], image, vae, ref_drift, effect))
    ours = _sample(SteadyFrameLoadAnimateLCMI2V.execute(base_model, files["i2v"], image, vae, ref_drift=ref_drift, effect=effect,
                                                        context_length=0).result[0])
    assert _rel(ours, theirs) < 1e-3
    other_image = _sample(SteadyFrameLoadAnimateLCMI2V.execute(base_model, files["i2v"], _image(1), vae, ref_drift=ref_drift,
                                                               effect=effect, context_length=0).result[0])
    assert _rel(other_image, theirs) > 1e-2


@pytest.mark.parametrize("preset,index", [("Animation (Medium Motion)", 0), ("Loop (Large Motion)", -1)])
def test_pia_matches_ade(ade, base_model, vae, files, preset, index):
    from steadyframe.nodes.image_motion_nodes import SteadyFrameLoadPIA

    image = _image(2)
    theirs = _sample(_ade_pia(ade, base_model, files["pia"], image, vae, preset, index))
    ours = _sample(SteadyFrameLoadPIA.execute(base_model, files["pia"], image, vae, affinity_preset=preset, preset_frame=index,
                                              context_length=0).result[0])
    assert _rel(ours, theirs) < 1e-3
    other_image = _sample(SteadyFrameLoadPIA.execute(base_model, files["pia"], _image(3), vae, affinity_preset=preset,
                                                     preset_frame=index, context_length=0).result[0])
    assert _rel(other_image, theirs) > 1e-2
