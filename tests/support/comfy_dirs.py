"""ComfyUI's input/output/temp folders pointed at scratch folders for one test (tier 2)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_comfy_folders(root: Path, extra: tuple[str, ...] = ()) -> Iterator[dict[str, Path]]:
    """Make ``root/input``, ``root/output``, ``root/temp`` (and ``extra`` folders), point ComfyUI at them
    through its own setters, and restore the previous folders afterwards."""
    import folder_paths

    saved = (folder_paths.get_input_directory(), folder_paths.get_output_directory(), folder_paths.get_temp_directory())
    dirs = {name: root / name for name in ("input", "output", "temp", *extra)}
    for folder in dirs.values():
        folder.mkdir()
    folder_paths.set_input_directory(str(dirs["input"]))
    folder_paths.set_output_directory(str(dirs["output"]))
    folder_paths.set_temp_directory(str(dirs["temp"]))
    try:
        yield dirs
    finally:
        folder_paths.set_input_directory(saved[0])
        folder_paths.set_output_directory(saved[1])
        folder_paths.set_temp_directory(saved[2])
