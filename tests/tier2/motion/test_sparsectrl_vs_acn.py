"""SparseCtrl side by side with Advanced-ControlNet (ACN), when ACN (and ADE) are installed.

Issue 17 item 1: random-weight files in the published layouts of v3_sd15_sparsectrl_scribble and
_rgb; hints on frames 0 and 5 of 8. Ours: Load SparseCtrl -> SparseCtrl Hint -> core Apply
ControlNet (with the VAE for RGB). ACN: its SparseCtrl loader with the index method "0,5" (and its
RGB preprocessor) -> its Apply Advanced ControlNet. Two KSampler steps on a random SD1.5 UNet must
agree to a relative L2 below 1e-3, and both must be far from sampling without the control.

Heavy (a full SD1.5 UNet plus full-size SparseCtrl encoders, on CPU): run under the lock.
"""
import pytest
import torch

from support.advanced_controlnet import find_advanced_controlnet, import_advanced_controlnet
from support.sparsectrl_files import write_random_sparsectrl

pytestmark = pytest.mark.tier2

FRAMES = 8
LATENT = 8
STEPS = 2
INDICES = "0,5"


@pytest.fixture(scope="module")
def acn(comfyui_root):
    path, reason = find_advanced_controlnet(comfyui_root)
    if path is None:
        pytest.skip(reason)
    return import_advanced_controlnet(path, comfyui_root)


@pytest.fixture(scope="module")
def controlnet_folder(acn, tmp_path_factory):
    import folder_paths

    folder = tmp_path_factory.mktemp("sparsectrl_vs_acn")
    folder_paths.add_model_folder_path("controlnet", str(folder))
    write_random_sparsectrl(folder / "cmp_sparsectrl_scribble.safetensors", kind="scribble", seed=5, dtype=torch.float16)
    write_random_sparsectrl(folder / "cmp_sparsectrl_rgb.ckpt", kind="rgb", seed=6, dtype=torch.float16)
    return folder


def _conds():
    gen = torch.Generator().manual_seed(3)
    return [[torch.randn(1, 77, 768, generator=gen), {}]], [[torch.randn(1, 77, 768, generator=gen), {}]]


def _hint_images():
    gen = torch.Generator().manual_seed(8)
    return torch.rand(2, LATENT * 8, LATENT * 8, 3, generator=gen)


def _sample(model, positive, negative, seed=21):
    import nodes as comfy_nodes

    latent = {"samples": torch.zeros(FRAMES, 4, LATENT, LATENT)}
    (out,) = comfy_nodes.KSampler().sample(model, seed, STEPS, 4.0, "euler", "normal", positive, negative, latent)
    return out["samples"]


def _relative_l2(a, b):
    return float((a - b).norm() / b.norm())


def _ours(name, positive, negative, vae):
    import nodes as comfy_nodes
    from steadyframe.nodes.sparsectrl_nodes import SteadyFrameLoadSparseCtrl, SteadyFrameSparseCtrlHint

    control = SteadyFrameLoadSparseCtrl.execute(name).result[0]
    hint = SteadyFrameSparseCtrlHint.execute(_hint_images(), INDICES, FRAMES).result[0]
    return comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control, hint, 1.0, 0.0, 1.0,
                                                                  vae=vae if "rgb" in name else None)


def _theirs(acn, name, positive, negative, vae):
    mappings = {}
    import asyncio

    extension = asyncio.run(acn.comfy_entrypoint())
    for node in asyncio.run(extension.get_node_list()):
        mappings[node.GET_SCHEMA().node_id] = node
    method = mappings["ACN_SparseCtrlIndexMethodNode"].execute(INDICES).result[0]
    control = mappings["ACN_SparseCtrlLoaderAdvanced"].execute(name, True, 1.0, 1.0, sparse_method=method).result[0]
    image = _hint_images()
    if "rgb" in name:
        latent_size = {"samples": torch.zeros(FRAMES, 4, LATENT, LATENT)}
        image = mappings["ACN_SparseCtrlRGBPreprocessor"].execute(vae, image, latent_size).result[0]
    apply = mappings["ACN_AdvancedControlNetApply_v2"]
    return apply.execute(positive, negative, control, image, 1.0, 0.0, 1.0).result


