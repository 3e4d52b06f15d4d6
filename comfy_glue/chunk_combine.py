"""Video Combine with a chunk: append the chunk to the job's segments, join them on the last chunk,
and queue the next chunk.

Order matters for resuming: a segment is written (atomically) before its chunk is recorded done,
and the last chunk is recorded only after the joined file exists, so a failure or Cancel at any
point leaves the manifest saying exactly which chunk to run again.
"""
from __future__ import annotations

import logging
import os
import shutil
from fractions import Fraction
from typing import Any, Optional

import torch

from ..chunking.job import read_manifest, record_done, segment_folder
from ..chunking.plan import Chunk
from ..chunking.timeline import OutputChunk, audio_skip, total_frames
from ..video import exact_rate, output_format
from ..video.segments import (
    audio_path,
    check_chunkable,
    join_segments,
    new_frames,
    publish_folder,
    save_segment_audio,
    segment_frame_counts,
    segment_path,
    write_png_frames,
    write_segment,
)
from .chunk_job import MARKER, folder_of, queue_next
from .runtime import comfy_progress_bar, throw_if_interrupted
from .video_combine import CombinedVideo
from .video_files import save_target

log = logging.getLogger(__name__)


def combine_chunk(images: torch.Tensor, frame_rate: float, loop_count: int, filename_prefix: str, format: str,
                  pingpong: bool, save_output: bool, crf: int, pix_fmt: str, audio: Optional[dict],
                  prompt: Optional[dict], extra_pnginfo: Optional[dict], chunk: Chunk,
                  unique_id: Optional[str]) -> tuple[CombinedVideo, dict[str, Any]]:
    """Write ``chunk``'s new frames of ``images`` (F, H, W, 3 float 0..1); on the last chunk, the whole video.

    Returns what Video Combine shows (nothing until the last chunk, then the final file) and the
    chain record for the ui (job, chunk, frames done, the next chunk's prompt id).
    """
    from comfy.cli_args import args
    from comfy_api.v0_0_2 import InputImpl, Types

    fmt = output_format(format)
    check_chunkable(fmt, pingpong, loop_count)
    if crf > fmt.crf_range[1]:
        crf = fmt.crf_range[1]
    where = f"Video Combine, chunk {chunk.index + 1}/{chunk.plan.count}: "
    frames = new_frames(images, chunk.lead, chunk.end - chunk.first_new, where, getattr(chunk, "batch", 0))
    folder = folder_of(chunk)
    writer = str(unique_id or "combine")
    segments = segment_folder(folder, writer)
    rate = exact_rate(frame_rate)
    metadata: dict[str, Any] = {}
    if not args.disable_metadata:
        if prompt is not None:
            metadata["prompt"] = prompt
        if extra_pnginfo:
            metadata.update(extra_pnginfo)

    total = int(frames.shape[0])
    progress = comfy_progress_bar(total)

    def on_frame(count):
        throw_if_interrupted()
        progress.update_absolute(count, total)

    if fmt.kind == "png":
        write_png_frames(frames, os.path.join(segments, "frames"), chunk.first_new, metadata, on_frame)
    else:
        write_segment(frames, segments, chunk.index, format, rate, crf, pix_fmt, on_frame)
        if audio is not None:
            save_segment_audio(audio, segments, chunk.index, audio_skip(chunk, rate), Fraction(chunk.first_new) / rate)
        elif os.path.exists(audio_path(segments, chunk.index)):  # a rerun without audio
            os.remove(audio_path(segments, chunk.index))

    saved = CombinedVideo(InputImpl.VideoFromComponents(Types.VideoComponents(images=frames, frame_rate=rate, audio=None)),
                          "", [], fmt.kind == "av", fmt.animated_preview)
    output = None
    if chunk.is_last:
        saved = _join(chunk, segments, fmt, format, rate, loop_count, filename_prefix, save_output, metadata,
                      images.shape[2], images.shape[1], saved)
        output = saved.path
    completed = record_done(chunk, folder, writer, output)
    record: dict[str, Any] = {"job": chunk.job_id, "index": chunk.index, "count": chunk.plan.count,
                              "frames_done": chunk.end, "total_frames": total_frames(chunk), "next_prompt_id": None}
    if completed and not chunk.is_last and prompt is not None:
        marker = {"job": chunk.job_id, "index": chunk.index + 1, "count": chunk.plan.count}
        record["next_prompt_id"] = queue_next(prompt, extra_pnginfo, marker)
    if chunk.is_last:
        shutil.rmtree(segments, ignore_errors=True)
        manifest = read_manifest(folder)
        if manifest and manifest.get("complete"):
            shutil.rmtree(os.path.join(folder, "segments"), ignore_errors=True)
    return saved, {MARKER: [record]}


def _join(chunk: Chunk, segments: str, fmt, format: str, rate: Fraction, loop_count: int, filename_prefix: str,
          save_output: bool, metadata: dict, width: int, height: int, last: CombinedVideo) -> CombinedVideo:
    from comfy_api.v0_0_2 import InputImpl

    target = save_target(filename_prefix, save_output, width, height, fmt)
    if fmt.kind == "png":
        files = publish_folder(os.path.join(segments, "frames"), target.path)
        sequence_folder = f"{target.subfolder}/{target.stem}" if target.subfolder else target.stem
        shown = [(os.path.basename(f), sequence_folder, target.folder_type) for f in files]
        # FFmpeg cannot read a folder of PNGs back, and the whole video is never in memory:
        # the VIDEO output keeps this chunk's frames.
        return CombinedVideo(last.video, target.path, shown, False, False)
    indices = range(chunk.plan.count)
    paths = [segment_path(segments, i, fmt) for i in indices]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"Video Combine: segment {missing[0]} is missing; delete {os.path.dirname(segments)} "
                                f"and queue the workflow again")
    counts = _segment_counts(chunk, paths)
    audio_files = [audio_path(segments, i) for i in indices if os.path.exists(audio_path(segments, i))]
    if audio_files and len(audio_files) != len(paths):
        raise ValueError("Video Combine: some chunks had audio and some did not; connect the audio for every chunk")
    join_segments(paths, counts, target.path, format, rate, loop_count, audio_files, metadata)
    shown = [(os.path.basename(target.path), target.subfolder, target.folder_type)]
    return CombinedVideo(InputImpl.VideoFromFile(target.path), target.path, shown, True, fmt.animated_preview)


def _segment_counts(chunk: Chunk, paths: list[str]) -> list[int]:
    """Frames in each segment as written (a node before Video Combine may have changed the count).

    Segments from an older version of the pack have no count beside them: for a source chunk
    (frames written = the plan's new frames) the plan says it; an OutputChunk's cannot be known.
    """
    if isinstance(chunk, OutputChunk) or all(os.path.exists(p + ".frames") for p in paths):
        return segment_frame_counts(paths)
    plan = chunk.plan
    return [plan.chunk(i).end - plan.chunk(i).first_new for i in range(plan.count)]
