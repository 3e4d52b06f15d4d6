"""Chunked runs: a prompt whose Video Combine queued the next chunk names it in its history entry.

Video Combine (with a chunk connected) reports ``{"steadyframe_chunk": [record]}`` among its ui
outputs, ``record`` = ``{"job", "index", "count", "frames_done", "total_frames", "next_prompt_id"}``;
the runner follows ``next_prompt_id`` until the last chunk, so one command covers the chain.
"""
from __future__ import annotations

from typing import Optional

MARKER = "steadyframe_chunk"


def chain_records(history_entry: dict) -> list[dict]:
    """Every chunk record in a finished prompt's outputs (one per Video Combine with a chunk)."""
    records = []
    for node_output in ((history_entry or {}).get("outputs") or {}).values():
        if isinstance(node_output, dict):
            for record in node_output.get(MARKER) or []:
                if isinstance(record, dict) and isinstance(record.get("index"), int):
                    records.append(record)
    return records


def chain_step(history_entry: dict) -> Optional[dict]:
    """The chunk record of a finished prompt (the one that queued the next chunk, if any); None when not chunked."""
    records = chain_records(history_entry)
    if not records:
        return None
    queued = [r for r in records if r.get("next_prompt_id")]
    return queued[0] if queued else records[0]


def describe_step(record: dict) -> str:
    """``chunk 2/3 done: 16/20 frames``."""
    return (f"chunk {record['index'] + 1}/{record.get('count', '?')} done: "
            f"{record.get('frames_done', '?')}/{record.get('total_frames', '?')} frames")


def overall_label(record: dict) -> str:
    """Label of the running chunk after ``record``: ``[chunk 3/3, 16/20 frames done]``."""
    return (f"[chunk {record['index'] + 2}/{record.get('count', '?')}, "
            f"{record.get('frames_done', '?')}/{record.get('total_frames', '?')} frames done]")
