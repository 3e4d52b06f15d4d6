"""A folder of frames as an IMAGE batch: natural order, a glob pattern, frame selection, alpha as a mask.

Pillow reads the files; 16-bit PNG and TIFF files (which Pillow would cut to 8 bits per
channel) are read through PyAV, which keeps all 16. Every file's header is read first, so a
folder of mixed sizes or a file that is no image is refused before any pixels are decoded, and
the result is filled in place: the peak is the result plus one decoded file. Only the selected
files are opened.

Masks follow ComfyUI's Load Image: ``mask = 1 - alpha`` (1 where the image is transparent),
zeros for files without alpha.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .paths import containing_root

#: Extensions the loader looks at (lower case), those Pillow can open in this install.
#: ".exr" is asked for but Pillow 13 has no OpenEXR reader, so it is normally absent.
IMAGE_EXTENSIONS = tuple(ext for ext in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".exr")
                         if ext in Image.registered_extensions())

_EXIF_ORIENTATION = 0x0112
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders the numbers inside names by value: frame2 < frame10, case ignored.

    ``re.split`` with a capturing group alternates text and digit runs, so positions hold the
    same type in every key; the name itself breaks ties (frame01 vs frame1).
    """
    parts = _DIGITS.split(name)
    return (tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(parts)), name)


def list_images(folder: str, pattern: str = "*") -> list[str]:
    """Image files directly in ``folder`` whose names match ``pattern``, in natural order.

    ``pattern``: a glob over file names (``*``, ``?``, ``[0-9]``), matched without regard to case;
    only files with an image extension count, hidden files never.
    """
    pattern = pattern.strip() or "*"
    if "/" in pattern or "\\" in pattern or pattern in (".", ".."):
        raise ValueError(f"pattern {pattern!r} must match file names inside the folder (no '/' or '\\\\')")
    if not os.path.isdir(folder):
        raise ValueError(f"image folder {folder} not found")
    wanted = pattern.casefold()
    names = [entry.name for entry in os.scandir(folder)
             if not entry.name.startswith(".") and entry.name.casefold().endswith(IMAGE_EXTENSIONS)
             and fnmatch.fnmatchcase(entry.name.casefold(), wanted) and entry.is_file()]
    return sorted(names, key=natural_key)


def select_images(names: Sequence[str], skip_first: int = 0, every_nth: int = 1, cap: int = 0) -> list[str]:
    """Drop ``skip_first`` names, keep one in ``every_nth`` of the rest, then at most ``cap`` (0 = all)."""
    if skip_first < 0 or every_nth < 1 or cap < 0:
        raise ValueError(f"skip_first_images must be >= 0 ({skip_first}), select_every_nth >= 1 ({every_nth}) "
                         f"and image_load_cap >= 0 ({cap})")
    kept = list(names[skip_first::every_nth])
    return kept[:cap] if cap else kept


def frame_range(names: Sequence[str], first: int, end: int) -> list[str]:
    """Frames ``[first, end)`` of the selected sequence (a chunk's share), refused when the folder has fewer."""
    if not 0 <= first < end <= len(names):
        raise ValueError(f"frames {first}..{end - 1} were asked for, but the selection holds {len(names)} images "
                         f"(frames 0..{len(names) - 1})")
    return list(names[first:end])


@dataclass(frozen=True)
class ImageHeader:
    """What a file says before its pixels are decoded: upright size, and whether it needs PyAV (16 bits)."""

    width: int
    height: int
    deep: bool
    orientation: int


@dataclass(frozen=True)
class LoadedImages:
    """``images``: (F, H, W, 3) float 0..1; ``mask``: (F, H, W) float, 1 - alpha (zeros without alpha);
    ``names``: the files, in order."""

    images: torch.Tensor
    mask: torch.Tensor
    names: list[str]


