"""Finds and imports AnimateDiff-Evolved (ADE) beside the test ComfyUI, for side-by-side checks.

ADE is looked for in ``$ANIMATEDIFF_EVOLVED_PATH`` or in ``<ComfyUI>/custom_nodes/`` (any folder
whose name contains ``AnimateDiff-Evolved``). It is imported the way ComfyUI imports a custom-node
folder: as a package, so its relative imports work.
"""
import importlib.util
import os
import sys
from pathlib import Path

PACKAGE_NAME = "animatediff_evolved_under_test"


def find_animatediff_evolved(comfyui_root: Path):
    """Return ``(path, None)`` or ``(None, reason)``."""
    env = os.environ.get("ANIMATEDIFF_EVOLVED_PATH")
    candidates = [Path(env).expanduser()] if env else sorted((comfyui_root / "custom_nodes").glob("*AnimateDiff-Evolved*"))
    for candidate in candidates:
        if (candidate / "__init__.py").is_file() and (candidate / "animatediff" / "nodes_gen1.py").is_file():
            return candidate.resolve(), None
    where = env or f"{comfyui_root / 'custom_nodes'}"
    return None, (f"AnimateDiff-Evolved not found in {where}: clone Kosinkadink/ComfyUI-AnimateDiff-Evolved there "
                  "(or set ANIMATEDIFF_EVOLVED_PATH) to compare against it")


def import_animatediff_evolved(path: Path):
    """ADE's package module (``NODE_CLASS_MAPPINGS`` etc.), imported once per process."""
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
