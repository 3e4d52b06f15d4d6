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
