"""Video Info: the numbers of a source file and of the frames Load Video Frames returned."""
from __future__ import annotations

from dataclasses import dataclass

from .decode import LoadedVideo


@dataclass(frozen=True)
class LoadedVideoInfo:
    """What Load Video Frames' ``video_info`` output carries (socket type SF_VIDEO_INFO).

    ``source_*``: the file as its container declares it (the frame count of formats that
    store none, such as WebM, is duration x rate); width/height as displayed (after rotation).
    ``loaded_*``: the returned frames, after force_rate, skip_first_frames, select_every_nth,
    frame_load_cap and resizing; ``loaded_duration`` = frames / fps, their playing time.
    """

    source_fps: float
    source_frame_count: int
    source_duration: float
    source_width: int
    source_height: int
    loaded_fps: float
    loaded_frame_count: int
    loaded_duration: float
    loaded_width: int
    loaded_height: int


def loaded_video_info(loaded: LoadedVideo) -> LoadedVideoInfo:
    """The info of a :func:`~video.decode.load_video` result."""
    source = loaded.source
    frames, height, width = loaded.images.shape[:3]
    fps = float(loaded.frame_rate)
    return LoadedVideoInfo(
        source_fps=float(source.frame_rate), source_frame_count=int(source.frame_count),
        source_duration=float(source.duration), source_width=int(source.width), source_height=int(source.height),
        loaded_fps=fps, loaded_frame_count=int(frames), loaded_duration=float(frames / loaded.frame_rate),
        loaded_width=int(width), loaded_height=int(height))
