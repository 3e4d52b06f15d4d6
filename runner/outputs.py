"""The files a finished prompt produced, from its ``/history`` entry."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutputFile:
    node_id: str
    filename: str
    subfolder: str
    kind: str  # "output", "temp" or "input"


def output_files(history_entry: dict) -> list[OutputFile]:
    """Every file record (``{"filename", "subfolder", "type"}``) under the entry's outputs.

    Nodes report them under keys such as ``images``, ``gifs``, ``videos`` or ``audio``; any list
    of such records counts, other values (e.g. ``animated: [true]``, text) are not files.
    """
    files = []
    outputs = (history_entry or {}).get("outputs") or {}
    for node_id, node_output in outputs.items():
        if not isinstance(node_output, dict):
            continue
        for records in node_output.values():
            if not isinstance(records, list):
                continue
            for record in records:
                if isinstance(record, dict) and isinstance(record.get("filename"), str):
                    files.append(OutputFile(str(node_id), record["filename"], record.get("subfolder") or "", record.get("type") or "output"))
    return files


def local_path(record: OutputFile, folders: dict) -> Path | None:
    """Path of ``record`` on this machine given ``{"output": dir, "temp": dir, "input": dir}``."""
    base = folders.get(record.kind)
    if base is None:
        return None
    path = Path(base) / record.subfolder / record.filename
    # The server names files; never let a name climb out of its folder.
    try:
        path.resolve().relative_to(Path(base).resolve())
    except ValueError:
        return None
    return path
