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


def running_node_id() -> Optional[str]:
    """The id of the node ComfyUI is executing now (its execution context, the one progress bars
    use), or None outside a prompt. Read this way, no node needs a hidden input, so the nodes'
    declarations stay those saved workflows were made with."""
    try:
        from comfy_execution.utils import get_executing_context
    except ImportError:  # outside ComfyUI
        return None
    context = get_executing_context()
    return None if context is None else context.node_id


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
