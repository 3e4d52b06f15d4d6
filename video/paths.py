"""Video file names and the path rule: which files count as videos, and which folders a name may reach.

The rule (one place for every loader): a name is resolved first (``..`` segments and symlinks
followed with ``os.path.realpath``), then it must lie inside one of the permitted roots; a path
that only *looks* inside a root but resolves elsewhere is refused.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

#: Extensions the loader lists from the input folder.
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi", ".gif", ".webp")


def list_videos(root: str) -> list[str]:
    """Video files under ``root`` (subfolders too, hidden files left out), as sorted
    ``/``-separated paths relative to ``root``."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.lower().endswith(VIDEO_EXTENSIONS) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(found)


def _check_name(name: str, what: str) -> None:
    if not name or "\x00" in name:
        raise ValueError(f"{what} {name!r} is empty or invalid")


def _is_within(path: str, root: str) -> bool:
    """Whether the resolved ``path`` is ``root`` or inside it (both already realpath'd)."""
    path, root = os.path.normcase(path), os.path.normcase(root)
    try:
        return os.path.commonpath((root, path)) == root
    except ValueError:  # different drives on Windows
        return False


def containing_root(path: str, roots: Sequence[str]) -> str | None:
    """The first of ``roots`` that ``path`` lies in once both are resolved (symlinks, ``..``), or None."""
    resolved = os.path.realpath(path)
    for root in roots:
        if root and _is_within(resolved, os.path.realpath(root)):
            return root
    return None


def _check_kind(path: str, name: str, expect: str, what: str) -> None:
    if expect == "file" and not os.path.isfile(path):
        raise ValueError(f"{what} {name!r} not found ({path} is not a file)")
    if expect == "folder" and not os.path.isdir(path):
        raise ValueError(f"{what} {name!r} not found ({path} is not a folder)")


def resolve_allowed(name: str, base_dir: str, allowed_roots: Sequence[str] = (), what: str = "file",
                    expect: str = "file", hint: str = "") -> str:
    """Resolved absolute path of ``name``, which must lie in ``base_dir`` or one of ``allowed_roots``.

    A relative ``name`` is taken inside ``base_dir``; an absolute one as it is. Symlinks and
    ``..`` are resolved before the check, so neither can lead out. ``expect``: "file",
    "folder" or "" (no existence check). ``hint`` ends the refusal message (how to allow more).
    """
    _check_name(name, what)
    path = os.path.realpath(os.path.join(base_dir, os.path.expanduser(name)))
    roots = [base_dir, *allowed_roots]
    if containing_root(path, roots) is None:
        listed = ", ".join(os.path.realpath(r) for r in roots if r)
        raise ValueError(f"{what} {name!r} resolves to {path}, outside the permitted folders ({listed}); refused"
                         + (f". {hint}" if hint else ""))
    _check_kind(path, name, expect, what)
    return path


def resolve_inside(name: str, base_dir: str) -> str:
    """Absolute path of ``name`` under ``base_dir``; refuses anything that escapes it.

    Absolute paths, ``..`` segments and symlinks that lead out of ``base_dir`` are
    refused with a ValueError, as is a missing file.
    """
    _check_name(name, "video file")
    if os.path.isabs(name):
        raise ValueError(f"video file {name!r}: absolute paths are refused; put the file in {base_dir}")
    return resolve_allowed(name, base_dir, what="video file")