@pytest.mark.parametrize("name", ["cmp_sparsectrl_scribble.safetensors", "cmp_sparsectrl_rgb.ckpt"])
def test_latents_equal_advanced_controlnet(acn, controlnet_folder, base_model, vae, name):
    import comfy.model_management

    positive, negative = _conds()
    ours = _sample(base_model, *_ours(name, positive, negative, vae))
    comfy.model_management.unload_all_models()
    theirs = _sample(base_model, *_theirs(acn, name, positive, negative, vae))
    comfy.model_management.unload_all_models()
    assert _relative_l2(ours, theirs) < 1e-3
    # the comparison can fail: without the control the result is far from ACN's
    assert _relative_l2(_sample(base_model, positive, negative), theirs) > 1e-2


@pytest.mark.parametrize("kind", ["scribble", "rgb"])
def test_encoder_residuals_equal_advanced_controlnet(acn, controlnet_folder, vae, kind):
    """One get_control call each (no UNet): every residual ours hands the UNet equals ACN's."""
    import types

    import comfy.latent_formats
    import comfy.model_management
    import comfy.model_sampling

    from steadyframe.comfy_glue.sparsectrl import SparseCtrlSettings, load_sparsectrl
    from steadyframe.motion.sparsectrl import sparse_hint_frames

    control_mod = __import__(f"{acn.__name__}.adv_control.control", fromlist=["load_sparsectrl"])
    sparse_mod = __import__(f"{acn.__name__}.adv_control.control_sparsectrl", fromlist=["SparseSettings"])
    path = controlnet_folder / ("cmp_sparsectrl_scribble.safetensors" if kind == "scribble" else "cmp_sparsectrl_rgb.ckpt")

    class Sampling(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
        pass

    sampling = Sampling(None)
    model = types.SimpleNamespace(latent_format=comfy.latent_formats.SD15(), model_sampling=sampling)
    images = _hint_images()[:, :32, :32]
    ours = load_sparsectrl(path, SparseCtrlSettings(name=path.name)).copy().set_cond_hint(
        sparse_hint_frames(images, [0, 3], 4).movedim(-1, 1), 1.0, (0.0, 1.0), vae=vae if kind == "rgb" else None)
    ours.pre_run(model, sampling.percent_to_sigma)
    settings = sparse_mod.SparseSettings(sparse_mod.SparseIndexMethod([0, 3]))
    theirs = control_mod.load_sparsectrl(str(path), sparse_settings=settings).copy()
    hint = sparse_mod.PreprocSparseRGBWrapper(vae.encode(images)) if kind == "rgb" else images.movedim(-1, 1)
    theirs = theirs.set_cond_hint(hint, 1.0, (0.0, 1.0))
    theirs.pre_run(model, sampling.percent_to_sigma)
    comfy.model_management.load_models_gpu(theirs.get_models())
    gen = torch.Generator().manual_seed(2)
    x, context = torch.randn(8, 4, 4, 4, generator=gen), torch.randn(8, 77, 768, generator=gen)
    t = torch.full((8,), 5.0)
    a = ours.get_control(x, t, {"c_crossattn": context}, 2, {"cond_or_uncond": [0, 1]})
    b = theirs.get_control(x, t, {"c_crossattn": context}, 2, {"cond_or_uncond": [0, 1]})
    theirs.cleanup()
    comfy.model_management.unload_all_models()
    pairs = list(zip(a["output"], b["output"])) + list(zip(a["middle"], b["middle"]))
    assert len(pairs) == 13
    for u, v in pairs:
        assert _relative_l2(u.detach(), v.detach()) < 1e-4
    # frames 1 and 2 carry no hint, yet their residuals differ from a no-motion run: the motion modules ran
    still = load_sparsectrl(path, SparseCtrlSettings(use_motion=False)).copy().set_cond_hint(
        ours.cond_hint_original, 1.0, (0.0, 1.0), vae=ours.vae)
    still.pre_run(model, sampling.percent_to_sigma)
    c = still.get_control(x, t, {"c_crossattn": context}, 2, {})
    assert _relative_l2(c["output"][5].detach(), a["output"][5].detach()) > 1e-3
