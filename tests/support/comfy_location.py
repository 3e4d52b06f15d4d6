"""Finds a real ComfyUI for tier-2 tests, or says in one line why there is none."""
import os
from pathlib import Path


def _looks_like_comfyui(path: Path) -> bool:
    return (path / "main.py").is_file() and (path / "comfy").is_dir() and (path / "folder_paths.py").is_file()


def find_comfyui(repo_root: Path):
    """Return ``(comfyui_root, None)`` or ``(None, reason)``."""
    env = os.environ.get("COMFYUI_PATH")
    if env:
        candidate = Path(env).expanduser().resolve()
        if _looks_like_comfyui(candidate):
            return candidate, None
        return None, f"COMFYUI_PATH={env} is not a ComfyUI checkout (no main.py, comfy/ and folder_paths.py there)"
    parent = repo_root.resolve().parent
    if parent.name == "custom_nodes" and _looks_like_comfyui(parent.parent):
        return parent.parent, None
    return None, "COMFYUI_PATH is not set and the pack is not inside ComfyUI/custom_nodes/"


def prepare_inprocess_comfyui(comfyui_root: Path):
    """Make ComfyUI importable in this test process; ``(root, None)`` or ``(None, reason)``.

    In-process tier-2 tests get the device choice of ``main.py --cpu`` on a machine without
    a GPU: ComfyUI reads its parsed arguments when ``comfy.model_management`` is imported.
    """
    try:
        import torch
        from comfy.cli_args import args as comfy_cli_args

        if not torch.cuda.is_available():
            comfy_cli_args.cpu = True
        # ComfyUI's own ``utils`` package first, as main.py does: importing nodes.py puts comfy/
        # at the front of sys.path, after which ``utils`` would mean comfy/utils.py and
        # comfy_extras modules that import ``utils.install_util`` fail.
        import comfy.model_base  # noqa: F401  (fails early when ComfyUI's requirements are missing)
        import utils.install_util  # noqa: F401
    except Exception as exc:  # any import failure means this Python cannot drive that ComfyUI
        first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return None, (
            f"COMFYUI_PATH={comfyui_root} is set but this Python cannot import ComfyUI ({first_line}); "
            "run `bash scripts/test.sh`, which installs ComfyUI's requirements"
        )
    return comfyui_root, None


def skip_module_without_comfyui() -> None:
    """Skip a tier-2 test module at collection when ComfyUI is absent.

    For modules that import the node declarations at the top: those need ComfyUI's ``comfy_api``,
    so without ComfyUI the import itself would fail before the tier2 marker could skip the tests.
    """
    import importlib.util

    import pytest

    if importlib.util.find_spec("comfy_api") is None:
        _, reason = find_comfyui(Path(__file__).resolve().parents[2])
        pytest.skip(f"tier 2 skipped: {reason or 'comfy_api is not importable'}", allow_module_level=True)
