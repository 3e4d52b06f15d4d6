"""Video file names: which files count as videos, and names that must stay inside a folder."""
from __future__ import annotations

import os

#: Extensions the loader lists from the input folder.
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi", ".gif", ".webp")


def list_videos(root: str) -> list[str]:
    """Video files under ``root`` (subfolders too, hidden files left out), as sorted
    ``/``-separated paths relative to ``root``."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


def resolve_inside(name: str, base_dir: str) -> str:
    """Absolute path of ``name`` under ``base_dir``; refuses anything that escapes it.

    Absolute paths, ``..`` segments and symlinks that lead out of ``base_dir`` are
    refused with a ValueError, as is a missing file.
    """
    if not name or "\x00" in name:
        raise ValueError(f"video file name {name!r} is empty or invalid")
    if os.path.isabs(name):
        raise ValueError(f"video file {name!r}: absolute paths are refused; put the file in {base_dir}")
    base = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(base, name))
    if os.path.commonpath((base, path)) != base:
        raise ValueError(f"video file {name!r} resolves to {path}, outside the folder {base}; refused")
    if not os.path.isfile(path):
        raise ValueError(f"video file {name!r} not found in {base}")
    return path
