"""One output video written a chunk at a time: a segment per chunk, joined without re-encoding.

Chunk k's frames arrive as ``images`` (F, H, W, 3) float 0..1 whose first ``lead`` frames the
previous chunk already wrote; only the rest are encoded. Video formats (mp4, webm, mkv, mov)
get one file per chunk, each starting on a keyframe, so :func:`join_segments` copies their
packets into one file with timestamps shifted by the frames before them (the overlap written
once, nothing re-encoded). The audio under each chunk's new frames is kept as raw samples and
encoded once while joining, so it plays without gaps at the seams. A PNG sequence writes its
frames straight into a staging folder under their absolute numbers and renames the folder at
the end. GIF and WebP are refused: they cannot be appended without holding every frame.

Every file is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import av
import numpy as np
import torch

from .audio import AudioMuxer
from .chunks import uint8_chunks
from .encode import encode_video
from .formats import OutputFormat, output_format


def check_chunkable(fmt: OutputFormat, pingpong: bool, loop_count: int) -> None:
    """A ValueError when ``fmt`` and the options cannot be written a chunk at a time."""
    if fmt.kind in ("gif", "webp"):
        raise ValueError(f"{fmt.name} cannot be written in chunks (the whole animation is encoded at once); "
                         f"choose a video format or png-sequence for a chunked run")
    if pingpong:
        raise ValueError("pingpong needs every frame at once; turn it off for a chunked run")
    if fmt.kind == "png" and loop_count:
        raise ValueError("loop_count must be 0 for a chunked png-sequence")


def new_frames(images: torch.Tensor, lead: int, new: int, where: str = "", carried: int = 0) -> torch.Tensor:
    """The frames a chunk adds: ``images`` holds either ``lead + new`` frames or only the ``new`` ones.

    ``carried``: a longer batch the chunk also accepts, of which it writes frames ``lead .. lead +
    new - 1`` (Chunk Seam Anchor hands on every sampled frame but writes only up to ``end -
    overlap``: the next chunk writes the rest, blended).
    """
    count = int(images.shape[0])
    if count == lead + new:
        return images[lead:]
    if count == new:
        return images
    if carried > lead + new and count == carried:
        return images[lead:lead + new]
    also = f" or {carried}" if carried > lead + new else ""
    raise ValueError(f"{where}expected {lead + new} frames ({lead} overlap + {new} new){also} or the {new} new ones "
                     f"for this chunk, got {count}; a node that changes the frame count must trim the overlap itself")


def segment_path(folder: str, index: int, fmt: OutputFormat) -> str:
    return os.path.join(folder, f"segment-{index:05}.{fmt.extension}")


def audio_path(folder: str, index: int) -> str:
    return os.path.join(folder, f"audio-{index:05}.npy")


def write_segment(images: torch.Tensor, folder: str, index: int, format_name: str, frame_rate, crf: int = 19,
                  pix_fmt: str = "auto", on_frame: Optional[Callable[[int], None]] = None) -> str:
    """Encode chunk ``index``'s new frames (F, H, W, 3) as ``folder/segment-<index>.<ext>``; returns its path.

    Writing the same chunk again (after a failure) replaces the segment.
    """
    fmt = output_format(format_name)
    if fmt.kind != "av":
        raise ValueError(f"{format_name}: only video formats are written as segments")
    os.makedirs(folder, exist_ok=True)
    path = segment_path(folder, index, fmt)
    count_file = path + ".frames"
    if os.path.exists(count_file):  # a rewrite: no stale count may outlive the old segment
        os.remove(count_file)
    encode_video(images, path, format_name, frame_rate, crf=crf, pix_fmt=pix_fmt, on_frame=on_frame)
    _write_text(count_file, str(int(images.shape[0])))
    return path


def _write_text(path: str, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def segment_frame_counts(paths: Sequence[str]) -> list[int]:
    """Frames in each segment, as :func:`write_segment` recorded them beside it (``<segment>.frames``).

    The join needs them: a node that changes the frame count (Interpolate, Retime) or writes
    less than it loads (Chunk Seam Anchor) gives chunks a count the chunk plan does not say.
    """
    counts = []
    for path in paths:
        try:
            with open(path + ".frames", encoding="utf-8") as handle:
                text = handle.read().strip()
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: its frame count ({os.path.basename(path)}.frames) is missing; the "
                                    f"segment was not written completely, run its chunk again") from None
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"{path}.frames: expected a positive frame count, got {text!r}")
        counts.append(int(text))
    return counts


def save_segment_audio(audio: dict, folder: str, index: int, skip_seconds: Fraction, start_seconds: Fraction) -> str:
    """Keep chunk ``index``'s audio from under its first written frame on, placed on the output's timeline.

    ``audio``: core AUDIO ``{"waveform": (1, C, S), "sample_rate"}`` lying under the chunk's loaded
    frames (as the chunked loaders give it). ``skip_seconds``: from the audio's first sample to the
    source moment the chunk's first written frame shows (the overlap; negative when that frame lies
    before the audio, e.g. an in-between a chunk without overlap owns); ``start_seconds``: that
    frame's time in the output. Everything from there to the audio's end is kept (the next chunk's
    audio takes over where it starts, so no sample is missing at a seam); stored as ``(C, S)``
    float32 ``.npy`` with its rate and start beside it.
    """
    waveform = audio["waveform"]
    if waveform.ndim == 3:
        waveform = waveform[0]
    rate = int(audio["sample_rate"])
    samples = waveform.detach().to("cpu", torch.float32).numpy()
    skip = Fraction(skip_seconds)
    part = samples[:, max(0, int(round(skip * rate))):]
    start = Fraction(start_seconds) + max(Fraction(0), -skip)
    os.makedirs(folder, exist_ok=True)
    path = audio_path(folder, index)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
    os.close(handle)
    sidecars = {".rate": str(rate), ".start": str(start)}
    try:
        np.save(temporary, np.ascontiguousarray(part), allow_pickle=False)
        for suffix, text in sidecars.items():
            with open(temporary + suffix, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary + suffix, path + suffix)
        os.replace(temporary, path)
    except BaseException:
        for leftover in [temporary] + [temporary + suffix for suffix in sidecars]:
            if os.path.exists(leftover):
                os.remove(leftover)
        raise
    return path


def _read_sidecar(path: str, suffix: str, parse):
    try:
        with open(path + suffix, encoding="utf-8") as handle:
            text = handle.read().strip()
        return parse(text)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}{suffix} is missing; the chunk's audio was not saved completely, run its chunk "
                                f"again") from None
    except ValueError:
        raise ValueError(f"{path}{suffix}: expected a number, got {text!r}") from None


def _load_segment_audio(paths: Sequence[str]) -> Optional[dict]:
    """The chunks' audio on one timeline as a core AUDIO dict; None when no chunk had audio.

    Each chunk's samples go where its ``.start`` says; a later chunk's overwrite an earlier one's
    from its own start on, and time no chunk covers stays silent.
    """
    placed, rate, channels, length = [], None, 1, 0
    for path in paths:
        this_rate = _read_sidecar(path, ".rate", int)
        if rate is not None and this_rate != rate:
            raise ValueError(f"{path}: audio at {this_rate} Hz after chunks at {rate} Hz; every chunk needs the same rate")
        rate = this_rate
        part = np.load(path, mmap_mode="r", allow_pickle=False)  # only the shape until it is copied
        offset = int(round(_read_sidecar(path, ".start", Fraction) * rate))
        placed.append((offset, part))
        channels = max(channels, part.shape[0])
        length = max(length, offset + part.shape[1])
    if not placed:
        return None
    track = np.zeros((channels, length), dtype=np.float32)
    for offset, part in placed:
        if part.shape[0] != channels:  # fewer channels than another chunk: its first one on every channel
            part = part[:1]
        track[:, offset:offset + part.shape[1]] = part
    return {"waveform": torch.from_numpy(track).unsqueeze(0), "sample_rate": rate}


@dataclass(frozen=True)
class JoinResult:
    path: str
    frame_count: int


def join_segments(segments: Sequence[str], frame_counts: Sequence[int], path: str, format_name: str, frame_rate,
                  loop_count: int = 0, audio_files: Sequence[str] = (), metadata: Optional[dict] = None) -> JoinResult:
    """Copy the segments' video packets into one file at ``path`` (atomically), without re-encoding.

    ``frame_counts[i]``: frames in ``segments[i]``; segment i's timestamps are shifted by the
    frames before it, so the joined file has exactly ``sum(frame_counts)`` frames at
    ``frame_rate``. ``loop_count``: extra plays, as Video Combine writes them (the segments are
    copied again). ``audio_files``: the chunks' audio (:func:`save_segment_audio`), encoded
    once under the whole video, padded with silence to its length.
    """
    fmt = output_format(format_name)
    if fmt.kind != "av":
        raise ValueError(f"{format_name}: only video formats are joined from segments")
    if not segments or len(segments) != len(frame_counts):
        raise ValueError(f"{len(segments)} segments with {len(frame_counts)} frame counts")
    rate = Fraction(frame_rate)
    plays = loop_count + 1
    total = sum(frame_counts) * plays
    audio = _load_segment_audio(audio_files) if audio_files else None
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.partial")
    options = {"movflags": "use_metadata_tags"} if fmt.container == "mp4" else {}
    try:
        with av.open(segments[0]) as first, av.open(partial, mode="w", format=fmt.container, options=options) as out:
            for key, value in (metadata or {}).items():
                out.metadata[key] = value if isinstance(value, str) else json.dumps(value)
            template = first.streams.video[0]
            stream = out.add_stream_from_template(template)
            muxer = None
            if audio is not None and fmt.audio_codec:
                muxer = AudioMuxer(out, fmt.audio_codec, audio, Fraction(total) / rate)
            before = 0
            for _ in range(plays):
                for segment, frames in zip(segments, frame_counts):
                    _copy_packets(segment, template, out, stream, Fraction(before) / rate)
                    before += frames
                    if muxer is not None:
                        muxer.write_until(Fraction(before) / rate)
            if muxer is not None:
                muxer.finish()
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return JoinResult(path, total)


def _copy_packets(segment: str, template, out, stream, offset: Fraction) -> None:
    with av.open(segment) as source:
        video = source.streams.video[0]
        if (video.codec_context.name, video.codec_context.width, video.codec_context.height) != (
                template.codec_context.name, template.codec_context.width, template.codec_context.height):
            raise ValueError(f"{segment}: {video.codec_context.name} {video.codec_context.width}x"
                             f"{video.codec_context.height} differs from the first segment's "
                             f"{template.codec_context.name} {template.codec_context.width}x{template.codec_context.height}; "
                             f"every chunk must give frames of one size")
        time_base = Fraction(video.time_base)
        shift = int(round(offset / time_base))
        for packet in source.demux(video):
            if packet.size == 0:
                continue
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            packet.stream = stream
            packet.time_base = video.time_base
            out.mux(packet)


# --- PNG sequences ----------------------------------------------------------------------------

def write_png_frames(images: torch.Tensor, folder: str, first_number: int, metadata: Optional[dict] = None,
                     on_frame: Optional[Callable[[int], None]] = None) -> list[str]:
    """Write (F, H, W, 3) frames as ``frame_<n>.png`` with n = ``first_number`` + 1 ... (absolute, 1-based).

    Each file is written under a temporary name and renamed. ``metadata`` goes into the frame
    numbered 1 only (the workflow, as in an unchunked sequence).
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    os.makedirs(folder, exist_ok=True)
    written = []
    for n, array in enumerate(uint8_chunks(images, list(range(int(images.shape[0]))))):
        number = first_number + n + 1
        info = None
        if number == 1 and metadata:
            info = PngInfo()
            for key, value in metadata.items():
                info.add_text(key, value if isinstance(value, str) else json.dumps(value))
        name = os.path.join(folder, f"frame_{number:05}.png")
        temporary = os.path.join(folder, f".frame_{number:05}.png.partial")
        Image.fromarray(array).save(temporary, format="PNG", pnginfo=info, compress_level=4)
        os.replace(temporary, name)
        written.append(name)
        if on_frame is not None:
            on_frame(n + 1)
    return written


def publish_folder(staging: str, path: str) -> list[str]:
    """Rename the finished PNG staging folder to ``path`` (one atomic step); returns its frame files."""
    if os.path.exists(path):
        raise ValueError(f"{path} already exists; a PNG sequence is written into a new folder")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.replace(staging, path)
    except OSError:  # another file system: copy under a hidden name, then rename
        hidden = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.partial")
        shutil.copytree(staging, hidden)
        os.replace(hidden, path)
        shutil.rmtree(staging)
    return sorted(os.path.join(path, name) for name in os.listdir(path) if name.endswith(".png"))
