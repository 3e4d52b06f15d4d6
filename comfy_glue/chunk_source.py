"""Load Video Frames (Chunked) inside ComfyUI: count the selected frames, find the chunk this run
handles in the job folder, and load only that chunk's frames."""
from __future__ import annotations

from typing import Optional

from ..chunking.job import job_folder, job_id, start_chunk
from ..chunking.plan import Chunk, ChunkPlan
from ..video import FrameSelection, exact_rate
from ..video.frame_count import chunk_selection, count_selected, seekable_selection
from .chunk_job import check_one_source, expected_index, jobs_root, writers_in
from .video_files import resolve_video_path, video_fingerprint


def selection_of(force_rate: float, frame_load_cap: int, skip_first_frames: int, select_every_nth: int) -> FrameSelection:
    return FrameSelection(force_rate=exact_rate(force_rate) if force_rate else None,
                          skip_first_frames=skip_first_frames, select_every_nth=select_every_nth,
                          frame_load_cap=frame_load_cap)


def narrow_to_chunk(selection: FrameSelection, chunk: Optional[Chunk], path: str) -> FrameSelection:
    """Load Video's selection of ``path`` cut to ``chunk``'s frames [first, end); unchanged without a chunk.

    Put in a form that seeks near the chunk instead of decoding from the start when the file
    allows it (same frames either way).
    """
    if chunk is None:
        return selection
    return seekable_selection(path, chunk_selection(selection, chunk.first, chunk.end))


def check_chunk_frames(video: str, loaded: int, chunk: Optional[Chunk]) -> None:
    """A clear error when a loader gave a chunk fewer (or more) frames than the chunk covers."""
    if chunk is not None and loaded != chunk.frames:
        raise ValueError(f"{video}: chunk {chunk.index + 1}/{chunk.plan.count} needs frames {chunk.first}.."
                         f"{chunk.end - 1} of the selected sequence ({chunk.frames} frames) but the file gave {loaded}; "
                         f"every video a chunked run loads must have at least {chunk.plan.total_frames} selected frames")


def plan_chunk(video: str, selection: FrameSelection, chunk_frames: int, overlap: int, prompt: dict,
               node_id: str) -> Optional[Chunk]:
    """The chunk this run of ``prompt`` handles: the first one of its job not done yet.

    None for a re-queued run whose chunk another run already did (see chunking.job.start_chunk).
    """
    path = resolve_video_path(video)
    total = count_selected(path, selection)
    if total < 1:
        raise ValueError(f"{path}: the selection keeps no frame (skip_first_frames={selection.skip_first_frames}, "
                         f"select_every_nth={selection.select_every_nth})")
    plan = ChunkPlan(total, chunk_frames, min(overlap, chunk_frames - 1))
    check_one_source(prompt, node_id)
    job = job_id(prompt, str(video_fingerprint(video)))
    return start_chunk(job_folder(jobs_root(), job), job, plan, writers_in(prompt), expected_index(prompt, node_id))
