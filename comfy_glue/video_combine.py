"""Video Combine inside ComfyUI: naming in the output folder, the workflow metadata, progress,
Cancel, and the written file handed on as a core VIDEO."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..video import encode_video, exact_rate, output_format, written_order
from .runtime import comfy_progress_bar, throw_if_interrupted
from .video_files import save_target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CombinedVideo:
    """What Video Combine wrote.

    ``video``: core VIDEO. ``path``: the file (a folder for a PNG sequence). ``shown``:
    ``(filename, subfolder, folder_type)`` of each file the canvas shows. ``is_video``: a
    video file (core's video preview; browsers play mp4/webm, not ProRes or FFV1). ``animated``: the frontend's animated-output flag
    (video and WebP); a GIF goes without it (browsers animate it as a plain image), and a
    PNG sequence is shown as a list of images.
    """

    video: Any
    path: str
    shown: list
    is_video: bool
    animated: bool


def combine_video(images: torch.Tensor, frame_rate: float, loop_count: int, filename_prefix: str, format: str,
                  pingpong: bool, save_output: bool, crf: int = 19, pix_fmt: str = "auto", audio: Optional[dict] = None,
                  prompt: Optional[dict] = None, extra_pnginfo: Optional[dict] = None,
                  mask: Optional[torch.Tensor] = None) -> CombinedVideo:
    """Encode ``images`` (F, H, W, 3 float 0..1) into ComfyUI's output (or temp) folder.

    ``mask``: ComfyUI MASK (F, H, W) or one (H, W), 1 = transparent (LoadImage's convention),
    written as alpha = 1 - mask by the formats that store alpha; the others log a warning.
    The prompt and ``extra_pnginfo`` (the workflow) are embedded unless ComfyUI runs with
    ``--disable-metadata``. Audio is dropped with a warning for formats that cannot hold it;
    a crf above the format's maximum is lowered to it with a warning.
    """
    from comfy.cli_args import args
    from comfy_api.v0_0_2 import InputImpl, Types

    fmt = output_format(format)
    if audio is not None and fmt.kind != "av":
        log.warning("SteadyFrame Video Combine: %s cannot hold audio; the audio input is ignored", format)
    if crf > fmt.crf_range[1]:
        log.warning("SteadyFrame Video Combine: crf %d is above %s's maximum; using %d", crf, format, fmt.crf_range[1])
        crf = fmt.crf_range[1]
    target = save_target(filename_prefix, save_output, images.shape[2], images.shape[1], fmt)

    metadata = {}
    if not args.disable_metadata:
        if prompt is not None:
            metadata["prompt"] = prompt
        if extra_pnginfo:
            metadata.update(extra_pnginfo)

    order = written_order(fmt, images.shape[0], pingpong, loop_count)
    total = len(order)
    progress = comfy_progress_bar(total)

    def on_frame(count):
        throw_if_interrupted()
        progress.update_absolute(count, total)

    result = encode_video(images, target.path, format, frame_rate, crf=crf, pix_fmt=pix_fmt, loop_count=loop_count,
                          pingpong=pingpong, audio=audio if fmt.kind == "av" else None, metadata=metadata,
                          on_frame=on_frame, mask=mask)

    if fmt.kind == "png":
        sequence_folder = f"{target.subfolder}/{target.stem}" if target.subfolder else target.stem
        shown = [(os.path.basename(f), sequence_folder, target.folder_type) for f in result.files]
    else:
        shown = [(os.path.basename(target.path), target.subfolder, target.folder_type)]

    if fmt.kind in ("av", "gif"):
        video = InputImpl.VideoFromFile(target.path)
    else:  # FFmpeg cannot read animated WebP or a folder of PNGs back: hand over the frames
        video = InputImpl.VideoFromComponents(Types.VideoComponents(
            images=images[order], frame_rate=exact_rate(frame_rate), audio=None))
    return CombinedVideo(video, target.path, shown, fmt.kind == "av", fmt.animated_preview)
