"""Names and neighbours of a node's chunk state (no ComfyUI import needed).

A node keeps what the next chunk needs under an owner name made of its kind and its id in the
workflow (``io.Hidden.unique_id``), so two Deflicker nodes in one graph never share state.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Optional

from ..chunking import Chunk, load_state, save_state

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def state_owner(kind: str, unique_id: object = None) -> str:
    """``"<kind>.<unique id>"`` (e.g. ``deflicker.12``; a subgraph id ``5:12`` becomes ``5-12``);
    just ``kind`` when the node runs outside a workflow (no id)."""
    if unique_id is None or str(unique_id) == "":
        return kind
    return f"{kind}.{_UNSAFE.sub('-', str(unique_id))}"


def hidden_unique_id(node_class) -> Optional[str]:
    """The running node's unique id from a V3 node class's ``hidden`` holder (None outside a prompt)."""
    hidden = getattr(node_class, "hidden", None)
    return getattr(hidden, "unique_id", None) if hidden is not None else None


def next_first(chunk: Chunk) -> Optional[int]:
    """First absolute frame the next chunk loads; None for the last chunk."""
    if chunk.is_last:
        return None
    return chunk.plan.chunk(chunk.index + 1).first


def run_with_state(chunk: Chunk, owner: str, step: Callable[[Optional[tuple]], tuple[Any, Any]]) -> Any:
    """Run one chunk's work with the state the previous chunk left, and keep what the next needs.

    step(loaded) gets ``(tensors, meta)`` (None on the first chunk) and returns ``(result, carry)``;
    a carry (anything with ``tensors`` and ``meta``; None on the last chunk) is saved after the
    work succeeded, so a failed or cancelled chunk leaves the previous state in place.
    """
    result, carry = step(load_state(chunk, owner))
    if carry is not None:
        save_state(chunk, owner, carry.tensors, carry.meta)
    return result
