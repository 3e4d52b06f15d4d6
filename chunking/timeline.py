"""Chunks of an output timeline: which output frames a chunk owns when a node changes the frame count.

Interpolate Frames and Retime turn the source frames into another list of frames. The whole
video's output is a list of source positions ``positions`` (output frame j shows source position
``positions[j]``: an integer is a source frame, a fraction lies between two). Output frame j
belongs to the chunk whose new frames hold ``key(j) = ceil(positions[j])`` (clamped to the last
source frame, for a loop's closing in-betweens). Positions never decrease, so every chunk owns one
contiguous run of output frames and the runs, chunk after chunk, are exactly the unchunked output.
A chunk needs at most one source frame before its new ones (``first_new - 1``, the left end of the
gap it owns) and, for a loop, frame 0.

The node hands its output frames on with an :class:`OutputChunk`: a ``Chunk`` whose frame numbers
count output frames. Its ``lead`` is 0 (a retiming node outputs only the frames it owns), so Video
Combine, which writes ``images[chunk.lead:]`` and finishes the file when ``chunk.is_last``, works
unchanged when wired to that chunk output.
"""
from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .plan import Chunk

_OWNER_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class OutputChunk(Chunk):
    """A chunk of a retimed output: frames ``[out_first, out_end)`` of ``out_total`` output frames.

    ``index``, ``job_id``, ``state_dir``, ``is_first`` and ``is_last`` are those of the source
    chunk; ``first``, ``first_new``, ``end``, ``lead``, ``frames`` and ``absolute`` count output
    frames. ``total_frames`` is the whole output's frame count. ``batch``: when the images handed
    on with this chunk hold more frames than it writes, how many (Chunk Seam Anchor passes every
    sampled frame and writes the first ``end - first``); 0 = exactly the frames it writes.
    ``audio_skip``: seconds from the source chunk's first loaded frame (where the chunked loader's
    audio starts) to the source moment the first written frame shows (negative for an in-between
    before the first loaded frame); Video Combine keeps the chunk's audio from there.
    """

    out_first: int = 0
    out_end: int = 0
    out_total: int = 0
    batch: int = 0
    audio_skip: Fraction = Fraction(0)

    @property
    def first_new(self) -> int:
        return self.out_first

    @property
    def first(self) -> int:
        return self.out_first

    @property
    def end(self) -> int:
        return self.out_end

    @property
    def total_frames(self) -> int:
        return self.out_total


def total_frames(chunk: Chunk) -> int:
    """Frames in the whole timeline ``chunk`` belongs to (source frames, or an OutputChunk's output frames)."""
    return chunk.total_frames if isinstance(chunk, OutputChunk) else chunk.plan.total_frames


def position_keys(positions: Sequence[float], source_frames: int) -> list[int]:
    """The source frame that decides the owner of each output frame: ``ceil(position)``, at most the last."""
    keys = [min(math.ceil(p), source_frames - 1) for p in positions]
    if any(b < a for a, b in zip(keys, keys[1:])):
        raise ValueError("output positions must not decrease to be cut into chunks")
    return keys


def owned_outputs(positions: Sequence[float], chunk: Chunk) -> range:
    """Indices of the output frames (of the whole video's ``positions``) that ``chunk`` produces."""
    keys = position_keys(positions, chunk.plan.total_frames)
    return range(bisect.bisect_left(keys, chunk.first_new), bisect.bisect_left(keys, chunk.end))


def output_chunk(chunk: Chunk, owned: range, positions: Sequence[float], source_rate: Fraction) -> OutputChunk:
    """The OutputChunk for ``owned`` output frames of the whole output ``positions``, numbered like ``chunk``'s run.

    ``source_rate``: the source frames' rate (exact), which places the chunk's audio: it starts
    under the source position of the first owned output frame.
    """
    skip = Fraction(0)
    if len(owned):
        shown = Fraction(positions[owned.start]).limit_denominator(1 << 20)
        skip = (shown - chunk.first) / source_rate
    return OutputChunk(chunk.plan, chunk.index, chunk.job_id, chunk.state_dir,
                       out_first=owned.start, out_end=owned.stop, out_total=len(positions), audio_skip=skip)


def audio_skip(chunk: Chunk, rate: Fraction) -> Fraction:
    """Seconds of a chunk's audio (which starts under its first loaded frame) before its first written frame.

    ``rate``: the rate of the frames Video Combine writes. A loader's chunk writes after its lead;
    an OutputChunk says where its first frame lies in the source.
    """
    if isinstance(chunk, OutputChunk):
        return chunk.audio_skip
    return Fraction(chunk.lead) / rate


def seam_write_chunk(chunk: Chunk) -> OutputChunk:
    """What Video Combine writes of a chunk whose overlap the next chunk regenerates and blends
    (Chunk Seam Anchor): from its first loaded frame (the blended overlap, lead included) to
    ``end - overlap`` (the next chunk writes the rest), numbered in source frames."""
    start = chunk.first
    stop = chunk.end if chunk.is_last else chunk.end - chunk.plan.overlap
    return OutputChunk(chunk.plan, chunk.index, chunk.job_id, chunk.state_dir,
                       out_first=start, out_end=stop, out_total=chunk.plan.total_frames, batch=chunk.frames)
