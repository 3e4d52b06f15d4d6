"""A chunked run's job folder: which chunks are done, so a failed or cancelled chain resumes.

Layout of ``<root>/<job_id>/`` (``root`` is ``output/steadyframe-chunks`` inside ComfyUI)::

    manifest.json          the plan, the writers and the chunks each writer finished
    state/                 per-node state handed between chunks (chunking.state)
    segments/<writer>/     what each writer (a Video Combine node) wrote per chunk

``job_id`` is a stable hash of the workflow (every node's class and inputs) and of the source
file's identity, so queueing the same workflow again finds the same folder and resumes at the
first chunk not done. A chunk is done when every writer has recorded it; the manifest is
rewritten atomically after every change, so an interrupted run never leaves it half written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Optional

from .plan import Chunk, ChunkPlan

MANIFEST = "manifest.json"
_VERSION = 1


def job_id(prompt: dict, source_identity: str = "") -> str:
    """16 hex digits naming the chain: the same for every chunk of one workflow on one source.

    ``prompt``: ComfyUI's API prompt. Only each node's ``class_type`` and ``inputs`` count:
    ComfyUI adds bookkeeping keys (``is_changed``) to the prompt it runs, and titles do not
    change the video. ``source_identity``: e.g. the source file's path, size and mtime, so a
    replaced file starts a new job.
    """
    canonical = {str(node_id): {"class_type": node.get("class_type"), "inputs": node.get("inputs", {})}
                 for node_id, node in prompt.items() if isinstance(node, dict)}
    text = json.dumps([canonical, source_identity], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def job_folder(root: str, job: str) -> str:
    return os.path.join(root, job)


def state_folder(folder: str) -> str:
    return os.path.join(folder, "state")


def segment_folder(folder: str, writer: str) -> str:
    """Where writer ``writer`` (a node id) keeps its per-chunk segments."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(writer))
    if safe in ("", ".", ".."):
        safe = "_"
    return os.path.join(folder, "segments", safe)


def read_manifest(folder: str) -> Optional[dict]:
    """The manifest of ``folder``, or None when there is none (a new job)."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable chunk manifest ({exc}); delete the folder to start the job again") from exc
    if not isinstance(manifest, dict) or manifest.get("version") != _VERSION:
        raise ValueError(f"{path}: not a SteadyFrame chunk manifest (version {_VERSION} expected)")
    return manifest


def write_manifest(folder: str, manifest: dict) -> None:
    """Replace the manifest atomically."""
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1, sort_keys=True)
        os.replace(temporary, os.path.join(folder, MANIFEST))
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _new_manifest(job: str, plan: ChunkPlan, writers: list[str]) -> dict:
    return {"version": _VERSION, "job": job, "total_frames": plan.total_frames, "chunk_frames": plan.chunk_frames,
            "overlap": plan.overlap, "count": plan.count, "writers": sorted(writers), "done": {},
            "complete": False, "outputs": {}}


def _matches(manifest: dict, plan: ChunkPlan) -> bool:
    return (manifest.get("total_frames"), manifest.get("chunk_frames"), manifest.get("overlap")) == (
        plan.total_frames, plan.chunk_frames, plan.overlap)


def chunk_done(manifest: dict, index: int) -> bool:
    """Whether every writer has recorded chunk ``index``."""
    finished = set(manifest.get("done", {}).get(str(index), []))
    return set(manifest.get("writers", [])) <= finished and bool(manifest.get("writers"))


def next_index(manifest: Optional[dict]) -> int:
    """The first chunk not done (0 for a new job)."""
    if manifest is None:
        return 0
    index = 0
    while index < manifest["count"] and chunk_done(manifest, index):
        index += 1
    return index


def start_chunk(folder: str, job: str, plan: ChunkPlan, writers: list[str], expect: Optional[int] = None) -> Optional[Chunk]:
    """The chunk this run handles: the first one not done.

    A new job, a job whose plan changed, or a finished job (queued again: the user asks for the
    video once more) starts at chunk 0 with an empty folder; otherwise the run resumes where
    the chain stopped. ``writers``: ids of the nodes that must record each chunk.

    ``expect``: the chunk a re-queued run was queued for. When that chunk is no longer the next
    one (the workflow was queued twice and another run got there first, or the job finished),
    returns None and changes nothing: the stale run must do nothing rather than start the job
    over.
    """
    if not writers:
        raise ValueError("a chunked run needs a Video Combine whose chunk input is connected: nothing would record "
                         "the chunks, so the chain could never move on")
    manifest = read_manifest(folder)
    if expect is not None and (manifest is None or manifest.get("complete") or not _matches(manifest, plan)
                               or next_index(manifest) != expect):
        return None
    if manifest is None or manifest.get("complete") or not _matches(manifest, plan) or manifest.get("job") != job:
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        manifest = _new_manifest(job, plan, writers)
    else:
        manifest["writers"] = sorted(set(manifest["writers"]) | set(writers))
    write_manifest(folder, manifest)
    return plan.chunk(next_index(manifest), job, state_folder(folder))


def record_done(chunk: Chunk, folder: str, writer: str, output: Optional[Any] = None) -> bool:
    """Record that ``writer`` finished ``chunk``; True when that completes the chunk (every writer done).

    ``output``: what the writer made of the whole video (on the last chunk), kept in the
    manifest. When the last chunk completes the job is marked complete.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        raise ValueError(f"{folder}: the chunk manifest vanished while chunk {chunk.index} ran")
    done = manifest.setdefault("done", {})
    writers_done = set(done.get(str(chunk.index), []))
    already = chunk_done(manifest, chunk.index)
    writers_done.add(str(writer))
    done[str(chunk.index)] = sorted(writers_done)
    if output is not None:
        manifest.setdefault("outputs", {})[str(writer)] = output
    completed = chunk_done(manifest, chunk.index) and not already
    if chunk.is_last and all(chunk_done(manifest, i) for i in range(manifest["count"])):
        manifest["complete"] = True
    write_manifest(folder, manifest)
    return completed
