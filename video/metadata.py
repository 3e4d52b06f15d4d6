"""The workflow and other tags embedded in a video or image file, read back as Python values."""
from __future__ import annotations

import json

from .containers import open_input
from .webp import webp_exif_tags


def read_metadata(path: str, container=None) -> dict:
    """Embedded ``prompt``/``workflow`` (JSON decoded) and other tags, keys lower-cased.

    Reads container tags (mp4/mov/webm/mkv), the GIF comment, WebP EXIF in core's
    ``workflow:...`` form, and PNG text chunks. ``container``: the file already open in PyAV.
    """
    lower = path.lower()
    if lower.endswith(".png"):
        return _decode_tags(_png_text(path))
    if lower.endswith(".webp"):
        return _decode_tags(webp_exif_tags(path))
    if container is None:
        with open_input(path) as opened:
            return read_metadata(path, opened)
    tags = {k.lower(): v for k, v in container.metadata.items()}
    if lower.endswith(".gif") and "comment" in tags:
        try:
            bundle = json.loads(tags["comment"])
        except ValueError:
            bundle = None
        if isinstance(bundle, dict):
            tags.pop("comment")
            tags.update({k: json.dumps(v) for k, v in bundle.items()})
    return _decode_tags(tags)


def _decode_tags(tags: dict) -> dict:
    out = {}
    for key, value in tags.items():
        if isinstance(value, str) and value.startswith(("{", "[")):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key.lower()] = value
    return out


def _png_text(path: str) -> dict:
    from PIL import Image

    with Image.open(path) as image:
        return {k: v for k, v in image.info.items() if isinstance(v, str)}
