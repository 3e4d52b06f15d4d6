"""Fixtures shared by the motion tests that compare with AnimateDiff-Evolved."""
import pytest

from support.animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved


@pytest.fixture(scope="module")
def ade(comfyui_root):
    """AnimateDiff-Evolved imported in this process; skips with the reason when it is not installed."""
    path, reason = find_animatediff_evolved(comfyui_root)
    if path is None:
        pytest.skip(reason)
    return import_animatediff_evolved(path)
