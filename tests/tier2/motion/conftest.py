"""Fixtures shared by the motion tests: AnimateDiff-Evolved, and the seeded SD1.5 UNet and VAE."""
import pytest

from support.animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved


@pytest.fixture(scope="module")
def ade(comfyui_root):
    """AnimateDiff-Evolved imported in this process; skips with the reason when it is not installed."""
    path, reason = find_animatediff_evolved(comfyui_root)
    if path is None:
        pytest.skip(reason)
    return import_animatediff_evolved(path)


@pytest.fixture(scope="module")
def base_model(comfyui_root):
    """The cached random-weight SD1.5 ModelPatcher (seed 0): clone it before patching."""
    from support.sd15_factory import make_sd15_model_patcher

    return make_sd15_model_patcher(0)


@pytest.fixture(scope="module")
def vae(comfyui_root):
    """The cached random-weight SD1.5 VAE (seed 0)."""
    from support.sd15_factory import make_sd15_vae

    return make_sd15_vae(0)
