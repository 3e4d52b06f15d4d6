"""Finds and imports Advanced-ControlNet (ACN) beside the test ComfyUI, for side-by-side checks.

ACN is looked for in ``$ADVANCED_CONTROLNET_PATH`` or in ``<ComfyUI>/custom_nodes/`` (any folder
whose name contains ``Advanced-ControlNet``). Its SparseCtrl needs AnimateDiff-Evolved, which is
imported first (ACN reaches ADE's motion model through ADE's registration at import).
"""
import importlib.util
import os
import sys
from pathlib import Path

from .animatediff_evolved import find_animatediff_evolved, import_animatediff_evolved

PACKAGE_NAME = "advanced_controlnet_under_test"


def find_advanced_controlnet(comfyui_root: Path):
    """Return ``(path, None)`` or ``(None, reason)``; also needs ADE for SparseCtrl."""
    env = os.environ.get("ADVANCED_CONTROLNET_PATH")
    candidates = [Path(env).expanduser()] if env else sorted((comfyui_root / "custom_nodes").glob("*Advanced-ControlNet*"))
    found = None
    for candidate in candidates:
        if (candidate / "__init__.py").is_file() and (candidate / "adv_control" / "control_sparsectrl.py").is_file():
            found = candidate.resolve()
            break
    if found is None:
        where = env or f"{comfyui_root / 'custom_nodes'}"
        return None, (f"Advanced-ControlNet not found in {where}: clone Kosinkadink/ComfyUI-Advanced-ControlNet there "
                      "(or set ADVANCED_CONTROLNET_PATH) to compare SparseCtrl against it")
    ade, reason = find_animatediff_evolved(comfyui_root)
    if ade is None:
        return None, f"Advanced-ControlNet's SparseCtrl needs AnimateDiff-Evolved: {reason}"
    return found, None


def import_advanced_controlnet(path: Path, comfyui_root: Path):
    """ACN's package module, imported once per process (after ADE)."""
    ade_path, _ = find_animatediff_evolved(comfyui_root)
    import_animatediff_evolved(ade_path)
    if PACKAGE_NAME in sys.modules:
        return sys.modules[PACKAGE_NAME]
    spec = importlib.util.spec_from_file_location(PACKAGE_NAME, path / "__init__.py", submodule_search_locations=[str(path)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACKAGE_NAME]
        raise
    return module
