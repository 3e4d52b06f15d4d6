"""What ComfyUI reads from the pack's folder, and that the pure packages import without ComfyUI."""
import asyncio
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import steadyframe

REPO = Path(__file__).resolve().parents[3]
PURE_PACKAGES = ("motion", "flow", "postprocess", "schedule", "video", "comfy_glue", "runner")


def test_pack_exports_a_v3_entrypoint_and_its_web_folder():
    assert steadyframe.WEB_DIRECTORY == "./web"
    assert (REPO / "web").is_dir()
    assert inspect.iscoroutinefunction(steadyframe.comfy_entrypoint)
    # ComfyUI v0.8.0 takes the classic path whenever NODE_CLASS_MAPPINGS exists: it must not.
    assert not hasattr(steadyframe, "NODE_CLASS_MAPPINGS")


def test_entrypoint_needs_comfyui_and_says_so():
    if importlib.util.find_spec("comfy_api") is not None:
        pytest.skip("comfy_api is importable here (tier 2 covers the entrypoint)")
    with pytest.raises(ModuleNotFoundError, match="comfy_api"):
        asyncio.run(steadyframe.comfy_entrypoint())


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_package_imports_without_comfyui(package):
    """In a fresh interpreter, importing every module of the package loads no ComfyUI module."""
    code = (
        "import importlib, importlib.util, pkgutil, sys\n"
        f"spec = importlib.util.spec_from_file_location('steadyframe', {str(REPO / '__init__.py')!r}, "
        f"submodule_search_locations=[{str(REPO)!r}])\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['steadyframe'] = module; spec.loader.exec_module(module)\n"
        f"package = importlib.import_module('steadyframe.{package}')\n"
        "for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'comfy_api', 'folder_paths', 'nodes', 'comfy_execution'))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"steadyframe.{package} imported ComfyUI modules: {done.stdout.strip()}"
