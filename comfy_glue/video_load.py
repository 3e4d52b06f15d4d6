"""Load Video Frames inside ComfyUI: the input folder, a progress bar, Cancel, and a core VIDEO."""
from __future__ import annotations

from ..video import FrameSelection, alpha_to_mask, exact_rate, load_audio, load_video, loaded_video_info, probe
from .chunk_source import check_chunk_frames, narrow_to_chunk
from .runtime import comfy_progress_bar, throw_if_interrupted
from .video_files import resolve_video_path


def load_video_outputs(video: str, force_rate: float = 0.0, custom_width: int = 0, custom_height: int = 0,
                       frame_load_cap: int = 0, skip_first_frames: int = 0, select_every_nth: int = 1,
                       chunk=None, *, resolve=resolve_video_path) -> tuple:
    """``(images, frame_count, fps, audio, core VIDEO, mask, video_info)`` of a file in ComfyUI's input folder.

    ``images``: (F, H, W, 3) float 0..1; ``audio``: core AUDIO under those frames, or None
    when the file has none; the VIDEO is the whole source file. ``mask``: (F, H, W) float,
    ComfyUI's LoadImage convention (1 - alpha: 1 = transparent; zeros for files without
    alpha). ``video_info``: :class:`~video.info.LoadedVideoInfo`. Cancel is checked after
    every decoded frame, skipped ones included.
    ``resolve`` turns ``video`` into a checked path (Load Video Frames (Path) passes
    ``resolve_media_path``).
    ``chunk`` (chunking.plan.Chunk): only its frames [first, end) of the selected sequence.
    """
    from comfy_api.v0_0_2 import InputImpl

    path = resolve(video)
    selection = FrameSelection(
        force_rate=exact_rate(force_rate) if force_rate else None,
        skip_first_frames=skip_first_frames, select_every_nth=select_every_nth, frame_load_cap=frame_load_cap)
    selection = narrow_to_chunk(selection, chunk, path)
    info = probe(path)
    expected = selection.expected_count(info.frame_count, info.duration)
    progress = comfy_progress_bar(expected)

    def on_frame(count):
        throw_if_interrupted()
        progress.update_absolute(min(count, expected), expected)

    loaded = load_video(path, selection, custom_width, custom_height, on_frame, on_decode=throw_if_interrupted)
    check_chunk_frames(video, int(loaded.images.shape[0]), chunk)
    audio = load_audio(path, loaded.start_time, loaded.end_time) if info.has_audio else None
    mask = alpha_to_mask(loaded.alpha, *loaded.images.shape[:3])
    return (loaded.images, int(loaded.images.shape[0]), float(loaded.frame_rate), audio,
            InputImpl.VideoFromFile(path), mask, loaded_video_info(loaded))
