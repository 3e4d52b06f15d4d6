"""What a node hands from one chunk to the next, kept in files so a failed or cancelled chain resumes.

A node saves its state at the end of chunk k under ``<state_dir>/<owner>/after-<k>.safetensors``
and chunk k+1 loads it. Files are named by the chunk that wrote them, so running chunk k again
(after a failure or Cancel) reads the same input and overwrites the same output: nothing earlier is
lost and nothing is counted twice. Writes are atomic (a temporary file renamed over the target).

``tensors``: name -> torch tensor (moved to CPU). ``meta``: JSON-serialisable dict.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

from .plan import Chunk

_META_KEY = "steadyframe_state"
_OWNER = re.compile(r"^[A-Za-z0-9_.-]+$")


def _state_file(chunk: Chunk, owner: str, index: int) -> str:
    if not chunk.state_dir:
        raise ValueError("this chunk has no state folder (state_dir is empty): it was not made by a chunk control")
    if not _OWNER.match(owner) or owner in (".", ".."):
        raise ValueError(f"state owner {owner!r} must be letters, digits, '_', '-' or '.' (it names a folder)")
    return os.path.join(chunk.state_dir, owner, f"after-{index}.safetensors")


def save_state(chunk: Chunk, owner: str, tensors: dict[str, torch.Tensor], meta: Optional[dict[str, Any]] = None) -> str:
    """Store ``owner``'s state after ``chunk`` for the next chunk; returns the file written."""
    path = _state_file(chunk, owner, chunk.index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=os.path.dirname(path))
    os.close(handle)
    try:
        save_file(cpu, temporary, metadata={_META_KEY: json.dumps(meta or {})})
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def load_state(chunk: Chunk, owner: str) -> Optional[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """``(tensors, meta)`` that ``owner`` saved after the previous chunk; None for the first chunk.

    A missing file after the first chunk is an error that says which chunk to run again, rather
    than a silent restart that would put a seam in the video.
    """
    if chunk.is_first:
        return None
    path = _state_file(chunk, owner, chunk.index - 1)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{owner}: the state chunk {chunk.index - 1} left for chunk {chunk.index} is missing ({path}); "
            f"run the chain again from chunk {chunk.index - 1}")
    from safetensors import safe_open

    with safe_open(path, framework="pt") as handle:
        meta = json.loads((handle.metadata() or {}).get(_META_KEY, "{}"))
    return load_file(path), meta
