"""Load Images (Folder) inside ComfyUI: the path rule, a progress bar, Cancel and chunks."""
from __future__ import annotations

from ..video.image_folder import folder_fingerprint, load_image_folder
from .runtime import comfy_progress_bar, throw_if_interrupted
from .video_files import check_media_path, permitted_roots, resolve_media_path


def resolve_image_folder(folder: str) -> str:
    """The folder a Load Images ``folder`` value names (relative: inside input/), by the path rule."""
    return resolve_media_path(folder, what="image folder", expect="folder")


def check_image_folder(folder: str | None) -> bool | str:
    """validate_inputs' answer for ``folder`` (True for a linked value, checked when the node runs)."""
    return check_media_path(folder, what="image folder", expect="folder")


def image_folder_fingerprint(folder: str, pattern: str) -> str | float:
    """Changes when a matching file changes; NaN (never equal: the node runs and reports) when refused."""
    try:
        return folder_fingerprint(resolve_image_folder(folder), pattern)
    except ValueError:
        return float("nan")


def load_image_folder_outputs(folder: str, pattern: str = "*", image_load_cap: int = 0, skip_first_images: int = 0,
                              select_every_nth: int = 1, chunk=None) -> tuple:
    """``(images, mask, frame_count, file names)`` of a folder of frames.

    ``images``: (F, H, W, 3) float 0..1; ``mask``: (F, H, W) float, 1 - alpha; the names are
    newline-joined. ``chunk`` (``chunking.plan.Chunk``): load only absolute frames
    ``[chunk.first, chunk.end)`` of the selection. Cancel is checked after every file.
    """
    path = resolve_image_folder(folder)
    progress = None

    def on_image(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = comfy_progress_bar(total)
        progress.update_absolute(done, total)
        throw_if_interrupted()

    throw_if_interrupted()
    first, end = (chunk.first, chunk.end) if chunk is not None else (None, None)
    loaded = load_image_folder(path, pattern, image_load_cap, skip_first_images, select_every_nth, first, end,
                               on_image, permitted_roots())
    return loaded.images, loaded.mask, int(loaded.images.shape[0]), "\n".join(loaded.names)
