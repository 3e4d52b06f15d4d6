"""The random SD1.5 factory yields parts core ComfyUI loads and samples with (tier 2)."""
import math

import pytest
import torch

pytestmark = pytest.mark.tier2

CKPT_NAME = "steadyframe_sd15_random.safetensors"


@pytest.fixture()
def checkpoint_folder(comfyui_root, tmp_path):
    """A temporary extra ``checkpoints`` folder registered through folder_paths' public API."""
    import folder_paths

    from support.sd15_factory import write_sd15_checkpoint

    folder = tmp_path / "checkpoints"
    write_sd15_checkpoint(folder / CKPT_NAME, seed=0)
    paths = folder_paths.folder_names_and_paths["checkpoints"][0]
    folder_paths.add_model_folder_path("checkpoints", str(folder))
    yield folder
    if str(folder) in paths:
        paths.remove(str(folder))


def test_vae_weights_are_seeded_and_deterministic(comfyui_root):
    from support.sd15_factory import sd15_vae_state_dict

    first, again, other = sd15_vae_state_dict(0), sd15_vae_state_dict(0), sd15_vae_state_dict(1)
    key = "decoder.conv_in.weight"
    assert torch.equal(first[key], again[key])
    assert not torch.equal(first[key], other[key])
    assert abs(first[key].std().item() - 0.02) < 0.002
    for name, tensor in first.items():
        assert torch.isfinite(tensor).all(), name


def test_factory_objects_are_comfyui_classes(comfyui_root):
    import comfy.model_patcher
    import comfy.sd
    import comfy.supported_models

    from support.sd15_factory import make_sd15_clip, make_sd15_model_patcher, make_sd15_vae

    patcher = make_sd15_model_patcher(0)
    assert isinstance(patcher, comfy.model_patcher.ModelPatcher)
    assert type(patcher.model.model_config) is comfy.supported_models.SD15
    assert patcher.model.diffusion_model.input_blocks[0][0].weight.dtype == torch.float32
    assert make_sd15_model_patcher(0) is patcher, "the factory caches per seed"
    assert isinstance(make_sd15_clip(0), comfy.sd.CLIP)
    vae = make_sd15_vae(0)
    assert isinstance(vae, comfy.sd.VAE)
    decoded = vae.decode(torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0)))
    assert decoded.shape == (1, 32, 32, 3) and torch.isfinite(decoded).all()


def test_checkpoint_loads_through_core_loader_and_samples(checkpoint_folder):
    import comfy.supported_models

    import nodes as comfy_nodes
    from support.sd15_factory import make_sd15_model_patcher

    model, clip, vae = comfy_nodes.CheckpointLoaderSimple().load_checkpoint(CKPT_NAME)
    assert type(model.model.model_config) is comfy.supported_models.SD15

    # The file holds exactly the factory's weights (fp16 on disk), in the layout the loader maps back.
    loaded = model.model.diffusion_model.input_blocks[0][0].weight.float()
    original = make_sd15_model_patcher(0).model.diffusion_model.input_blocks[0][0].weight
    assert torch.equal(loaded, original.half().float())

    (positive,) = comfy_nodes.CLIPTextEncode().encode(clip, "a lighthouse at dusk")
    (negative,) = comfy_nodes.CLIPTextEncode().encode(clip, "")
    assert positive[0][0].shape == (1, 77, 768) and torch.isfinite(positive[0][0]).all()
    (latent,) = comfy_nodes.EmptyLatentImage().generate(64, 64, batch_size=2)
    (sampled,) = comfy_nodes.KSampler().sample(
        model, seed=3, steps=2, cfg=7.0, sampler_name="euler", scheduler="normal",
        positive=positive, negative=negative, latent_image=latent, denoise=1.0,
    )
    samples = sampled["samples"]
    assert samples.shape == (2, 4, 8, 8)
    assert torch.isfinite(samples).all()
    # Two frames from different noise must differ: the sampler really ran per frame.
    assert not torch.equal(samples[0], samples[1])
    (images,) = comfy_nodes.VAEDecode().decode(vae, sampled)
    assert images.shape == (2, 64, 64, 3)
    assert torch.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0
    assert not math.isclose(images.std().item(), 0.0)
