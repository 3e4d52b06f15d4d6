"""ComfyUI's input, output and temp folders as the video nodes use them, and the folders users allow.

``folder_paths`` is imported inside the functions, so this module imports without ComfyUI.

Paths outside ComfyUI's own folders are read only from folders the user lists under the
``steadyframe_media`` key of an ``extra_model_paths.yaml`` (ComfyUI registers every key there with
``folder_paths.add_model_folder_path``); nothing is allowed by default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..video import OutputFormat, list_videos, resolve_inside
from ..video.paths import resolve_allowed

# The frontend's suffix for a file picked from another ComfyUI folder ("clip.mp4 [output]").
_ANNOTATIONS = ("[input]", "[output]", "[temp]")


def input_videos() -> list[str]:
    """Video files in ComfyUI's input folder (and its subfolders), as combo entries; empty outside ComfyUI."""
    try:
        import folder_paths
    except ImportError:  # registry checks and tools run without ComfyUI: no input folder to list
        return []
    return list_videos(folder_paths.get_input_directory())


def _annotated_folder(name: str) -> tuple[str, str]:
    """``name`` without ComfyUI's `` [output]`` / `` [temp]`` annotation, and the folder it names (input by default)."""
    import folder_paths

    stripped = name.strip()
    for annotation in _ANNOTATIONS:
        if stripped.endswith(annotation):
            return stripped[: -len(annotation)].rstrip(), folder_paths.get_directory_by_type(annotation[1:-1])
    return stripped, folder_paths.get_input_directory()


def resolve_video_path(name: str) -> str:
    """Path of a LoadVideo ``video`` value; refuses anything outside ComfyUI's input folder.

    ComfyUI's own ``name [output]`` / ``name [temp]`` annotations (what the frontend
    sends for a file picked from those folders) resolve inside those folders.
    """
    stripped, base_dir = _annotated_folder(name)
    return resolve_inside(stripped, base_dir)


#: The extra_model_paths.yaml key whose folders the path-taking loaders may read.
MEDIA_ROOTS_KEY = "steadyframe_media"

ALLOW_HINT = (f"To read from another folder, list it under the key {MEDIA_ROOTS_KEY!r} in ComfyUI's "
              "extra_model_paths.yaml (see the SteadyFrame README)")


def allowed_media_roots() -> list[str]:
    """Folders listed under ``steadyframe_media`` in extra_model_paths.yaml (empty when none or outside ComfyUI)."""
    try:
        import folder_paths
    except ImportError:
        return []
    try:
        return folder_paths.get_folder_paths(MEDIA_ROOTS_KEY)
    except KeyError:  # the key is registered only when a yaml file names it
        return []


def resolve_media_path(name: str, what: str = "file", expect: str = "file") -> str:
    """Resolved path of a path-taking loader's ``name``; refuses anything outside the permitted folders.

    Relative names are inside ComfyUI's input folder (``name [output]`` / ``name [temp]``: those
    folders). Absolute names must lie in ComfyUI's input, output or temp folder or under a
    ``steadyframe_media`` folder. Symlinks and ``..`` are resolved before the check.
    ``expect``: "file" or "folder".
    """
    stripped, base_dir = _annotated_folder(name)
    return resolve_allowed(stripped, base_dir, permitted_roots(), what, expect, ALLOW_HINT)


def permitted_roots() -> list[str]:
    """Every folder a path-taking loader may read: ComfyUI's input, output and temp, then the listed ones."""
    import folder_paths

    return [folder_paths.get_input_directory(), folder_paths.get_output_directory(),
            folder_paths.get_temp_directory(), *allowed_media_roots()]


def resolve_video_file(name: str) -> str:
    """Load Video Frames (Path)'s ``path``: a video file by the path rule (see ``resolve_media_path``)."""
    return resolve_media_path(name, "video file")


def media_fingerprint(name: str) -> str | float:
    """Changes whenever the file behind a path-taking loader's ``name`` does; NaN when it is refused."""
    try:
        path = resolve_media_path(name, "video file")
    except ValueError:
        return float("nan")
    stat = os.stat(path)
    return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


def check_media_path(name: str | None, what: str = "file", expect: str = "file") -> bool | str:
    """True, or why ``name`` is refused (validate_inputs); True for None (a linked input, checked when it runs)."""
    if name is None:
        return True
    try:
        resolve_media_path(name, what, expect)
    except ValueError as exc:
        return str(exc)
    return True


def check_video_name(name: str) -> bool | str:
    """True, or why ``name`` is refused (ComfyUI's validate_inputs answer)."""
    try:
        resolve_video_path(name)
    except ValueError as exc:
        return str(exc)
    return True


def video_fingerprint(name: str) -> str | float:
    """Changes whenever the file behind ``name`` does (path, mtime, size); NaN (never equal,
    so the node runs and reports the problem) when the name does not resolve."""
    try:
        path = resolve_video_path(name)
    except ValueError:
        return float("nan")
    stat = os.stat(path)
    return f"{path}:{stat.st_mtime_ns}:{stat.st_size}"


@dataclass(frozen=True)
class SaveTarget:
    """Where Video Combine writes, by ComfyUI's naming rules.

    ``path``: the file (a folder for a PNG sequence). ``subfolder``: its folder under
    ``folder_type`` ("output" or "temp"), ``/``-separated. ``stem``: ``name_00001_``.
    """

    path: str
    subfolder: str
    folder_type: str
    stem: str


def save_target(filename_prefix: str, save_output: bool, width: int, height: int, fmt: OutputFormat) -> SaveTarget:
    """The next free ``<prefix>_00001_.<ext>`` in ComfyUI's output folder (temp when not ``save_output``).

    ``filename_prefix`` may hold subfolders and ComfyUI's ``%date:...%``/``%width%`` tokens; a
    prefix leading out of the folder is refused by ComfyUI.
    """
    import folder_paths

    folder_type = "output" if save_output else "temp"
    root = folder_paths.get_output_directory() if save_output else folder_paths.get_temp_directory()
    full_folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, root, width, height)
    stem = f"{filename}_{counter:05}_"
    path = os.path.join(full_folder, stem if fmt.kind == "png" else f"{stem}.{fmt.extension}")
    return SaveTarget(path, subfolder, folder_type, stem)
