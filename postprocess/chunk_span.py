"""Where a chunk of a long video lies, as the pure post-processing functions need it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class ChunkSpan:
    """The frames of this run: ``first``..``end``-1 of a ``total``-frame video, and where the next
    chunk's work starts (``next_anchor``; None on the last chunk) and whether it needs this
    chunk's last frame (``next_needs_frame``: the chunks do not overlap)."""

    first: int
    end: int
    total: int
    next_anchor: Optional[int] = None
    next_needs_frame: bool = False

    @classmethod
    def of(cls, chunk) -> ChunkSpan:
        """The span of a ``chunking.Chunk``."""
        if chunk.is_last:
            return cls(chunk.first, chunk.end, chunk.plan.total_frames)
        following = chunk.plan.chunk(chunk.index + 1)
        needs_frame = following.lead == 0
        anchor = following.first - 1 if needs_frame else following.first
        return cls(chunk.first, chunk.end, chunk.plan.total_frames, anchor, needs_frame)
