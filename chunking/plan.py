"""Which frames each chunk of a long video covers.

A video of ``total_frames`` is cut into chunks of ``chunk_frames`` new frames. Every chunk after
the first also re-reads the ``overlap`` frames before its first new frame, so temporal work (flow,
interpolation, AnimateDiff's seam anchor) sees across the boundary; those lead frames belong to the
previous chunk and are never written twice. Frame numbers are absolute: frame 0 is the first frame
of the whole video, whatever chunk holds it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkPlan:
    """How a video of ``total_frames`` is cut: ``chunk_frames`` new frames per chunk, ``overlap`` re-read."""

    total_frames: int
    chunk_frames: int
    overlap: int = 0

    def __post_init__(self):
        if self.total_frames < 1:
            raise ValueError(f"a chunked video needs at least one frame, got total_frames={self.total_frames}")
        if self.chunk_frames < 1:
            raise ValueError(f"chunk_frames must be at least 1, got {self.chunk_frames}")
        if not 0 <= self.overlap < self.chunk_frames:
            raise ValueError(f"overlap must be 0 .. chunk_frames - 1 ({self.chunk_frames - 1}), got {self.overlap}")

    @property
    def count(self) -> int:
        """Number of chunks."""
        return -(-self.total_frames // self.chunk_frames)

    def chunk(self, index: int, job_id: str = "", state_dir: str = "") -> Chunk:
        """Chunk ``index`` (0-based) of this plan."""
        if not 0 <= index < self.count:
            raise ValueError(f"chunk index {index} is outside 0 .. {self.count - 1} "
                             f"({self.total_frames} frames in chunks of {self.chunk_frames})")
        return Chunk(self, index, job_id, state_dir)


@dataclass(frozen=True)
class Chunk:
    """One run's share of a long video (the value on a CHUNK socket).

    ``job_id`` names the whole chain (the same in every chunk of one video and workflow);
    ``state_dir`` is the folder where nodes keep what the next chunk needs ('' outside ComfyUI).
    """

    plan: ChunkPlan
    index: int
    job_id: str = ""
    state_dir: str = ""

    @property
    def first_new(self) -> int:
        """Absolute number of the first frame this chunk is the first to produce."""
        return self.index * self.plan.chunk_frames

    @property
    def end(self) -> int:
        """Absolute number one past this chunk's last frame."""
        return min(self.first_new + self.plan.chunk_frames, self.plan.total_frames)

    @property
    def first(self) -> int:
        """Absolute number of the first frame this chunk loads (its lead frames included)."""
        return max(0, self.first_new - self.plan.overlap)

    @property
    def lead(self) -> int:
        """Frames at the start of this chunk that the previous chunk already wrote."""
        return self.first_new - self.first

    @property
    def frames(self) -> int:
        """Frames this chunk loads: ``lead`` re-read ones, then the new ones."""
        return self.end - self.first

    @property
    def is_first(self) -> bool:
        return self.index == 0

    @property
    def is_last(self) -> bool:
        return self.index == self.plan.count - 1

    def absolute(self, local: int) -> int:
        """Absolute frame number of this chunk's frame ``local`` (0 = its first loaded frame)."""
        if not 0 <= local < self.frames:
            raise ValueError(f"frame {local} is outside chunk {self.index}'s 0 .. {self.frames - 1}")
        return self.first + local