def _rawmode(image: Image.Image) -> str:
    """The layout Pillow reads the pixels in (``RGB;16B`` for a 16-bit PNG), '' when unknown."""
    tiles = getattr(image, "tile", None) or []
    if not tiles:
        return ""
    args = tiles[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _is_deep(image: Image.Image) -> bool:
    """16 bits per channel, which Pillow's RGB/RGBA modes would cut to 8."""
    return image.mode.startswith("I;16") or ";16" in _rawmode(image)


def _orientation(image: Image.Image) -> int:
    """EXIF orientation 1..8 from the header. A PNG whose eXIf chunk comes after the pixels (rare)
    counts as upright: Pillow would decode the whole file to find it."""
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    try:
        value = int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block is no reason to refuse the pixels
        return 1
    return value if 1 <= value <= 8 else 1


def read_header(path: str) -> ImageHeader:
    """Size as displayed (EXIF orientation applied) and bit depth of an image file, without decoding it."""
    try:
        with Image.open(path) as image:
            deep = _is_deep(image)  # before the EXIF look-up, which may load the pixels and drop the tiles
            width, height = image.size
            orientation = _orientation(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"image file {path} is not a readable image ({exc})") from exc
    if orientation >= 5:  # 5..8 turn the picture a quarter
        width, height = height, width
    return ImageHeader(width, height, deep, orientation)


def orient_array(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` (H, W, C) turned upright for EXIF ``orientation`` 1..8, as ``ImageOps.exif_transpose``
    turns an image. One place for both decoders (the 16-bit files never become Pillow images), with
    the orientation the header pass read, so the size checked there is the size decoded."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return np.rot90(array, 2).transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _decode_8bit(path: str, orientation: int) -> tuple[np.ndarray, float]:
    """(H, W, 3 or 4) pixels upright (uint8, or float32 for 32-bit greys), and the value of full scale."""
    with Image.open(path) as image:
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        if image.mode in ("I", "F"):
            # 32-bit integer or float greys: ComfyUI's Load Image scales I by 1/255; floats are 0..1
            grey = np.asarray(image, dtype=np.float32)
            scale = 1.0 if image.mode == "F" else 255.0
            return orient_array(np.repeat(grey[..., None], 3, axis=2), orientation), scale
        converted = image.convert("RGBA" if has_alpha else "RGB")
        return orient_array(np.asarray(converted), orientation), 255.0


def _decode_16bit(path: str, orientation: int) -> tuple[np.ndarray, float]:
    """(H, W, 4) uint16 pixels of a 16-bit PNG/TIFF through FFmpeg's decoders, upright."""
    import av

    with av.open(path) as container:
        frame = next(container.decode(video=0))
        pixels = frame.to_ndarray(format="rgba64le")
    return orient_array(pixels, orientation), 65535.0


def load_images(folder: str, names: Sequence[str], on_image: Callable[[int, int], None] | None = None,
                allowed_roots: Sequence[str] | None = None) -> LoadedImages:
    """Decode ``names`` (files in ``folder``) into one batch; all must have one size.

    ``on_image(done, total)`` runs after each file (progress, Cancel). ``allowed_roots``: when
    given, every file must resolve (symlinks followed) inside one of them.
    """
    if not names:
        raise ValueError(f"no images selected in {folder}")
    paths = [os.path.join(folder, name) for name in names]
    if allowed_roots is not None:
        for name, path in zip(names, paths):
            if containing_root(path, allowed_roots) is None:
                raise ValueError(f"image {name!r} in {folder} resolves to {os.path.realpath(path)}, "
                                 "outside the permitted folders; refused")
    headers = [read_header(path) for path in paths]
    first = headers[0]
    for name, header in zip(names, headers):
        if (header.width, header.height) != (first.width, first.height):
            raise ValueError(f"image {name!r} is {header.width}x{header.height} but {names[0]!r} is "
                             f"{first.width}x{first.height}; every image of {folder} must have one size "
                             "(resize them first)")
    count = len(names)
    images = torch.empty((count, first.height, first.width, 3), dtype=torch.float32)
    mask = torch.zeros((count, first.height, first.width), dtype=torch.float32)
    for index, (name, path, header) in enumerate(zip(names, paths, headers)):
        try:
            pixels, scale = _decode_16bit(path, header.orientation) if header.deep else _decode_8bit(path, header.orientation)
        except (OSError, SyntaxError, ValueError, StopIteration) as exc:
            raise ValueError(f"image file {path} could not be decoded ({str(exc) or type(exc).__name__})") from exc
        if pixels.shape[:2] != (first.height, first.width):  # a header that lied about the size
            raise ValueError(f"image {name!r} decodes to {pixels.shape[1]}x{pixels.shape[0]}, "
                             f"not the {first.width}x{first.height} its header gives")
        values = torch.from_numpy(np.array(pixels, dtype=np.float32))
        images[index] = (values[..., :3] / scale).clamp_(0.0, 1.0)
        if pixels.shape[2] == 4:
            mask[index] = 1.0 - values[..., 3] / scale
        if on_image is not None:
            on_image(index + 1, count)
    return LoadedImages(images, mask, list(names))


def load_image_folder(folder: str, pattern: str = "*", image_load_cap: int = 0, skip_first_images: int = 0,
                      select_every_nth: int = 1, first: int | None = None, end: int | None = None,
                      on_image: Callable[[int, int], None] | None = None,
                      allowed_roots: Sequence[str] | None = None) -> LoadedImages:
    """Load Images (Folder): list, select, then decode only the selected files.

    ``first``/``end``: absolute frames ``[first, end)`` of the selection (a chunk of a long
    sequence); None loads the whole selection.
    """
    listed = list_images(folder, pattern)
    if not listed:
        raise ValueError(f"no image files matching {pattern!r} in {folder} "
                         f"(extensions read: {', '.join(IMAGE_EXTENSIONS)})")
    names = select_images(listed, skip_first_images, select_every_nth, image_load_cap)
    if not names:
        raise ValueError(f"{folder} has {len(listed)} images matching {pattern!r}, but skip_first_images="
                         f"{skip_first_images} leaves none")
    if first is not None and end is not None:
        names = frame_range(names, first, end)
    return load_images(folder, names, on_image, allowed_roots)


def folder_fingerprint(folder: str, pattern: str = "*") -> str:
    """Changes whenever a matching file is added, removed, renamed or rewritten (names, sizes, mtimes)."""
    digest = hashlib.sha256(folder.encode())
    for name in list_images(folder, pattern):
        stat = os.stat(os.path.join(folder, name))
        digest.update(f"\n{name}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return digest.hexdigest()
